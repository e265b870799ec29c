//! The summary after the instances: each user's use against the
//! fs.inotify limits, and the instances with most watches.

use std::collections::{BTreeMap, HashMap};

use super::{user_text, Instance, ProcInfo};
use crate::procfs::iter::KernelCounts;
use crate::procfs::{NotifyFd, NotifyKind as Kind};

fn read_limit(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[derive(Default)]
pub(super) struct UserTotals {
    pub(super) name: String,
    pub(super) inotify_instances: u64,
    pub(super) inotify_watches: u64,
    pub(super) fanotify_groups: u64,
    pub(super) fanotify_marks: u64,
    /// What the kernel itself counts for this uid (`struct ucounts`).
    pub(super) kernel: Option<KernelCounts>,
}

impl UserTotals {
    /// How many more inotify instances and watches the kernel counts than
    /// the fds in /proc show (instances in flight over a unix socket, held
    /// by a process of another PID namespace, ...); None when they agree.
    pub(super) fn unseen(&self) -> Option<(u64, u64)> {
        let k = self.kernel?;
        let more = |kernel: Option<u64>, seen: u64| kernel.map_or(0, |k| k.saturating_sub(seen));
        let unseen = (more(k.inotify_instances, self.inotify_instances), more(k.inotify_watches, self.inotify_watches));
        (unseen != (0, 0)).then_some(unseen)
    }
}

/// Per-user totals (over every instance on the machine, for the users of the
/// listed rows), the limits, and the listed instances with most watches.
pub(super) struct Summary {
    pub(super) users: BTreeMap<Option<u32>, UserTotals>,
    pub(super) max_user_instances: Option<u64>,
    pub(super) max_user_watches: Option<u64>,
    pub(super) top: Vec<(u32, u32, Vec<u8>, Kind, usize)>,
}

impl Summary {
    pub(super) fn new(
        instances: &[Instance],
        groups: &[Vec<usize>],
        fds: &[NotifyFd],
        procs: &HashMap<u32, ProcInfo>,
        kernel: Option<&HashMap<u32, KernelCounts>>,
    ) -> Summary {
        let shown: std::collections::HashSet<Option<u32>> = instances.iter().map(|i| procs[&i.primary.pid].uid).collect();
        let mut users: BTreeMap<Option<u32>, UserTotals> = BTreeMap::new();
        for g in groups {
            // The instance counts against its first holder's (real) uid.
            let f = &fds[g[0]];
            let p = &procs[&f.pid];
            if !shown.contains(&p.uid) {
                continue;
            }
            let t = users.entry(p.uid).or_default();
            t.name = user_text(p);
            t.kernel = p.uid.and_then(|uid| kernel?.get(&uid).copied());
            let n = f.info.marks.len() as u64;
            match f.kind {
                Kind::Inotify => {
                    t.inotify_instances += 1;
                    t.inotify_watches += n;
                }
                Kind::Fanotify => {
                    t.fanotify_groups += 1;
                    t.fanotify_marks += n;
                }
            }
        }
        let mut top: Vec<_> = instances
            .iter()
            .filter(|i| !i.primary.info.marks.is_empty())
            .map(|i| {
                let f = i.primary;
                (f.pid, f.fd, procs[&f.pid].comm.clone(), f.kind, f.info.marks.len())
            })
            .collect();
        top.sort_by(|a, b| b.4.cmp(&a.4).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        top.truncate(5);
        Summary {
            users,
            max_user_instances: read_limit("/proc/sys/fs/inotify/max_user_instances"),
            max_user_watches: read_limit("/proc/sys/fs/inotify/max_user_watches"),
            top,
        }
    }
}
