//! The path of an inotify record: what its watch is on (from the tracer's
//! fdinfo, the way `list` resolves it), joined with the event's name.
//!
//! A watch is looked up by (tracer pid, group, wd) and its path kept for
//! [`FRESH`]; every watch there is is looked up once at the start
//! ([`WatchPaths::prime`]), so that records read after a directory moved, of
//! events from before, have the path of their time. A directory renamed where
//! its watcher does not see it is shown under its new name within [`FRESH`];
//! once a batch each cached path is checked to still name its inode, and when it
//! does not, a record queued while the old path was last known right keeps it, one
//! queued between then and the check gets the new path marked stale. When the tracer does see a directory move
//! (IN_MOVED_FROM/TO with IN_ISDIR, IN_MOVE_SELF), every path it had is looked
//! up again for the records after that one, so none shows the old place. A watch
//! not in the tracer's fdinfo (it exited, or removed the watch) has no path,
//! never a guessed one. Records about the watch itself moving or going
//! (IN_MOVE_SELF, IN_DELETE_SELF, IN_IGNORED) are marked stale: the path is
//! the one resolved at read time, which may already be the new place.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libc::{IN_DELETE_SELF, IN_IGNORED, IN_ISDIR, IN_MOVED_FROM, IN_MOVED_TO, IN_MOVE_SELF};

use super::fdinfo::Object;
use super::resolve::Resolver;
use super::NotifyKind;
use crate::model::{EventType, Record};

/// How long a resolved path is reused.
pub const FRESH: Duration = Duration::from_secs(30);
/// How soon a watch that could not be named is looked up again.
const RETRY: Duration = Duration::from_secs(2);
/// Watches cached at most; past it the cache starts again empty.
const MAX_ENTRIES: usize = 1 << 16;

/// (tracer pid, fsnotify_group address or 0 when the record has none, wd).
type Key = (u32, u64, i32);

/// What is known of one watch.
#[derive(Clone)]
struct Entry {
    at: Instant,
    /// None: the watch could not be named.
    path: Option<Arc<[u8]>>,
    /// (inode, device) of the watched object, as its fdinfo gives them.
    inode: Option<(u64, (u32, u32))>,
    /// The batch in which the path was last checked to still name that inode.
    checked: u64,
    /// Wall-clock ns when the path was last known to name the watched object.
    verified: u64,
    /// Wall-clock ns at or before which the group it was looked up in, at the key's address,
    /// was alive: the read time of the record that had it looked up (or, for those found at
    /// the start, the time before the scan). A lookup takes time (the task_file iterator
    /// loads a program): a time taken after it could follow the group's teardown.
    resolved: u64,
    /// When the path was found to have changed: the one before, the last time it was known
    /// right, and when the new one was found. An event queued between those two times may be
    /// of either place.
    before: Option<Moved>,
}

#[derive(Clone)]
struct Moved {
    path: Arc<[u8]>,
    verified: u64,
    found: u64,
}

fn wall_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

#[derive(Default)]
pub struct WatchPaths {
    paths: HashMap<Key, Entry>,
    resolver: Resolver,
    batch: u64,
    /// (pid, fd) -> group of every notify fd, as the task_file iterator saw them in the
    /// batch `groups_batch`: read at most once a batch, and only when a path is resolved.
    groups: HashMap<(u32, u32), u64>,
    groups_batch: Option<u64>,
    /// Groups torn down: address -> wall-clock ns when (the backends see each teardown).
    gone: HashMap<u64, u64>,
}

/// Teardowns remembered at most; past it every cached path is looked up again.
const MAX_GONE: usize = 4096;

/// (inode, device) of what `path` names now.
fn inode_of(path: &[u8]) -> Option<(u64, (u32, u32))> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(std::ffi::OsStr::from_bytes(path)).ok()?;
    let dev = m.dev();
    Some((m.ino(), (libc::major(dev), libc::minor(dev))))
}

