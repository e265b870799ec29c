//! The inventory gauges: what `fsnotify-gadget list` sums up (src/list/), refreshed
//! periodically on a thread of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::core::{Collector, Desc, Metric};
use prometheus::proto::{MetricFamily, MetricType};
use prometheus::{Gauge, IntGauge, Opts, Registry};

use super::{name, Metrics};
use crate::list::Inventory;

/// A gauge family set whole by each refresh: the series of the last refresh,
/// and only those (a user or holder gone since is gone from the scrape).
/// Series are told apart by their label values themselves, not by the
/// prometheus crate's hash of them run together, under which the holder
/// `pid="12",fd="3"` and `pid="1",fd="23"` would be one series.
#[derive(Clone)]
struct Snapshot(Arc<SnapshotInner>);

struct SnapshotInner {
    desc: Desc,
    series: Mutex<Vec<IntGauge>>,
}

impl Snapshot {
    fn new(opts: Opts, labels: &[&str]) -> prometheus::Result<Snapshot> {
        let desc = super::family_desc(opts, labels)?;
        Ok(Snapshot(Arc::new(SnapshotInner { desc, series: Mutex::new(Vec::new()) })))
    }

    /// Replaces every series: label values (in the family's label order) and
    /// value. Label sets repeated within one refresh are summed.
    fn replace(&self, values: impl IntoIterator<Item = (Vec<String>, i64)>) {
        let inner = &self.0;
        let mut by_labels: HashMap<Vec<String>, i64> = HashMap::new();
        for (labels, v) in values {
            *by_labels.entry(labels).or_default() += v;
        }
        let gauges = by_labels
            .into_iter()
            .map(|(labels, v)| {
                let g = IntGauge::with_opts(super::series_opts(&inner.desc, &labels)).expect("the family's labels are valid");
                g.set(v);
                g
            })
            .collect();
        *inner.series.lock().unwrap_or_else(|e| e.into_inner()) = gauges;
    }
}

impl Collector for Snapshot {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let series = self.0.series.lock().unwrap_or_else(|e| e.into_inner());
        super::family(&self.0.desc, MetricType::GAUGE, series.iter().map(|g| g.metric()).collect())
    }
}

/// The gauges.
pub struct Gauges {
    inotify_instances: Snapshot,
    inotify_watches: Snapshot,
    fanotify_groups: Snapshot,
    fanotify_marks: Snapshot,
    max_user_instances: IntGauge,
    max_user_watches: IntGauge,
    top: Snapshot,
    duration: Gauge,
    last: Gauge,
}

impl Gauges {
    pub fn register(registry: &Registry) -> prometheus::Result<Gauges> {
        let per_user = |short: &str, help: &str| Snapshot::new(Opts::new(name(short), help), &["uid", "user"]);
        let g = Gauges {
            inotify_instances: per_user("inotify_instances", "inotify instances per user (against fs.inotify.max_user_instances).")?,
            inotify_watches: per_user("inotify_watches", "inotify watches per user (against fs.inotify.max_user_watches).")?,
            fanotify_groups: per_user("fanotify_groups", "fanotify groups per user.")?,
            fanotify_marks: per_user("fanotify_marks", "fanotify marks per user.")?,
            max_user_instances: IntGauge::new(name("inotify_max_user_instances"), "fs.inotify.max_user_instances.")?,
            max_user_watches: IntGauge::new(name("inotify_max_user_watches"), "fs.inotify.max_user_watches.")?,
            top: Snapshot::new(
                Opts::new(name("top_holder_watches"), "Watches or marks of the five instances that hold most."),
                &["pid", "fd", "comm", "kind"],
            )?,
            duration: Gauge::new(name("inventory_scan_seconds"), "How long the last inventory scan of /proc took.")?,
            last: Gauge::new(name("inventory_last_scan_timestamp_seconds"), "When the last inventory scan ended (Unix time).")?,
        };
        for v in [&g.inotify_instances, &g.inotify_watches, &g.fanotify_groups, &g.fanotify_marks, &g.top] {
            registry.register(Box::new(v.clone()))?;
        }
        for v in [&g.max_user_instances, &g.max_user_watches] {
            registry.register(Box::new(v.clone()))?;
        }
        registry.register(Box::new(g.duration.clone()))?;
        registry.register(Box::new(g.last.clone()))?;
        Ok(g)
    }

