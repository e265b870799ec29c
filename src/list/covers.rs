//! `list --path PATH`: which watches and marks cover a path, and which of its
//! events each would get. Pure but for [`Target::of`], which stats the path.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::FAN_EVENT_ON_CHILD;

use crate::procfs::fdinfo::{Mark, Object};
use crate::procfs::mountinfo::dev_of_sdev;
use crate::procfs::NotifyKind;

/// What a path is, as marks name their objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The path as asked, made absolute (and canonical where it exists).
    pub path: PathBuf,
    /// (device, inode) of the path; None when it does not exist (yet).
    pub inode: Option<((u32, u32), u64)>,
    /// (device, inode) of the directory it is in.
    pub parent: Option<((u32, u32), u64)>,
    /// The mount it is on (or would be), as mountinfo numbers it.
    pub mnt_id: Option<u32>,
    /// The filesystem's device.
    pub dev: Option<(u32, u32)>,
}

/// How a mark covers the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// A watch or mark on the path's own inode.
    Itself,
    /// On the directory it is in: events on its entries.
    Parent,
    /// A fanotify mount mark on its mount.
    Mount,
    /// A fanotify filesystem mark on its filesystem.
    Filesystem,
}

impl On {
    pub fn name(self) -> &'static str {
        match self {
            On::Itself => "itself",
            On::Parent => "parent",
            On::Mount => "mount",
            On::Filesystem => "filesystem",
        }
    }
}

/// (dev, ino, mnt_id) of a path, through statx.
fn statx(path: &Path) -> Option<((u32, u32), u64, Option<u32>)> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: a valid C string and a zeroed statx buffer the kernel fills.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statx(libc::AT_FDCWD, c.as_ptr(), 0, libc::STATX_INO | libc::STATX_MNT_ID, &mut st) };
    if r != 0 {
        return None;
    }
    let mnt = (st.stx_mask & libc::STATX_MNT_ID != 0).then_some(st.stx_mnt_id as u32);
    Some(((st.stx_dev_major, st.stx_dev_minor), st.stx_ino, mnt))
}

impl Target {
    /// Stats `path` and its directory; a path that does not exist is still a
    /// target, through its directory (a watch there sees it created).
    pub fn of(path: &Path) -> Target {
        let abs = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(path) };
        let path = std::fs::canonicalize(&abs).unwrap_or_else(|_| match (abs.parent(), abs.file_name()) {
            (Some(dir), Some(name)) => std::fs::canonicalize(dir).map(|d| d.join(name)).unwrap_or(abs.clone()),
            _ => abs.clone(),
        });
        let own = statx(&path);
        let parent = path.parent().and_then(statx);
        let mnt_id = own.and_then(|o| o.2).or(parent.and_then(|p| p.2));
        let dev = own.map(|o| o.0).or(parent.map(|p| p.0));
        Target { inode: own.map(|o| (o.0, o.1)), parent: parent.map(|p| (p.0, p.1)), mnt_id, dev, path }
    }

    /// How `mark` covers this path, if it does.
    pub fn covered_by(&self, mark: &Mark) -> Option<On> {
        match &mark.object {
            Object::Inode { ino, sdev, .. } => {
                let at = (dev_of_sdev(*sdev), *ino);
                if self.inode == Some(at) {
                    Some(On::Itself)
                } else if self.parent == Some(at) {
                    Some(On::Parent)
                } else {
                    None
                }
            }
            Object::Mount { mnt_id } => (self.mnt_id == Some(*mnt_id)).then_some(On::Mount),
            Object::Filesystem { sdev } => (self.dev == Some(dev_of_sdev(*sdev))).then_some(On::Filesystem),
            Object::MountNs { .. } => None,
        }
    }
}

// The fsnotify event bits, the same in inotify and fanotify masks.
const ACCESS_OPEN: u64 = 0x20;
const MODIFY: u64 = 0x2;
const ATTRIB: u64 = 0x4;
const CLOSE_WRITE: u64 = 0x8;
const MOVED: u64 = 0x40 | 0x80;
const CREATE: u64 = 0x100;
const DELETE: u64 = 0x200;
const DELETE_SELF: u64 = 0x400;
const MOVE_SELF: u64 = 0x800;
const OPEN_PERM: u64 = 0x1_0000;

