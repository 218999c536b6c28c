"""Python twins of the shared-window Lua scripts, for the in-memory key-value store.

Same layout as the Lua (one hash per account: `s{k}` sums, `lo{k}`/`hi{k}` live bucket
range, `b{k}:{i}` buckets, `ep` epoch), kept as a JSON object under the key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gpuproxy.storage.kv import LocalState

__all__ = ["adjust_twin", "reserve_twin", "reset_twin", "status_twin"]

Hash = dict[str, int]


def _load(state: LocalState, key: str) -> Hash:
    raw = state.get_now(key)
    return {} if raw is None else {k: int(v) for k, v in json.loads(raw).items()}


def _save(state: LocalState, key: str, data: Hash, ttl_ms: int) -> None:
    state.set_now(key, json.dumps(data).encode(), ttl_ms / 1000)


def _prune(h: Hash, k: int, now: int, w: int, g: int) -> int:
    if f"lo{k}" not in h:
        return h.get(f"s{k}", 0)
    lo, hi = h[f"lo{k}"], h[f"hi{k}"]
    keep = (now - w) // g
    if lo >= keep:
        return h.get(f"s{k}", 0)
    for i in range(lo, min(hi, keep - 1) + 1):
        value = h.pop(f"b{k}:{i}", None)
        if value is not None and value > 0:
            h[f"s{k}"] = h.get(f"s{k}", 0) - value
    if hi < keep:
        for name in (f"lo{k}", f"hi{k}", f"s{k}"):
            h.pop(name, None)
        return 0
    h[f"lo{k}"] = keep
    return h.get(f"s{k}", 0)


def _add(h: Hash, k: int, now: int, g: int, amount: int) -> None:
    idx = now // g
    h[f"b{k}:{idx}"] = h.get(f"b{k}:{idx}", 0) + amount
    h[f"s{k}"] = h.get(f"s{k}", 0) + amount
    if f"lo{k}" not in h or h[f"lo{k}"] > idx:
        h[f"lo{k}"] = idx
    if f"hi{k}" not in h or h[f"hi{k}"] < idx:
        h[f"hi{k}"] = idx


def reserve_twin(state: LocalState, keys: Sequence[str], args: Sequence[Any]) -> list[int]:
    key = keys[0]
    h = _load(state, key)
    now, amount, force, ttl, n = (int(a) for a in args[:5])
    out = [0, h.get("ep", 0)]
    ok = 1
    for k in range(n):
        w, g, lim = (int(a) for a in args[5 + 3 * k : 8 + 3 * k])
        spent = _prune(h, k, now, w, g)
        out.append(spent)
        if lim >= 0 and spent + amount > lim:
            ok = 0
    if (ok or force) and amount > 0:
        for k in range(n):
            _add(h, k, now, int(args[6 + 3 * k]), amount)
    out[0] = ok
    _save(state, key, h, ttl)
    return out


def adjust_twin(state: LocalState, keys: Sequence[str], args: Sequence[Any]) -> int:
    key = keys[0]
    h = _load(state, key)
    now, epoch, ttl, n, at, give_back, extra = (int(a) for a in args[:7])
    same_epoch = h.get("ep", 0) == epoch
    for k in range(n):
        w, g = int(args[7 + 2 * k]), int(args[8 + 2 * k])
        _prune(h, k, now, w, g)
        if same_epoch and give_back > 0:
            name = f"b{k}:{at // g}"
            value = h.get(name)
            if value is not None and value > 0:
                take = min(value, give_back)
                h[name] = value - take
                h[f"s{k}"] = h.get(f"s{k}", 0) - take
        if extra > 0:
            _add(h, k, now, g, extra)
    _save(state, key, h, ttl)
    return 1


def status_twin(state: LocalState, keys: Sequence[str], args: Sequence[Any]) -> list[int]:
    key = keys[0]
    h = _load(state, key)
    now, n = int(args[0]), int(args[1])
    out = [h.get("ep", 0)]
    for k in range(n):
        out.append(_prune(h, k, now, int(args[2 + 2 * k]), int(args[3 + 2 * k])))
    if h:
        state.set_now(key, json.dumps(h).encode(), state.ttl_now(key))
    return out


def reset_twin(state: LocalState, keys: Sequence[str], args: Sequence[Any]) -> int:
    key = keys[0]
    epoch = _load(state, key).get("ep", 0) + 1
    _save(state, key, {"ep": epoch}, int(args[0]))
    return epoch