    /// Sets every gauge from `inv`; label sets no longer present are gone.
    pub fn set(&self, inv: &Inventory) {
        let user = |u: &crate::list::UserUse| vec![u.uid.map_or_else(String::new, |x| x.to_string()), super::label_value(u.user.as_bytes())];
        self.inotify_instances.replace(inv.users.iter().map(|u| (user(u), u.inotify_instances as i64)));
        self.inotify_watches.replace(inv.users.iter().map(|u| (user(u), u.inotify_watches as i64)));
        self.fanotify_groups.replace(inv.users.iter().map(|u| (user(u), u.fanotify_groups as i64)));
        self.fanotify_marks.replace(inv.users.iter().map(|u| (user(u), u.fanotify_marks as i64)));
        self.top.replace(inv.top.iter().map(|t| {
            let labels = vec![t.pid.to_string(), t.fd.to_string(), super::label_value(&t.comm), t.kind.name().to_string()];
            (labels, t.watches as i64)
        }));
        self.max_user_instances.set(inv.max_user_instances.map_or(-1, |v| v as i64));
        self.max_user_watches.set(inv.max_user_watches.map_or(-1, |v| v as i64));
    }
}

/// One scan, timed, into the gauges.
pub fn refresh(g: &Gauges) {
    let t0 = std::time::Instant::now();
    let inv = crate::list::inventory();
    g.set(&inv);
    g.duration.set(t0.elapsed().as_secs_f64());
    g.last.set(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()));
}

/// Refreshes the gauges every `every` on a new thread, for as long as the process runs
/// (the caller made the first scan).
pub fn spawn(metrics: Arc<Metrics>, every: Duration) {
    let started = std::thread::Builder::new().name("fsg-inventory".into()).spawn(move || loop {
        std::thread::sleep(every);
        refresh(&metrics.inventory);
    });
    if let Err(e) = started {
        eprintln!("fsnotify-gadget: warning: metrics: cannot start the inventory thread: {e}; no inventory gauges");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::{TopHolder, UserUse};
    use crate::procfs::NotifyKind;

    fn holder(pid: u32, fd: u32, watches: usize) -> TopHolder {
        TopHolder { pid, fd, comm: b"w".to_vec(), kind: NotifyKind::Inotify, watches }
    }

    fn user(uid: u32, name: &str, watches: u64) -> UserUse {
        UserUse { uid: Some(uid), user: name.into(), inotify_instances: 1, inotify_watches: watches, fanotify_groups: 0, fanotify_marks: 0 }
    }

    #[test]
    fn series_whose_label_values_run_together_alike_stay_apart_and_gone_ones_go() {
        let registry = Registry::new();
        let g = Gauges::register(&registry).unwrap();
        let encode = || {
            let mut s = String::new();
            prometheus::TextEncoder::new().encode_utf8(&registry.gather(), &mut s).unwrap();
            s
        };
        // pid 12 fd 3 and pid 1 fd 23 are "123" run together; so are uid 10 "bob" and uid 1 "0bob".
        let mut inv = Inventory {
            users: vec![user(10, "bob", 7), user(1, "0bob", 9)],
            max_user_instances: Some(128),
            max_user_watches: None,
            top: vec![holder(12, 3, 500), holder(1, 23, 40)],
        };
        g.set(&inv);
        let text = encode();
        for line in [
            r#"fsnotify_gadget_top_holder_watches{comm="w",fd="3",kind="inotify",pid="12"} 500"#,
            r#"fsnotify_gadget_top_holder_watches{comm="w",fd="23",kind="inotify",pid="1"} 40"#,
            r#"fsnotify_gadget_inotify_watches{uid="10",user="bob"} 7"#,
            r#"fsnotify_gadget_inotify_watches{uid="1",user="0bob"} 9"#,
            "fsnotify_gadget_inotify_max_user_instances 128",
            "fsnotify_gadget_inotify_max_user_watches -1",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
        inv.top.remove(0);
        inv.users.remove(1);
        inv.users[0].inotify_watches = 8;
        g.set(&inv);
        let text = encode();
        assert!(!text.contains(r#"pid="12""#) && !text.contains("0bob"), "{text}");
        assert!(text.contains(r#"fsnotify_gadget_inotify_watches{uid="10",user="bob"} 8"#), "{text}");
        assert_eq!(text.matches("fsnotify_gadget_top_holder_watches{").count(), 1, "{text}");
    }
}
