//! Latency quantiles in bounded memory: a log-linear histogram.
//!
//! Values below 256 have a bucket each (exact). Above, each power of two is
//! cut into 128 equal buckets, and a quantile is reported as the middle of
//! its bucket: at most 1/256 (0.39%) away from the true value of that rank,
//! whatever the spread. The smallest and largest values are kept exactly, and
//! a quantile never falls outside them. Memory is one map entry per bucket
//! in use, at most 128 per power of two the values span.

use std::collections::BTreeMap;

/// Bits of the value below its leading one that pick the bucket: 2^7 = 128
/// buckets per power of two.
const SUB_BITS: u32 = 7;
/// Values below this have a bucket of their own.
const EXACT: u64 = 1 << (SUB_BITS + 1);

/// The bucket of `v`: the identity below [`EXACT`], then `shift * 128 +
/// mantissa`, increasing with `v`.
fn bucket(v: u64) -> u32 {
    if v < EXACT {
        return v as u32;
    }
    let shift = 63 - v.leading_zeros() - SUB_BITS;
    shift * (1 << SUB_BITS) + (v >> shift) as u32
}

/// The value a bucket stands for: itself when exact, else the middle of its range.
fn value_of(bucket: u32) -> u64 {
    if u64::from(bucket) < EXACT {
        return u64::from(bucket);
    }
    let shift = bucket / (1 << SUB_BITS) - 1;
    let mantissa = u64::from(bucket) - u64::from(shift) * (1 << SUB_BITS);
    let width = 1u64 << shift;
    (mantissa << shift) + width / 2
}

/// Counts of values by bucket, with the exact minimum and maximum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    buckets: BTreeMap<u32, u64>,
    count: u64,
    min: u64,
    max: u64,
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        *self.buckets.entry(bucket(v)).or_default() += 1;
        if self.count == 0 || v < self.min {
            self.min = v;
        }
        self.max = self.max.max(v);
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value recorded, exact; None when empty.
    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// The nearest-rank quantile: the value of rank ceil(q·n) (at least 1)
    /// in sorted order, within 1/256 of it; None when empty. `q` is in [0, 1].
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        if rank >= self.count {
            return Some(self.max);
        }
        let mut seen = 0;
        for (&b, &n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(value_of(b).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact nearest-rank quantile of `values`.
    fn exact(values: &[u64], q: f64) -> u64 {
        let mut v = values.to_vec();
        v.sort_unstable();
        let rank = ((q * v.len() as f64).ceil() as usize).max(1);
        v[rank - 1]
    }

    /// Deterministic pseudo-random values (a 64-bit LCG), spread over many powers of two.
    fn spread(n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (x >> 11) >> ((x >> 3) % 40)
            })
            .collect()
    }

    #[test]
    fn buckets_increase_with_the_value_and_hold_it() {
        let mut last = 0;
        for v in (0..5000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= last, "{v}");
            last = b;
            let mid = value_of(b);
            let err = mid.abs_diff(v) as f64 / v.max(1) as f64;
            assert!(err <= 1.0 / 256.0, "{v}: bucket {b} stands for {mid}");
        }
        assert_eq!(value_of(bucket(200)), 200, "below 256 every value is exact");
    }

    #[test]
    fn quantiles_are_within_the_documented_error() {
        for seed in 1..6 {
            let values = spread(20_000, seed);
            let mut h = Histogram::default();
            values.iter().for_each(|&v| h.record(v));
            for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
                let want = exact(&values, q);
                let got = h.quantile(q).unwrap();
                let err = got.abs_diff(want) as f64 / want.max(1) as f64;
                assert!(err <= 1.0 / 256.0, "seed {seed} q {q}: {got} for {want}");
            }
            assert_eq!(h.max(), values.iter().copied().max());
            assert_eq!(h.quantile(1.0), h.max());
            assert_eq!(h.quantile(0.0), values.iter().copied().min());
        }
    }

    #[test]
    fn small_sets_are_exact() {
        let mut h = Histogram::default();
        assert_eq!((h.quantile(0.5), h.max(), h.count()), (None, None, 0));
        for v in [30, 10, 20, 40] {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(20), "rank 2 of 4");
        assert_eq!(h.quantile(0.51), Some(30), "rank 3 of 4");
        assert_eq!(h.quantile(0.99), Some(40));
        assert_eq!(h.count(), 4);
        let mut one = Histogram::default();
        one.record(20_000_000);
        assert_eq!(one.quantile(0.5), Some(20_000_000), "clamped to the one value");
    }
}
