//! What a watch or mark is on, as a path: inode marks through the file handle
//! fdinfo shows (`open_by_handle_at`, then the opened fd's link), mount and
//! filesystem marks through the holder's mountinfo.
//!
//! Results that are not paths are in parentheses (`(deleted)`, `(mount 0x1b:
//! /mnt)`, ...); a path always starts with `/`.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use super::fdinfo::Object;
use super::mountinfo::{self, MountEntry};

#[derive(Default)]
pub struct Resolver {
    own_mounts: Option<Vec<MountEntry>>,
    /// One open directory per device, to anchor open_by_handle_at; None when
    /// none could be opened.
    anchors: HashMap<(u32, u32), Option<OwnedFd>>,
    /// Each holder's mounts (its mount namespace may differ from ours).
    pid_mounts: HashMap<u32, Vec<MountEntry>>,
}

fn open_dir(path: &[u8]) -> Option<OwnedFd> {
    let c = CString::new(path).ok()?;
    // SAFETY: a valid C string; the result is checked.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    // SAFETY: a fresh fd that nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Mounts of `dev`, those showing the whole filesystem (root `/`) first.
fn mounts_of(mounts: &[MountEntry], dev: (u32, u32)) -> impl Iterator<Item = &MountEntry> {
    let whole = mounts.iter().filter(move |m| m.dev == dev && m.root == b"/");
    let parts = mounts.iter().filter(move |m| m.dev == dev && m.root != b"/");
    whole.chain(parts)
}

/// Opens (O_PATH) the file a handle names on the filesystem `anchor` is on (needs
/// CAP_DAC_READ_SEARCH); the error is the errno.
pub fn open_by_handle(anchor: BorrowedFd, handle_type: i32, bytes: &[u8]) -> Result<OwnedFd, i32> {
    let mut buf = Vec::with_capacity(8 + bytes.len());
    buf.extend_from_slice(&(bytes.len() as u32).to_ne_bytes());
    buf.extend_from_slice(&handle_type.to_ne_bytes());
    buf.extend_from_slice(bytes);
    // SAFETY: buf is a struct file_handle of the size its header says.
    let fd = unsafe {
        libc::syscall(libc::SYS_open_by_handle_at, anchor.as_raw_fd(), buf.as_mut_ptr(), libc::O_PATH | libc::O_CLOEXEC)
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    // SAFETY: a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn dev_text(dev: (u32, u32)) -> String {
    format!("{}:{}", dev.0, dev.1)
}

fn errno_name(e: i32) -> String {
    std::io::Error::from_raw_os_error(e).to_string()
}

impl Resolver {
    fn pid_mounts(&mut self, pid: u32) -> &[MountEntry] {
        self.pid_mounts.entry(pid).or_insert_with(|| {
            std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).map(|t| mountinfo::parse_mountinfo(&t)).unwrap_or_default()
        })
    }

    /// An open directory on `dev`: from our mounts, else through the holder's root.
    fn anchor(&mut self, pid: u32, dev: (u32, u32)) -> Option<&OwnedFd> {
        if !self.anchors.contains_key(&dev) || self.anchors[&dev].is_none() {
            let own = self.own_mounts.get_or_insert_with(|| {
                std::fs::read_to_string("/proc/self/mountinfo").map(|t| mountinfo::parse_mountinfo(&t)).unwrap_or_default()
            });
            let mut fd = mounts_of(own, dev).find_map(|m| open_dir(&m.mount_point));
            if fd.is_none() {
                let theirs: Vec<Vec<u8>> = mounts_of(self.pid_mounts(pid), dev).map(|m| m.mount_point.clone()).collect();
                fd = theirs.iter().find_map(|mp| {
                    let mut p = format!("/proc/{pid}/root").into_bytes();
                    p.extend_from_slice(mp);
                    open_dir(&p)
                });
            }
            self.anchors.insert(dev, fd);
        }
        self.anchors.get(&dev).and_then(Option::as_ref)
    }

    /// The path (or a parenthesized marker) of what a mark held by `pid` is on.
    pub fn describe(&mut self, pid: u32, object: &Object) -> Vec<u8> {
        match object {
            Object::Inode { sdev, handle, .. } => {
                let dev = mountinfo::dev_of_sdev(*sdev);
                let Some(h) = handle else { return b"(no file handle in fdinfo)".to_vec() };
                let Some(anchor) = self.anchor(pid, dev) else {
                    return format!("(filesystem {} not reachable)", dev_text(dev)).into_bytes();
                };
                match open_by_handle(anchor.as_fd(), h.handle_type, &h.bytes) {
                    Ok(fd) => match std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())) {
                        Ok(p) => p.as_os_str().as_bytes().to_vec(),
                        Err(e) => format!("(unresolved: {e})").into_bytes(),
                    },
                    Err(libc::ESTALE) => b"(deleted)".to_vec(),
                    Err(e) => format!("(unresolved: {})", errno_name(e)).into_bytes(),
                }
            }
            Object::Mount { mnt_id } => {
                let mp = self.pid_mounts(pid).iter().find(|m| m.mnt_id == *mnt_id).map(|m| m.mount_point.clone());
                let mut out = format!("(mount {mnt_id:#x}").into_bytes();
                if let Some(mp) = mp {
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(&mp);
                }
                out.push(b')');
                out
            }
            Object::Filesystem { sdev } => {
                let dev = mountinfo::dev_of_sdev(*sdev);
                let mp = mounts_of(self.pid_mounts(pid), dev).next().map(|m| m.mount_point.clone());
                let mut out = format!("(filesystem {}", dev_text(dev)).into_bytes();
                if let Some(mp) = mp {
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(&mp);
                }
                out.push(b')');
                out
            }
            Object::MountNs { ns } => format!("(mount namespace {ns})").into_bytes(),
        }
    }

    /// The device of a mark's object, when it has one.
    pub fn dev(&mut self, pid: u32, object: &Object) -> Option<(u32, u32)> {
        match object {
            Object::Inode { sdev, .. } | Object::Filesystem { sdev } => Some(mountinfo::dev_of_sdev(*sdev)),
            Object::Mount { mnt_id } => self.pid_mounts(pid).iter().find(|m| m.mnt_id == *mnt_id).map(|m| m.dev),
            Object::MountNs { .. } => None,
        }
    }
}