fn object_inode(object: &Object) -> Option<(u64, (u32, u32))> {
    match object {
        Object::Inode { ino, sdev, .. } => Some((*ino, super::mountinfo::dev_of_sdev(*sdev))),
        _ => None,
    }
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

/// Whether the event says a directory moved: every path under it, so every
/// watch path of its tracer that was resolved before, may now be another.
pub fn a_directory_moved(mask: u32) -> bool {
    mask & IN_MOVE_SELF != 0 || (mask & IN_ISDIR != 0 && mask & (IN_MOVED_FROM | IN_MOVED_TO) != 0)
}

/// Whether the event is about the watched object moving or its watch going.
pub fn about_the_watch_itself(mask: u32) -> bool {
    mask & (IN_MOVE_SELF | IN_DELETE_SELF | IN_IGNORED) != 0
}

impl WatchPaths {
    /// A new batch of records: each watch's path is checked again, once, on its next record.
    pub fn new_batch(&mut self) {
        self.batch += 1;
    }

    /// The group at `group` was torn down at `at` (wall-clock ns): what was cached of its
    /// watches serves only records read before then.
    pub fn group_gone(&mut self, group: u64, at: u64) {
        if self.gone.len() >= MAX_GONE {
            self.gone.clear();
            self.paths.clear();
        }
        let t = self.gone.entry(group).or_insert(at);
        *t = (*t).max(at);
    }

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
        // When the tracee queued it (the record's time is when it was read).
        let queued = r.timestamp_ns.saturating_sub(r.latency_ns.unwrap_or(0));
        let Some((dir, moved)) = self.watch_path(key, queued, r.timestamp_ns) else { return };
        r.path = Some(join(&dir, &r.name));
        let mask = r.i_mask.unwrap_or(0);
        r.path_stale = moved || about_the_watch_itself(mask) || dir.ends_with(b" (deleted)");
        if mask & IN_IGNORED != 0 {
            self.paths.remove(&key); // the wd is free for reuse from now on
        }
        if a_directory_moved(mask) {
            // The records after this one in the queue came after the move: look again.
            let (pid, group, _) = key;
            self.paths.retain(|&(p, g, _), _| (p, g) != (pid, group));
        }
    }

    /// Resolves every inotify watch on the machine now, at the start: a record
    /// read later, of an event from before a directory moved, then gets the path
    /// the watch had (up to half the cache; the rest are looked up as they come).
    pub fn prime(&mut self) {
        let (now, wall) = (Instant::now(), wall_now());
        let fds: Vec<_> = super::scan_notify_fds(None).into_iter().filter(|f| f.kind == NotifyKind::Inotify).collect();
        let groups = super::iter::notify_files().unwrap_or_default();
        for f in &fds {
            let Some(group) = groups.get(&(f.pid, f.fd)).map(|g| g.group) else { continue };
            for m in &f.info.marks {
                let Some(wd) = m.wd else { continue };
                if self.paths.len() >= MAX_ENTRIES / 2 {
                    return;
                }
                let path = self.resolver.describe(f.pid, &m.object);
                let path: Option<Arc<[u8]>> = path.starts_with(b"/").then(|| Arc::from(path));
                let entry =
                    Entry { at: now, path, inode: object_inode(&m.object), checked: self.batch, verified: wall, resolved: wall, before: None };
                self.paths.insert((f.pid, group, wd), entry);
            }
        }
    }

    /// The watch's path for an event queued at `queued` (wall-clock ns), and whether it
    /// may be stale: the watch was found to have moved, and the event may be of before.
    fn watch_path(&mut self, key: Key, queued: u64, read: u64) -> Option<(Arc<[u8]>, bool)> {
        // Looked up in a group at this address that was torn down before this record was
        // read: the address may now be another group's, with other watches on its wds.
        if self.gone.get(&key.1).is_some_and(|&down| read > down && self.paths.get(&key).is_some_and(|e| e.resolved < down)) {
            self.paths.remove(&key);
        }
        let mut before = None;
        if let Some(e) = self.paths.get_mut(&key) {
            let fresh = e.at.elapsed() < if e.path.is_some() { FRESH } else { RETRY };
            match (&e.path, fresh) {
                (None, true) => return None,
                (Some(path), true) if e.checked == self.batch => return Some(Self::as_of(path, e.before.as_ref(), queued)),
                // Once a batch: does the path still name the watched object? A move the
                // tracer saw no record of (kernel filters leave them out) shows here.
                (Some(path), true) => {
                    if e.inode.is_none() || inode_of(path) == e.inode {
                        e.checked = self.batch;
                        e.verified = wall_now();
                        return Some(Self::as_of(path, e.before.as_ref(), queued));
                    }
                    before = Some(Moved { path: path.clone(), verified: e.verified, found: 0 });
                }
                _ => {}
            }
        }
        if self.paths.len() >= MAX_ENTRIES {
            self.paths.clear();
            self.resolver = Resolver::default(); // it keeps each holder's mounts
        }
        let (path, inode) = self.resolve(key).map_or((None, None), |(p, i)| (Some(Arc::from(p)), i));
        let wall = wall_now();
        let before = before.filter(|b| path.as_ref() != Some(&b.path)).map(|b| Moved { found: wall, ..b });
        let entry = Entry { at: Instant::now(), path: path.clone(), inode, checked: self.batch, verified: wall, resolved: read, before };
        let answer = path.map(|p| Self::as_of(&p, entry.before.as_ref(), queued));
        self.paths.insert(key, entry);
        answer
    }

    /// Which of a watch's paths an event queued at `queued` had: the one before a move
    /// when it was queued while that one was still known right, the current one marked
    /// stale when it was queued between then and the move being found, else the current one.
    fn as_of(path: &Arc<[u8]>, before: Option<&Moved>, queued: u64) -> (Arc<[u8]>, bool) {
        match before {
            Some(b) if queued <= b.verified => (b.path.clone(), false),
            Some(b) if queued < b.found => (path.clone(), true),
            _ => (path.clone(), false),
        }
    }

    /// The watch's path from the tracer's fdinfo; None when it is not there, the
    /// record's group is unknown, or it does not resolve to a path.
    ///
    /// Only the fd whose group is the record's serves, even when the tracer has one
    /// instance with that wd: the tracer may have closed the group it read from and
    /// opened another (its wd 1 on another directory) before the record got here.
    /// A record with no group (the backend could not tell which queue it came from)
    /// gets no path: any instance of the tracer's would be a guess it can steer.
    fn resolve(&mut self, (pid, group, wd): Key) -> Option<(Vec<u8>, Option<(u64, (u32, u32))>)> {
        if group == 0 {
            return None;
        }
        let fds: Vec<_> = super::scan_notify_fds(Some(pid))
            .into_iter()
            .filter(|f| f.kind == NotifyKind::Inotify && f.info.marks.iter().any(|m| m.wd == Some(wd)))
            .collect();
        if fds.is_empty() {
            return None;
        }
        // After the fdinfo, so that an fd swapped in between does not match.
        if self.groups_batch != Some(self.batch) {
            let files = super::iter::notify_files().ok()?;
            self.groups = files.into_iter().map(|(key, f)| (key, f.group)).collect();
            self.groups_batch = Some(self.batch);
        }
        let fd = fds.iter().find(|f| self.groups.get(&(pid, f.fd)) == Some(&group))?;
        let object: &Object = &fd.info.marks.iter().find(|m| m.wd == Some(wd))?.object;
        let path = self.resolver.describe(pid, object);
        // Markers such as `(deleted)` are not paths.
        path.starts_with(b"/").then(|| (path, object_inode(object)))
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

    #[test]
    fn a_moved_watch_gives_each_event_the_path_of_its_time() {
        let (old, new): (Arc<[u8]>, Arc<[u8]>) = (Arc::from(&b"/w/sub"[..]), Arc::from(&b"/w/moved"[..]));
        let before = Moved { path: old.clone(), verified: 100, found: 200 };
        assert_eq!(WatchPaths::as_of(&new, Some(&before), 90), (old.clone(), false));
        assert_eq!(WatchPaths::as_of(&new, Some(&before), 100), (old, false));
        assert_eq!(WatchPaths::as_of(&new, Some(&before), 150), (new.clone(), true));
        assert_eq!(WatchPaths::as_of(&new, Some(&before), 200), (new.clone(), false));
        assert_eq!(WatchPaths::as_of(&new, None, 150), (new, false));
    }

    #[test]
    fn a_directory_moving_is_told_from_a_file_moving() {
        assert!(a_directory_moved(IN_MOVED_FROM | IN_ISDIR));
        assert!(a_directory_moved(IN_MOVED_TO | IN_ISDIR));
        assert!(a_directory_moved(IN_MOVE_SELF));
        assert!(!a_directory_moved(IN_MOVED_FROM));
        assert!(!a_directory_moved(IN_ISDIR | 0x100)); // a directory created
    }
}
