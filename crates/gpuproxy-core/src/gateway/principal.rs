//! Who a request is, as the control plane resolved it, and the cache of credentials.
//!
//! Python authenticates a credential once (bcrypt for API keys, signature + session for
//! JWTs) and pushes the answer here keyed by the SHA-256 of the credential; every later
//! request with the same credential is answered from this cache without the GIL. Entries
//! expire after the TTL Python gives (the accounts cache TTL), so a change the
//! invalidation channel missed still takes effect; revocations drop entries at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use sha2::{Digest as _, Sha256};

/// SHA-256 of a credential: the cache key (the credential itself is never stored).
pub type Digest = [u8; 32];

const SHARDS: usize = 16;
const MAX_CREDENTIAL: usize = 4096;

/// A per-minute GCRA limit and the bucket it counts in (`k:<key>` or `u:<user>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub bucket: Arc<str>,
    pub per_minute: u32,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Arc<str>,
    pub api_key_id: Option<Arc<str>>,
    pub session_id: Option<Arc<str>>,
    /// Holds the `inference` scope.
    pub can_infer: bool,
    /// Admission-queue priority (higher first).
    pub priority: i32,
    /// Every limit the request counts against (the user's, and the key's own when it is
    /// tighter); empty: no rate limit.
    pub rate_limits: Vec<RateLimit>,
    /// The key's own expiry (unix ms); past it the key is refused even if cached.
    pub expires_at_ms: Option<u64>,
}

/// What the cache knows about a credential.
#[derive(Debug, Clone)]
pub enum Lookup {
    Hit(Arc<Principal>),
    /// A hit in the last quarter of its TTL, and the caller is the one to revalidate it
    /// in the background (stale-while-revalidate: requests never wait for the control plane
    /// on a known key; revocations still drop entries at once).
    Refresh(Arc<Principal>),
    /// Known bad (unknown key, wrong secret, revoked, expired): 401 without asking.
    Denied,
    /// Not cached or stale: ask the control plane.
    Miss,
}

#[derive(Debug)]
struct Entry {
    principal: Option<Arc<Principal>>,
    fresh_until: Instant,
    refresh_at: Instant,
    grace_until: Instant,
    refreshing: AtomicBool,
}

/// Credential digest -> principal, sharded, bounded.
#[derive(Debug)]
pub struct KeyCache {
    shards: Vec<RwLock<HashMap<Digest, Entry>>>,
    max_per_shard: usize,
}

pub fn digest(credential: &[u8]) -> Digest {
    Sha256::digest(credential).into()
}

/// The credential of a request: `X-API-Key` wins over `Authorization: Bearer`.
pub fn credential<'a>(
    x_api_key: Option<&'a [u8]>,
    authorization: Option<&'a [u8]>,
) -> Option<&'a [u8]> {
    if let Some(key) = x_api_key {
        let key = key.trim_ascii();
        return (!key.is_empty() && key.len() <= MAX_CREDENTIAL).then_some(key);
    }
    let value = authorization?.trim_ascii();
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, token) = value.split_at(space);
    let token = token.trim_ascii();
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty() && token.len() <= MAX_CREDENTIAL)
        .then_some(token)
}

