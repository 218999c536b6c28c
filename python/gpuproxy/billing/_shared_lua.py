"""Lua for the shared (Redis) spend windows; see shared_windows.py for the layout.

Amounts travel as decimal strings and are only ever added with HINCRBY, so values never
pass through Lua's 14-digit number formatting; sums are compared as doubles (exact below
2^53 micro-dollars, about 9 billion dollars).
"""

from __future__ import annotations

__all__ = ["ADJUST_LUA", "RESERVE_LUA", "RESET_LUA", "STATUS_LUA"]

_COMMON = """
local key = KEYS[1]
local function prune(k, now, w, g)
  local s = tonumber(redis.call('HGET', key, 's' .. k) or '0')
  local lo = redis.call('HGET', key, 'lo' .. k)
  if not lo then return s end
  lo = tonumber(lo)
  local hi = tonumber(redis.call('HGET', key, 'hi' .. k))
  local keep = math.floor((now - w) / g)
  if lo >= keep then return s end
  for i = lo, math.min(hi, keep - 1) do
    local f = 'b' .. k .. ':' .. i
    local v = redis.call('HGET', key, f)
    if v then
      if tonumber(v) > 0 then redis.call('HINCRBY', key, 's' .. k, '-' .. v) end
      redis.call('HDEL', key, f)
    end
  end
  if hi < keep then
    redis.call('HDEL', key, 'lo' .. k, 'hi' .. k, 's' .. k)
    return 0
  end
  redis.call('HSET', key, 'lo' .. k, keep)
  return tonumber(redis.call('HGET', key, 's' .. k) or '0')
end
local function add(k, now, g, amount)
  local idx = math.floor(now / g)
  redis.call('HINCRBY', key, 'b' .. k .. ':' .. idx, amount)
  redis.call('HINCRBY', key, 's' .. k, amount)
  local lo = redis.call('HGET', key, 'lo' .. k)
  if (not lo) or tonumber(lo) > idx then redis.call('HSET', key, 'lo' .. k, idx) end
  local hi = redis.call('HGET', key, 'hi' .. k)
  if (not hi) or tonumber(hi) < idx then redis.call('HSET', key, 'hi' .. k, idx) end
end
"""

# ARGV: now, amount, force, ttl_ms, n, then n x (window_ms, width_ms, limit or -1).
# Returns {ok, epoch, spent_0 .. spent_n-1} (spent before this amount).
RESERVE_LUA = (
    _COMMON
    + """
local now = tonumber(ARGV[1])
local amount = ARGV[2]
local n = tonumber(ARGV[5])
local out = {0, tonumber(redis.call('HGET', key, 'ep') or '0')}
local ok = 1
for k = 0, n - 1 do
  local s = prune(k, now, tonumber(ARGV[6 + 3 * k]), tonumber(ARGV[7 + 3 * k]))
  local lim = tonumber(ARGV[8 + 3 * k])
  out[k + 3] = s
  if lim >= 0 and s + tonumber(amount) > lim then ok = 0 end
end
if (ok == 1 or ARGV[3] == '1') and tonumber(amount) > 0 then
  for k = 0, n - 1 do add(k, now, tonumber(ARGV[7 + 3 * k]), amount) end
end
out[1] = ok
redis.call('PEXPIRE', key, ARGV[4])
return out
"""
)

# ARGV: now, epoch, ttl_ms, n, reserved_at, give_back (>= 0), extra (>= 0),
# then n x (window_ms, width_ms). give_back leaves the reservation's bucket (if the
# reservation is still there: same epoch, bucket not aged out); extra lands now.
ADJUST_LUA = (
    _COMMON
    + """
local now = tonumber(ARGV[1])
local same_epoch = tonumber(redis.call('HGET', key, 'ep') or '0') == tonumber(ARGV[2])
local n = tonumber(ARGV[4])
local at = tonumber(ARGV[5])
local give_back = ARGV[6]
local extra = ARGV[7]
for k = 0, n - 1 do
  local w = tonumber(ARGV[8 + 2 * k])
  local g = tonumber(ARGV[9 + 2 * k])
  prune(k, now, w, g)
  if same_epoch and tonumber(give_back) > 0 then
    local f = 'b' .. k .. ':' .. math.floor(at / g)
    local v = redis.call('HGET', key, f)
    if v and tonumber(v) > 0 then
      local take = give_back
      if tonumber(v) < tonumber(give_back) then take = v end
      redis.call('HINCRBY', key, f, '-' .. take)
      redis.call('HINCRBY', key, 's' .. k, '-' .. take)
    end
  end
  if tonumber(extra) > 0 then add(k, now, g, extra) end
end
redis.call('PEXPIRE', key, ARGV[3])
return 1
"""
)

# ARGV: now, n, then n x (window_ms, width_ms). Returns {epoch, spent_0 .. spent_n-1}.
STATUS_LUA = (
    _COMMON
    + """
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local out = {tonumber(redis.call('HGET', key, 'ep') or '0')}
for k = 0, n - 1 do
  out[k + 2] = prune(k, now, tonumber(ARGV[3 + 2 * k]), tonumber(ARGV[4 + 2 * k]))
end
return out
"""
)

# Forget the spending; bump the epoch so adjustments of older reservations are ignored.
RESET_LUA = """
local key = KEYS[1]
local ep = tonumber(redis.call('HGET', key, 'ep') or '0') + 1
redis.call('DEL', key)
redis.call('HSET', key, 'ep', ep)
redis.call('PEXPIRE', key, ARGV[1])
return ep
"""
