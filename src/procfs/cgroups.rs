//! Cgroup v2 paths for the cgroup ids the kernel puts in records: a cgroup's
//! id is the inode number of its directory under the cgroup2 mount, so one
//! walk of that tree maps every live id to its path (`/system.slice/x.service`,
//! as `/proc/PID/cgroup` spells it).

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// At most one walk per this long, however many unknown ids arrive: a record
/// waits for a walk at most once a second.
const REWALK: Duration = Duration::from_secs(1);
/// A walk stops after this many cgroups (a node has hundreds; thousands at most).
const MAX_CGROUPS: usize = 1 << 16;

/// Where cgroup v2 is mounted, from mountinfo text: the first `cgroup2` mount of its root.
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    super::mountinfo::parse_mountinfo(mountinfo)
        .into_iter()
        .find(|m| m.fstype == b"cgroup2" && m.root == b"/")
        .map(|m| PathBuf::from(std::ffi::OsStr::from_bytes(&m.mount_point)))
}

/// Where the node's cgroup2 tree is, seen from here: from this mount
/// namespace's mountinfo, or with HOST_ROOT set (the tool in a container)
/// from the node's init's, under HOST_ROOT.
pub fn node_cgroup2() -> Option<PathBuf> {
    let host = crate::containers::host_root();
    if host == Path::new("/") {
        return std::fs::read_to_string("/proc/self/mountinfo").ok().and_then(|m| cgroup2_mount(&m));
    }
    let mountinfo = std::fs::read_to_string(host.join("proc/1/mountinfo")).ok()?;
    cgroup2_mount(&mountinfo).map(|m| crate::containers::under(&host, &m.to_string_lossy()))
}

/// Every cgroup under `root` by id, its path relative to `root` (the root itself is `/`).
pub fn walk(root: &Path, limit: usize) -> HashMap<u64, Arc<str>> {
    let mut out = HashMap::new();
    let mut todo = vec![(root.to_path_buf(), String::from("/"))];
    while let Some((dir, rel)) = todo.pop() {
        let Ok(meta) = std::fs::metadata(&dir) else { continue };
        out.insert(meta.ino(), Arc::from(rel.as_str()));
        if out.len() >= limit {
            break;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let name = e.file_name().to_string_lossy().into_owned();
                let child = if rel == "/" { format!("/{name}") } else { format!("{rel}/{name}") };
                todo.push((e.path(), child));
            }
        }
    }
    out
}

/// `open_by_handle_at(2)`'s handle of a kernfs node: its 64-bit id (a
/// cgroup's id, as BPF reads it) under handle type FILEID_KERNFS.
#[repr(C)]
struct KernfsHandle {
    handle_bytes: u32,
    handle_type: i32,
    id: u64,
}

const FILEID_KERNFS: i32 = 0xfe;

/// How looking one cgroup up by its id went.
#[derive(Debug, PartialEq, Eq)]
pub enum ById {
    Found(Arc<str>),
    /// The kernel has no such cgroup (any more).
    Gone,
    /// This kernel or these privileges do not allow it: walk the tree instead.
    Unsupported,
}

/// The path of cgroup `id` under the cgroup2 mount open as `mount_fd`, asked
/// of the kernel directly: no walk, so a cgroup made a moment ago is found.
pub fn path_by_id(mount_fd: &std::fs::File, root: &Path, id: u64) -> ById {
    use std::os::fd::{AsRawFd, FromRawFd};
    let handle = KernfsHandle { handle_bytes: 8, handle_type: FILEID_KERNFS, id };
    // SAFETY: the handle is a valid struct file_handle of 8 bytes; the result is an fd or -1.
    let fd = unsafe {
        libc::syscall(libc::SYS_open_by_handle_at, mount_fd.as_raw_fd(), &handle as *const KernfsHandle, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
    };
    if fd < 0 {
        return match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ESTALE) | Some(libc::ENOENT) => ById::Gone,
            _ => ById::Unsupported,
        };
    }
    // SAFETY: a new fd this function owns.
    let dir = unsafe { std::fs::File::from_raw_fd(fd as i32) };
    let Ok(abs) = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())) else { return ById::Unsupported };
    match abs.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => ById::Found(Arc::from("/")),
        Ok(rel) => ById::Found(Arc::from(format!("/{}", rel.to_string_lossy()).as_str())),
        // A path outside the mount seen from here (another mount namespace's view).
        Err(_) => ById::Unsupported,
    }
}