impl KeyCache {
    pub fn new(max_entries: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            max_per_shard: (max_entries / SHARDS).max(16),
        }
    }

    fn shard(&self, d: &Digest) -> &RwLock<HashMap<Digest, Entry>> {
        &self.shards[d[0] as usize % SHARDS]
    }

    pub fn lookup(&self, d: &Digest, now: Instant, now_ms: u64) -> Lookup {
        let shard = self.shard(d).read();
        match shard.get(d) {
            // A revalidation on its way keeps the entry serving for up to half a TTL more
            // (a busy control plane delays the answer, not the requests).
            Some(e)
                if e.fresh_until > now
                    || (e.refreshing.load(Ordering::Acquire) && e.grace_until > now) =>
            {
                match &e.principal {
                    Some(p) if p.expires_at_ms.is_none_or(|exp| exp > now_ms) => {
                        if now >= e.refresh_at && !e.refreshing.swap(true, Ordering::AcqRel) {
                            Lookup::Refresh(Arc::clone(p))
                        } else {
                            Lookup::Hit(Arc::clone(p))
                        }
                    }
                    _ => Lookup::Denied,
                }
            }
            _ => Lookup::Miss,
        }
    }

    pub fn insert(&self, d: Digest, principal: Option<Arc<Principal>>, ttl: Duration) {
        let now = Instant::now();
        let mut shard = self.shard(&d).write();
        if shard.len() >= self.max_per_shard && !shard.contains_key(&d) {
            shard.retain(|_, e| e.fresh_until > now);
            if shard.len() >= self.max_per_shard {
                // Still full of live entries (a key-spraying client): drop a tenth.
                let drop: Vec<Digest> = shard
                    .keys()
                    .take(self.max_per_shard / 10 + 1)
                    .copied()
                    .collect();
                for k in drop {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(
            d,
            Entry {
                principal,
                fresh_until: now + ttl,
                refresh_at: now + ttl * 3 / 4,
                grace_until: now + ttl * 3 / 2,
                refreshing: AtomicBool::new(false),
            },
        );
    }

    /// Drops what a revocation made stale: `key` (key id), `sess` (session id), `user`, `all`.
    pub fn invalidate(&self, kind: &str, ident: &str) -> usize {
        let mut dropped = 0;
        for shard in &self.shards {
            let mut shard = shard.write();
            let before = shard.len();
            shard.retain(|_, e| {
                let Some(p) = &e.principal else {
                    // Negative entries carry no owner: a "user" or "key" change may have
                    // made a refused credential valid (re-enabled); drop them too.
                    return kind == "sess";
                };
                match kind {
                    "key" => p.api_key_id.as_deref() != Some(ident),
                    "sess" => p.session_id.as_deref() != Some(ident),
                    "user" => &*p.user_id != ident,
                    _ => false,
                }
            });
            dropped += before - shard.len();
        }
        dropped
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(user: &str, key: Option<&str>) -> Arc<Principal> {
        Arc::new(Principal {
            user_id: user.into(),
            api_key_id: key.map(Into::into),
            session_id: None,
            can_infer: true,
            priority: 0,
            rate_limits: Vec::new(),
            expires_at_ms: None,
        })
    }

    #[test]
    fn credential_prefers_x_api_key_and_needs_bearer() {
        assert_eq!(
            credential(Some(b" k1 "), Some(b"Bearer t")),
            Some(&b"k1"[..])
        );
        assert_eq!(credential(None, Some(b"bearer  tok ")), Some(&b"tok"[..]));
        assert_eq!(credential(None, Some(b"Basic abc")), None);
        assert_eq!(credential(None, Some(b"Bearer")), None);
        assert_eq!(credential(Some(b"  "), Some(b"Bearer t")), None);
    }

    #[test]
    fn hit_denied_miss_expiry_and_invalidation() {
        let cache = KeyCache::new(1000);
        let now = Instant::now();
        let a = digest(b"a");
        assert!(matches!(cache.lookup(&a, now, 0), Lookup::Miss));
        cache.insert(
            a,
            Some(principal("u1", Some("k1"))),
            Duration::from_secs(60),
        );
        assert!(matches!(cache.lookup(&a, now, 0), Lookup::Hit(_)));
        let b = digest(b"b");
        cache.insert(b, None, Duration::from_secs(60));
        assert!(matches!(cache.lookup(&b, now, 0), Lookup::Denied));
        // stale after the TTL
        assert!(matches!(
            cache.lookup(&a, now + Duration::from_secs(61), 0),
            Lookup::Miss
        ));
        // the key's own expiry
        let mut p = (*principal("u1", Some("k2"))).clone();
        p.expires_at_ms = Some(1000);
        let c = digest(b"c");
        cache.insert(c, Some(Arc::new(p)), Duration::from_secs(60));
        assert!(matches!(cache.lookup(&c, now, 999), Lookup::Hit(_)));
        assert!(matches!(cache.lookup(&c, now, 1000), Lookup::Denied));
        assert_eq!(cache.invalidate("key", "k1"), 2); // k1 and the negative entry
        assert!(matches!(cache.lookup(&a, now, 0), Lookup::Miss));
        assert_eq!(cache.invalidate("user", "u1"), 1);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_last_quarter_of_a_ttl_asks_for_one_revalidation() {
        let cache = KeyCache::new(1000);
        let now = Instant::now();
        let a = digest(b"a");
        cache.insert(a, Some(principal("u1", Some("k1"))), Duration::from_secs(4));
        assert!(matches!(cache.lookup(&a, now, 0), Lookup::Hit(_)));
        let late = now + Duration::from_millis(3100);
        assert!(matches!(cache.lookup(&a, late, 0), Lookup::Refresh(_)));
        assert!(
            matches!(cache.lookup(&a, late, 0), Lookup::Hit(_)),
            "only one caller revalidates"
        );
        // The revalidation is on its way: still served for up to half a TTL more.
        assert!(matches!(
            cache.lookup(&a, now + Duration::from_secs(5), 0),
            Lookup::Hit(_)
        ));
        assert!(matches!(
            cache.lookup(&a, now + Duration::from_millis(6100), 0),
            Lookup::Miss
        ));
    }

    #[test]
    fn bounded_under_spraying() {
        let cache = KeyCache::new(16 * 20);
        for i in 0..10_000u32 {
            cache.insert(digest(&i.to_le_bytes()), None, Duration::from_secs(60));
        }
        assert!(cache.len() <= 16 * 20);
    }
}
