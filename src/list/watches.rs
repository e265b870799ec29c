//! The rows of `--watches`: one per inotify watch or fanotify mark, with
//! its mask by name and what it is on.

use super::Instance;
use crate::procfs::fdinfo::{Mark, Object};
use crate::procfs::{resolve, NotifyKind as Kind};

/// A watch's mask by name, with `IN_ALL_EVENTS` for its twelve event bits.
pub(super) fn inotify_watch_mask(mask: u32) -> String {
    const IN_ALL_EVENTS: u32 = 0xfff;
    if mask & IN_ALL_EVENTS != IN_ALL_EVENTS {
        return crate::masks::inotify_mask(mask);
    }
    match mask & !IN_ALL_EVENTS {
        0 => "IN_ALL_EVENTS".into(),
        rest => format!("IN_ALL_EVENTS|{}", crate::masks::inotify_mask(rest)),
    }
}

pub(super) struct WatchRow {
    pub(super) pid: u32,
    pub(super) fd: u32,
    pub(super) kind: Kind,
    pub(super) wd: Option<i32>,
    pub(super) mask: String,
    pub(super) ignored_mask: String,
    pub(super) dev: Option<(u32, u32)>,
    pub(super) ino: Option<u64>,
    pub(super) path: Vec<u8>,
}

/// A mark's mask by name, as its kind names them.
pub(super) fn mask_text(kind: Kind, mask: u64) -> String {
    match kind {
        Kind::Inotify => inotify_watch_mask(mask as u32),
        Kind::Fanotify => crate::masks::fanotify_mask(mask),
    }
}

pub(super) fn watch_rows(i: &Instance, resolver: &mut resolve::Resolver) -> Vec<WatchRow> {
    let f = i.primary;
    let decode = |m: u64| match f.kind {
        Kind::Inotify => inotify_watch_mask(m as u32),
        Kind::Fanotify => crate::masks::fanotify_mask(m),
    };
    let mut marks: Vec<&Mark> = f.info.marks.iter().collect();
    marks.sort_by_key(|m| m.wd);
    marks
        .into_iter()
        .map(|m| WatchRow {
            pid: f.pid,
            fd: f.fd,
            kind: f.kind,
            wd: m.wd,
            mask: decode(m.mask),
            ignored_mask: decode(m.ignored_mask),
            dev: resolver.dev(f.pid, &m.object),
            ino: match m.object {
                Object::Inode { ino, .. } => Some(ino),
                _ => None,
            },
            path: resolver.describe(f.pid, &m.object),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_masks_abbreviate_all_events() {
        assert_eq!(inotify_watch_mask(0xfff), "IN_ALL_EVENTS");
        assert_eq!(inotify_watch_mask(0x2), "IN_MODIFY");
        assert!(inotify_watch_mask(0x1000fff).starts_with("IN_ALL_EVENTS|"));
    }
}
