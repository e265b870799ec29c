//! The inventory: what `list` sums up below its table, over every instance on the machine,
//! as data (the metrics' gauges).

use super::summary::Summary;
use super::{gather, Gathered, Instance};
use crate::procfs::NotifyKind as Kind;

/// One user's use, as `list`'s summary shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserUse {
    pub uid: Option<u32>,
    pub user: String,
    pub inotify_instances: u64,
    pub inotify_watches: u64,
    pub fanotify_groups: u64,
    pub fanotify_marks: u64,
}

/// One of the instances with most watches or marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopHolder {
    pub pid: u32,
    pub fd: u32,
    pub comm: Vec<u8>,
    pub kind: Kind,
    pub watches: usize,
}

/// Each user's use, the `fs.inotify` limits and the top holders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub users: Vec<UserUse>,
    pub max_user_instances: Option<u64>,
    pub max_user_watches: Option<u64>,
    pub top: Vec<TopHolder>,
}

/// Scans the machine as `fsnotify-gadget list` does (the same steps, without printing)
/// and returns its summary.
pub fn inventory() -> Inventory {
    let Gathered { fds, procs, groups, kernel, .. } = gather();
    let instances: Vec<Instance> =
        groups.iter().map(|g| Instance { fds: g.iter().map(|&i| &fds[i]).collect(), primary: &fds[g[0]] }).collect();
    let summary = Summary::new(&instances, &groups, &fds, &procs, kernel.as_ref());
    Inventory {
        users: summary
            .users
            .into_iter()
            .map(|(uid, t)| UserUse {
                uid,
                user: t.name,
                inotify_instances: t.inotify_instances,
                inotify_watches: t.inotify_watches,
                fanotify_groups: t.fanotify_groups,
                fanotify_marks: t.fanotify_marks,
            })
            .collect(),
        max_user_instances: summary.max_user_instances,
        max_user_watches: summary.max_user_watches,
        top: summary.top.into_iter().map(|(pid, fd, comm, kind, watches)| TopHolder { pid, fd, comm, kind, watches }).collect(),
    }
}
