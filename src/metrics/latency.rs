//! The latency histograms (delivery and permission answers), counted in whole
//! nanoseconds.
//!
//! The trace loop counts a record's latency into a [`Local`] share of its series:
//! the bucket is found from the integer with two shifts and a count of leading
//! zeros, where the prometheus crate's local histogram converts to seconds and
//! compares against every bound in turn. [`Local::flush`] adds the share to the
//! series under its lock; a scrape reads the series into the prometheus crate's
//! own histogram type, which its text encoder writes (cumulative buckets, `+Inf`,
//! `_sum` in seconds, `_count`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, MetricFamily, MetricType};
use prometheus::Opts;

/// The buckets' upper bounds: 1 µs to 4.19 s, by fours (1 µs x 4^k).
pub const BOUNDS: usize = 12;

/// The bound of bucket `k`, in nanoseconds.
pub fn bound_ns(k: usize) -> u64 {
    1000 << (2 * k)
}

/// The first bucket whose bound is at least `ns`; [`BOUNDS`] past the last.
pub fn bucket_of(ns: u64) -> usize {
    // ns <= 1000 * 4^k exactly when ceil(ns / 1000) <= 4^k, that is when
    // k >= ceil(log2(ceil(ns / 1000)) / 2).
    let us = ns.div_ceil(1000);
    if us <= 1 {
        return 0;
    }
    let log2 = 64 - (us - 1).leading_zeros() as usize;
    log2.div_ceil(2).min(BOUNDS)
}

/// Counts per bucket (the last one past every bound), their number and sum.
#[derive(Clone, Copy, Default)]
struct Counts {
    buckets: [u64; BOUNDS + 1],
    count: u64,
    sum_ns: u128,
}

/// One series: its labels, sorted by name as the exposition has them, and its counts.
struct Series {
    labels: Vec<proto::LabelPair>,
    counts: Mutex<Counts>,
}

impl Series {
    fn proto(&self) -> proto::Metric {
        let c = *self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut cumulative = 0;
        let buckets = (0..BOUNDS)
            .map(|k| {
                cumulative += c.buckets[k];
                let mut b = proto::Bucket::default();
                b.set_cumulative_count(cumulative);
                b.set_upper_bound(bound_ns(k) as f64 / 1e9);
                b
            })
            .collect();
        let mut h = proto::Histogram::default();
        h.set_sample_count(c.count);
        h.set_sample_sum(c.sum_ns as f64 / 1e9);
        h.set_bucket(buckets);
        let mut m = proto::Metric::default();
        m.set_label(self.labels.clone());
        m.set_histogram(h);
        m
    }
}

/// A histogram family whose series are told apart by their label values.
#[derive(Clone)]
pub struct Family(Arc<FamilyInner>);

struct FamilyInner {
    desc: Desc,
    series: Mutex<HashMap<Vec<String>, Arc<Series>>>,
}

impl Family {
    pub fn new(opts: Opts, labels: &[&str]) -> prometheus::Result<Family> {
        let desc = super::family_desc(opts, labels)?;
        Ok(Family(Arc::new(FamilyInner { desc, series: Mutex::new(HashMap::new()) })))
    }

    /// A new local share of the series of these label values (in the family's
    /// label order), the series made on first use.
    pub fn local(&self, values: Vec<String>) -> Local {
        let inner = &self.0;
        let mut all = inner.series.lock().unwrap_or_else(|e| e.into_inner());
        let series = all
            .entry(values)
            .or_insert_with_key(|values| {
                let mut labels: Vec<proto::LabelPair> = inner
                    .desc
                    .variable_labels
                    .iter()
                    .zip(values)
                    .map(|(name, value)| {
                        let mut l = proto::LabelPair::default();
                        l.set_name(name.clone());
                        l.set_value(value.clone());
                        l
                    })
                    .collect();
                labels.sort_by(|a, b| a.name().cmp(b.name()));
                Arc::new(Series { labels, counts: Mutex::default() })
            })
            .clone();
        Local { counts: Counts::default(), series }
    }
}

impl Collector for Family {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let all = self.0.series.lock().unwrap_or_else(|e| e.into_inner());
        super::family(&self.0.desc, MetricType::HISTOGRAM, all.values().map(|s| s.proto()).collect())
    }
}

/// The trace loop's share of one series, added to it by [`Local::flush`].
pub struct Local {
    counts: Counts,
    series: Arc<Series>,
}

impl Local {
    pub fn observe(&mut self, ns: u64) {
        let c = &mut self.counts;
        c.buckets[bucket_of(ns)] += 1;
        c.count += 1;
        c.sum_ns += u128::from(ns);
    }

    pub fn flush(&mut self) {
        if self.counts.count == 0 {
            return;
        }
        let mut shared = self.series.counts.lock().unwrap_or_else(|e| e.into_inner());
        for (s, l) in shared.buckets.iter_mut().zip(self.counts.buckets) {
            *s += l;
        }
        shared.count += self.counts.count;
        shared.sum_ns += self.counts.sum_ns;
        self.counts = Counts::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_falls_in_the_first_bucket_whose_bound_holds_it() {
        // Against the rule itself, around every bound.
        let rule = |ns: u64| (0..BOUNDS).find(|&k| ns <= bound_ns(k)).unwrap_or(BOUNDS);
        for k in 0..BOUNDS {
            let b = bound_ns(k);
            for ns in [b - 1, b, b + 1, b + b / 2, b * 3] {
                assert_eq!(bucket_of(ns), rule(ns), "{ns} ns");
            }
        }
        for ns in [0, 1, 999, 1000, 1001, u64::MAX / 2, u64::MAX] {
            assert_eq!(bucket_of(ns), rule(ns), "{ns} ns");
        }
        assert_eq!(bound_ns(BOUNDS - 1), 4_194_304_000);
    }

    #[test]
    fn shares_flush_into_one_series_and_print_as_prometheus_histograms() {
        let f = Family::new(Opts::new("t_seconds", "test"), &["tracer_comm", "answer"]).unwrap();
        let mut a = f.local(vec!["daemon".into(), "allow".into()]);
        let mut b = f.local(vec!["daemon".into(), "allow".into()]);
        for ns in [500, 3_000, 3_000, 20_000_000] {
            a.observe(ns);
        }
        b.observe(9_000_000_000);
        a.flush();
        b.flush();
        a.flush();
        let registry = prometheus::Registry::new();
        registry.register(Box::new(f)).unwrap();
        let mut text = String::new();
        prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut text).unwrap();
        for want in [
            "# TYPE t_seconds histogram",
            r#"t_seconds_bucket{answer="allow",tracer_comm="daemon",le="0.000001"} 1"#,
            r#"t_seconds_bucket{answer="allow",tracer_comm="daemon",le="0.000004"} 3"#,
            r#"t_seconds_bucket{answer="allow",tracer_comm="daemon",le="0.016384"} 3"#,
            r#"t_seconds_bucket{answer="allow",tracer_comm="daemon",le="0.065536"} 4"#,
            r#"t_seconds_bucket{answer="allow",tracer_comm="daemon",le="4.194304"} 4"#,
            r#"t_seconds_bucket{answer="allow",tracer_comm="daemon",le="+Inf"} 5"#,
            r#"t_seconds_sum{answer="allow",tracer_comm="daemon"} 9.0200065"#,
            r#"t_seconds_count{answer="allow",tracer_comm="daemon"} 5"#,
        ] {
            assert!(text.contains(&format!("{want}\n")), "no {want} in {text}");
        }
    }
}
