//! The inventory gauges: what `fsnotify-gadget list` sums up (src/list/), refreshed
//! periodically on a thread of its own.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::{Gauge, IntGauge, IntGaugeVec, Opts, Registry};

use super::{name, Metrics};
use crate::list::Inventory;

/// Label values of the series one refresh set.
type LabelSets = HashSet<Vec<String>>;

/// The gauges, and the label sets of the last refresh (those gone are removed).
pub struct Gauges {
    inotify_instances: IntGaugeVec,
    inotify_watches: IntGaugeVec,
    fanotify_groups: IntGaugeVec,
    fanotify_marks: IntGaugeVec,
    max_user_instances: IntGauge,
    max_user_watches: IntGauge,
    top: IntGaugeVec,
    duration: Gauge,
    last: Gauge,
    seen: Mutex<(LabelSets, LabelSets)>,
}

impl Gauges {
    pub fn register(registry: &Registry) -> prometheus::Result<Gauges> {
        let per_user = |short: &str, help: &str| IntGaugeVec::new(Opts::new(name(short), help), &["uid", "user"]);
        let g = Gauges {
            inotify_instances: per_user("inotify_instances", "inotify instances per user (against fs.inotify.max_user_instances).")?,
            inotify_watches: per_user("inotify_watches", "inotify watches per user (against fs.inotify.max_user_watches).")?,
            fanotify_groups: per_user("fanotify_groups", "fanotify groups per user.")?,
            fanotify_marks: per_user("fanotify_marks", "fanotify marks per user.")?,
            max_user_instances: IntGauge::new(name("inotify_max_user_instances"), "fs.inotify.max_user_instances.")?,
            max_user_watches: IntGauge::new(name("inotify_max_user_watches"), "fs.inotify.max_user_watches.")?,
            top: IntGaugeVec::new(
                Opts::new(name("top_holder_watches"), "Watches or marks of the five instances that hold most."),
                &["pid", "fd", "comm", "kind"],
            )?,
            duration: Gauge::new(name("inventory_scan_seconds"), "How long the last inventory scan of /proc took.")?,
            last: Gauge::new(name("inventory_last_scan_timestamp_seconds"), "When the last inventory scan ended (Unix time).")?,
            seen: Mutex::default(),
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

    /// Sets every gauge from `inv`; label sets no longer present are removed.
    pub fn set(&self, inv: &Inventory) {
        let mut users = HashSet::new();
        for u in &inv.users {
            let labels = vec![u.uid.map_or_else(String::new, |x| x.to_string()), u.user.clone()];
            let l: Vec<&str> = labels.iter().map(String::as_str).collect();
            self.inotify_instances.with_label_values(&l).set(u.inotify_instances as i64);
            self.inotify_watches.with_label_values(&l).set(u.inotify_watches as i64);
            self.fanotify_groups.with_label_values(&l).set(u.fanotify_groups as i64);
            self.fanotify_marks.with_label_values(&l).set(u.fanotify_marks as i64);
            users.insert(labels);
        }
        let mut top = HashSet::new();
        for t in &inv.top {
            let labels = vec![t.pid.to_string(), t.fd.to_string(), String::from_utf8_lossy(&t.comm).into_owned(), t.kind.name().to_string()];
            let l: Vec<&str> = labels.iter().map(String::as_str).collect();
            self.top.with_label_values(&l).set(t.watches as i64);
            top.insert(labels);
        }
        self.max_user_instances.set(inv.max_user_instances.map_or(-1, |v| v as i64));
        self.max_user_watches.set(inv.max_user_watches.map_or(-1, |v| v as i64));
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for gone in seen.0.difference(&users) {
            let l: Vec<&str> = gone.iter().map(String::as_str).collect();
            for v in [&self.inotify_instances, &self.inotify_watches, &self.fanotify_groups, &self.fanotify_marks] {
                let _ = v.remove_label_values(&l);
            }
        }
        for gone in seen.1.difference(&top) {
            let l: Vec<&str> = gone.iter().map(String::as_str).collect();
            let _ = self.top.remove_label_values(&l);
        }
        *seen = (users, top);
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