/// Which of the path's events (open, modify, close_write, create, delete,
/// move, attrib, and open_perm for a fanotify permission check) a watcher
/// with this mask, covering the path this way, would get.
pub fn events_got(kind: NotifyKind, on: On, mask: u64, ignored: u64) -> Vec<&'static str> {
    let mask = mask & !(ignored & !FAN_EVENT_ON_CHILD);
    // Events on the file itself reach a parent's watch: inotify's always, fanotify's with FAN_EVENT_ON_CHILD.
    let file_events = match (on, kind) {
        (On::Parent, NotifyKind::Fanotify) => mask & FAN_EVENT_ON_CHILD != 0,
        _ => true,
    };
    let mut got = Vec::new();
    let mut add = |name, bits: u64, when: bool| {
        if when && mask & bits != 0 {
            got.push(name);
        }
    };
    add("open", ACCESS_OPEN, file_events);
    add("open_perm", OPEN_PERM, file_events && kind == NotifyKind::Fanotify);
    add("modify", MODIFY, file_events);
    add("close_write", CLOSE_WRITE, file_events);
    // Entries made, removed and renamed are events of their directory; a mark
    // on the file itself sees its own removal and renaming instead.
    add("create", CREATE, matches!(on, On::Parent | On::Filesystem));
    add("delete", DELETE, matches!(on, On::Parent | On::Filesystem));
    add("delete", DELETE_SELF, on == On::Itself);
    add("move", MOVED, matches!(on, On::Parent | On::Filesystem));
    add("move", MOVE_SELF, on == On::Itself);
    add("attrib", ATTRIB, file_events);
    got.dedup();
    got
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            path: "/etc/nginx/nginx.conf".into(),
            inode: Some(((254, 1), 100)),
            parent: Some(((254, 1), 50)),
            mnt_id: Some(27),
            dev: Some((254, 1)),
        }
    }

    fn mark(object: Object) -> Mark {
        Mark { wd: Some(1), object, mflags: None, mask: 0, ignored_mask: 0 }
    }

    #[test]
    fn marks_cover_by_inode_parent_mount_or_filesystem() {
        let t = target();
        let sdev = (254 << 20) | 1;
        assert_eq!(t.covered_by(&mark(Object::Inode { ino: 100, sdev, handle: None })), Some(On::Itself));
        assert_eq!(t.covered_by(&mark(Object::Inode { ino: 50, sdev, handle: None })), Some(On::Parent));
        assert_eq!(t.covered_by(&mark(Object::Inode { ino: 100, sdev: 7, handle: None })), None);
        assert_eq!(t.covered_by(&mark(Object::Mount { mnt_id: 27 })), Some(On::Mount));
        assert_eq!(t.covered_by(&mark(Object::Mount { mnt_id: 28 })), None);
        assert_eq!(t.covered_by(&mark(Object::Filesystem { sdev })), Some(On::Filesystem));
        let missing = Target { inode: None, ..target() };
        assert_eq!(missing.covered_by(&mark(Object::Inode { ino: 100, sdev, handle: None })), None);
    }

    #[test]
    fn what_each_watcher_gets() {
        use NotifyKind::*;
        // inotifywait on the directory (IN_ALL_EVENTS).
        assert_eq!(events_got(Inotify, On::Parent, 0xfff, 0), ["open", "modify", "close_write", "create", "delete", "move", "attrib"]);
        // tail -f: IN_MODIFY|IN_ATTRIB|IN_DELETE_SELF|IN_MOVE_SELF on the file.
        assert_eq!(events_got(Inotify, On::Itself, 0x2 | 0x4 | 0x400 | 0x800, 0), ["modify", "delete", "move", "attrib"]);
        // A fanotify directory mark without FAN_EVENT_ON_CHILD sees nothing of its files.
        assert_eq!(events_got(Fanotify, On::Parent, 0x20 | 0x10000, 0), Vec::<&str>::new());
        assert_eq!(events_got(Fanotify, On::Parent, 0x20 | 0x10000 | FAN_EVENT_ON_CHILD, 0), ["open", "open_perm"]);
        // fatrace-like filesystem mark, with an ignored modify.
        assert_eq!(events_got(Fanotify, On::Filesystem, 0x20 | 0x2 | 0x8 | 0x100, 0x2), ["open", "close_write", "create"]);
    }
}
