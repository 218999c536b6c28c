//! The consistent-hash ring and the stable hash it uses.

use std::sync::Arc;

use super::entry::BackendEntry;

/// Virtual nodes per backend: enough for an even spread (stddev of ownership about
/// 1/sqrt(64) = 12%), small enough to build a 1000-backend ring in a few milliseconds.
pub const VNODES_PER_BACKEND: usize = 64;

/// Stable 64-bit hash (FNV-1a with a `SplitMix64` finaliser): the same key maps to the
/// same point in every process and release, which `std`'s hasher does not promise.
#[inline]
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Sorted (point, backend index) pairs.
#[derive(Debug, Default)]
pub struct Ring {
    points: Vec<(u64, u32)>,
}

impl Ring {
    pub(crate) fn build(backends: &[Arc<BackendEntry>]) -> Self {
        let mut points = Vec::with_capacity(backends.len() * VNODES_PER_BACKEND);
        for (idx, b) in backends.iter().enumerate() {
            let base = stable_hash(b.id().as_bytes());
            for v in 0..VNODES_PER_BACKEND as u64 {
                points.push((
                    mix(base ^ v.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                    idx as u32,
                ));
            }
        }
        points.sort_unstable();
        Self { points }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Backend indices clockwise from `hash`, one full turn.
    pub fn walk(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.points.partition_point(|&(p, _)| p < hash);
        let n = self.points.len();
        (0..n).map(move |k| self.points[(start + k) % n].1 as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable() {
        // Pinned so a change of hash (which would move every affinity) is deliberate.
        assert_eq!(stable_hash(b""), mix(0xcbf2_9ce4_8422_2325));
        assert_ne!(stable_hash(b"a"), stable_hash(b"b"));
    }
}
