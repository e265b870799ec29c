//! The path of an inotify record: what its watch is on (from the tracer's
//! fdinfo, the way `list` resolves it), joined with the event's name.
//!
//! A watch is looked up by (tracer pid, group, wd) and its path kept for
//! [`FRESH`]: long enough that a busy watcher costs one lookup per watch, short
//! enough that a renamed directory is soon shown under its new name. A watch
//! not in the tracer's fdinfo (it exited, or removed the watch) has no path,
//! never a guessed one. Records about the watch itself moving or going
//! (IN_MOVE_SELF, IN_DELETE_SELF, IN_IGNORED) are marked stale: the path is
//! the one resolved at read time, which may already be the new place.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fdinfo::Object;
use super::resolve::Resolver;
use super::NotifyKind;
use crate::model::{EventType, Record};

/// How long a resolved path is reused.
pub const FRESH: Duration = Duration::from_secs(2);
/// Watches cached at most; past it the cache starts again empty.
const MAX_ENTRIES: usize = 1 << 16;

const IN_MOVE_SELF: u32 = 0x0000_0800;
const IN_DELETE_SELF: u32 = 0x0000_0400;
const IN_IGNORED: u32 = 0x0000_8000;

/// (tracer pid, fsnotify_group address or 0 when the record has none, wd).
type Key = (u32, u64, i32);

#[derive(Default)]
pub struct WatchPaths {
    /// None: the watch could not be named.
    paths: HashMap<Key, (Instant, Option<Arc<[u8]>>)>,
    resolver: Resolver,
}

/// `dir` + `/` + `name`, or `dir` alone for an event on the watched object itself.
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    if !name.is_empty() {
        if !p.ends_with(b"/") {
            p.push(b'/');
        }
        p.extend_from_slice(name);
    }
    p
}

/// Whether the event is about the watched object moving or its watch going.
pub fn about_the_watch_itself(mask: u32) -> bool {
    mask & (IN_MOVE_SELF | IN_DELETE_SELF | IN_IGNORED) != 0
}

impl WatchPaths {
    /// Sets `path` (and `path_stale`) on an inotify record whose tracer and wd are known.
    pub fn fill(&mut self, r: &mut Record) {
        if r.event_type != EventType::Inotify || r.name_unknown.is_some() {
            return;
        }
        let (Some(tracer), Some(wd)) = (r.tracer.as_ref(), r.i_wd) else { return };
        if wd < 0 {
            return; // the queue-overflow event: no watch
        }
        let key = (tracer.pid, r.fsnotify_group.unwrap_or(0), wd);
        let Some(dir) = self.watch_path(key) else { return };
        r.path = Some(join(&dir, &r.name));
        let mask = r.i_mask.unwrap_or(0);
        r.path_stale = about_the_watch_itself(mask) || dir.ends_with(b" (deleted)");
        if mask & IN_IGNORED != 0 {
            self.paths.remove(&key); // the wd is free for reuse from now on
        }
    }

    fn watch_path(&mut self, key: Key) -> Option<Arc<[u8]>> {
        if let Some((at, path)) = self.paths.get(&key) {
            if at.elapsed() < FRESH {
                return path.clone();
            }
        }
        if self.paths.len() >= MAX_ENTRIES {
            self.paths.clear();
            self.resolver = Resolver::default(); // it keeps each holder's mounts
        }
        let path = self.resolve(key).map(Arc::from);
        self.paths.insert(key, (Instant::now(), path.clone()));
        path
    }

    /// The watch's path from the tracer's fdinfo; None when it is not there,
    /// is ambiguous, or does not resolve to a path.
    fn resolve(&mut self, (pid, group, wd): Key) -> Option<Vec<u8>> {
        let fds: Vec<_> = super::scan_notify_fds(Some(pid))
            .into_iter()
            .filter(|f| f.kind == NotifyKind::Inotify && f.info.marks.iter().any(|m| m.wd == Some(wd)))
            .collect();
        let fd = match fds.len() {
            0 => return None,
            1 => &fds[0],
            // Several instances have this wd: only the group address tells them apart.
            _ if group != 0 => {
                let groups = super::iter::notify_files().ok()?;
                fds.iter().find(|f| groups.get(&(pid, f.fd)).is_some_and(|g| g.group == group))?
            }
            _ => return None,
        };
        let object: &Object = &fd.info.marks.iter().find(|m| m.wd == Some(wd))?.object;
        let path = self.resolver.describe(pid, object);
        // Markers such as `(deleted)` are not paths.
        path.starts_with(b"/").then_some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_join_under_their_directory() {
        assert_eq!(join(b"/tmp/w", b"file"), b"/tmp/w/file");
        assert_eq!(join(b"/tmp/w", b""), b"/tmp/w");
        assert_eq!(join(b"/", b"etc"), b"/etc");
    }

    #[test]
    fn events_about_the_watch_itself_are_told() {
        assert!(about_the_watch_itself(IN_MOVE_SELF));
        assert!(about_the_watch_itself(IN_DELETE_SELF | 0x4000_0000));
        assert!(about_the_watch_itself(IN_IGNORED));
        assert!(!about_the_watch_itself(0x0000_0100)); // IN_CREATE
    }
}