/// The id → path cache. An unknown id is asked of the kernel by its handle;
/// where that is not allowed, a walk rebuilds the cache (at most once per
/// [`REWALK`], so removed cgroups leave it). An id that is gone gives `None`.
#[derive(Default)]
pub struct CgroupPaths {
    /// `None` until the first lookup; `Some(None)` where no cgroup2 is mounted.
    root: Option<Option<(PathBuf, Option<std::fs::File>)>>,
    paths: crate::names::IdMap<u64, Option<Arc<str>>>,
    walked: Option<Instant>,
}

impl CgroupPaths {
    pub fn path(&mut self, id: u64) -> Option<Arc<str>> {
        if id == 0 {
            return None;
        }
        if let Some(p) = self.paths.get(&id) {
            return p.clone();
        }
        let (root, mount_fd) = self
            .root
            .get_or_insert_with(|| node_cgroup2().map(|r| {
                let fd = std::fs::File::open(&r).ok();
                (r, fd)
            }))
            .as_ref()?;
        if self.paths.len() >= MAX_CGROUPS {
            self.paths.clear();
        }
        if let Some(fd) = mount_fd {
            match path_by_id(fd, root, id) {
                ById::Found(p) => {
                    self.paths.insert(id, Some(p.clone()));
                    return Some(p);
                }
                ById::Gone => {
                    self.paths.insert(id, None);
                    return None;
                }
                ById::Unsupported => {}
            }
        }
        if self.walked.is_some_and(|t| t.elapsed() < REWALK) {
            return None;
        }
        let root = root.clone();
        self.paths = walk(&root, MAX_CGROUPS).into_iter().map(|(k, v)| (k, Some(v))).collect();
        self.walked = Some(Instant::now());
        self.paths.get(&id).cloned().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup2_mount_is_found_in_a_hybrid_mountinfo() {
        let m = "30 25 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755\n\
                 31 30 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
                 40 30 0:35 /sub /mnt/bind rw - cgroup2 cgroup2 rw\n\
                 41 30 0:35 / /sys/fs/cgroup/unified\\040v2 rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount(m), Some(PathBuf::from("/sys/fs/cgroup/unified v2")));
        assert_eq!(cgroup2_mount("31 30 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"), None);
    }

    #[test]
    fn a_walk_names_each_directory_by_its_inode() {
        let root = std::env::temp_dir().join(format!("fsg-cgwalk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("a.slice/b.scope")).unwrap();
        std::fs::write(root.join("a.slice/cgroup.procs"), b"").unwrap();
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        let m = walk(&root, 100);
        assert_eq!(m.len(), 3, "{m:?}");
        assert_eq!(m[&ino(&root)].as_ref(), "/");
        assert_eq!(m[&ino(&root.join("a.slice/b.scope"))].as_ref(), "/a.slice/b.scope");
        assert_eq!(walk(&root, 1).len(), 1, "a walk stops at its limit");
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// Whether a mountinfo text has a cgroup2 mount of the hierarchy's root, read
    /// field by field (`ID PARENT MAJ:MIN ROOT POINT OPTIONS ... - FSTYPE ...`).
    fn mounts_cgroup2_root(mountinfo: &str) -> bool {
        mountinfo.lines().any(|l| {
            let Some((fields, fs)) = l.split_once(" - ") else { return false };
            fs.split(' ').next() == Some("cgroup2") && fields.split(' ').nth(3) == Some("/")
        })
    }

    /// On a host with cgroup2 mounted, the kernel names this process's own
    /// cgroup by its id. A host on cgroup v1 alone has none, and then (only
    /// then) the tool finds no tree to look ids up in.
    #[test]
    fn the_kernel_gives_a_cgroups_path_by_its_id() {
        let mounted = mounts_cgroup2_root(&std::fs::read_to_string("/proc/self/mountinfo").unwrap());
        let found = node_cgroup2();
        assert_eq!(found.is_some(), mounted, "cgroup2 found at {found:?}; mounted per /proc/self/mountinfo: {mounted}");
        let Some(root) = found else { return };
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let rel = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap().to_string();
        let id = std::fs::metadata(root.join(rel.trim_start_matches('/'))).unwrap().ino();
        let fd = std::fs::File::open(&root).unwrap();
        match path_by_id(&fd, &root, id) {
            // Not root: open_by_handle_at needs CAP_DAC_READ_SEARCH.
            ById::Unsupported if !nix::unistd::Uid::effective().is_root() => {}
            got => assert_eq!(got, ById::Found(Arc::from(rel.as_str()))),
        }
        if nix::unistd::Uid::effective().is_root() {
            assert_eq!(path_by_id(&fd, &root, u64::MAX - 7), ById::Gone);
        }
    }
}
