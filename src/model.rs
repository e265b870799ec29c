//! The one event model. Every backend fills a [`Record`]; filtering, output
//! and enrichment only ever see this type, never which backend produced it.
//!
//! Fields a backend cannot know are `None`: JSON prints them as `null`,
//! columns leave them blank.

use std::sync::Arc;

/// What kind of record this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// An inotify event read by its tracer.
    Inotify,
    /// A fanotify event read by its tracer.
    Fanotify,
    /// The answer to a fanotify permission event.
    FaResp,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Inotify => "inotify",
            EventType::Fanotify => "fanotify",
            EventType::FaResp => "fa_resp",
        }
    }
}

/// The answer to a fanotify permission event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaResponse {
    /// Not a permission event, or not answered yet.
    Na,
    Allow,
    Deny,
    /// The permission event ended without an answer (the tracee was killed
    /// while it waited, or the request was cancelled).
    Interrupted,
}

impl FaResponse {
    pub fn as_str(self) -> &'static str {
        match self {
            FaResponse::Na => "na",
            FaResponse::Allow => "allow",
            FaResponse::Deny => "deny",
            FaResponse::Interrupted => "interrupted",
        }
    }

    /// Decodes the `response` value a fanotify permission event holds
    /// (`FAN_ALLOW`, `FAN_DENY`, possibly with `FAN_AUDIT`/`FAN_INFO` bits),
    /// or 0 when it ended unanswered.
    pub fn from_kernel(response: u32) -> FaResponse {
        const FAN_ALLOW: u32 = 0x01;
        const FAN_DENY: u32 = 0x02;
        match response & 0x03 {
            0 => FaResponse::Interrupted,
            FAN_ALLOW => FaResponse::Allow,
            FAN_DENY => FaResponse::Deny,
            _ => FaResponse::Deny, // the kernel treats anything but ALLOW as a denial
        }
    }
}

/// A process name as the kernel keeps it (`TASK_COMM_LEN`, 16 bytes), held
/// inline: records are made at up to a million a second, and a heap
/// allocation per comm was a large part of their cost. Raw bytes: a comm is
/// whatever the process set, not necessarily UTF-8.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Comm {
    len: u8,
    bytes: [u8; Comm::MAX],
}

impl Comm {
    /// The size of the kernel's comm fields (FSG_COMM_LEN in src/bpf/proc_info.h).
    pub const MAX: usize = 16;

    /// The first [`Comm::MAX`] bytes of `b`: every comm the backends read
    /// comes from a 16-byte kernel field, so nothing they give is cut.
    pub fn new(b: &[u8]) -> Comm {
        let len = b.len().min(Comm::MAX);
        let mut bytes = [0; Comm::MAX];
        bytes[..len].copy_from_slice(&b[..len]);
        Comm { len: len as u8, bytes }
    }

    /// The bytes of a C string field, up to its first NUL.
    pub fn from_c(raw: &[u8]) -> Comm {
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        Comm::new(&raw[..end])
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The length and the bytes as two words (every byte past the length is
    /// zero), for keys that hash and compare a comm at once.
    pub fn words(&self) -> (u8, [u64; 2]) {
        let word = |i: usize| u64::from_ne_bytes(self.bytes[i..i + 8].try_into().expect("8 bytes"));
        (self.len, [word(0), word(8)])
    }
}

impl std::ops::Deref for Comm {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl From<&[u8]> for Comm {
    fn from(b: &[u8]) -> Comm {
        Comm::new(b)
    }
}

impl<const N: usize> From<&[u8; N]> for Comm {
    fn from(b: &[u8; N]) -> Comm {
        Comm::new(b)
    }
}

impl From<&str> for Comm {
    fn from(s: &str) -> Comm {
        Comm::new(s.as_bytes())
    }
}

impl PartialEq<[u8]> for Comm {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl<const N: usize> PartialEq<&[u8; N]> for Comm {
    fn eq(&self, other: &&[u8; N]) -> bool {
        self.as_bytes() == &other[..]
    }
}

/// One side of an event: the process that caused it (tracee) or the one that
/// read it (tracer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub comm: Comm,
    pub pcomm: Comm,
    pub uid: u32,
    pub gid: u32,
    /// Filled by enrichment from `uid`; `None` when the name is unknown.
    /// Shared with the lookup cache rather than copied into every record.
    pub user: Option<Arc<str>>,
    pub group: Option<Arc<str>>,
    pub mntns_id: u64,
    /// The cgroup v2 id, read in the process's own context; 0 where unknown.
    pub cgroup_id: u64,
    /// Filled by enrichment from `cgroup_id`: the cgroup v2 path; `None` when unknown.
    pub cgroup: Option<Arc<str>>,
    /// Filled by enrichment from the cgroup and mount namespace: `None` on the host.
    pub container: Option<Arc<crate::containers::Container>>,
}

impl Proc {
    /// Whether `self` and `other` are the same process state: every number
    /// and comm equal, and the names and container the very same shared
    /// values. Cheaper than `==`, which compares the strings; two that print
    /// differently are never identical (the JSON writer relies on it).
    pub fn identical(&self, other: &Proc) -> bool {
        fn same<T: ?Sized>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
        }
        self.pid == other.pid
            && self.tid == other.tid
            && self.ppid == other.ppid
            && self.uid == other.uid
            && self.gid == other.gid
            && self.mntns_id == other.mntns_id
            && self.cgroup_id == other.cgroup_id
            && self.comm == other.comm
            && self.pcomm == other.pcomm
            && same(&self.user, &other.user)
            && same(&self.group, &other.group)
            && same(&self.cgroup, &other.cgroup)
            && same(&self.container, &other.container)
    }
}

/// One inotify/fanotify record, joined from its tracee and tracer halves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Wall-clock time of the dequeue (or of the answer, for `fa_resp`), ns since the epoch.
    pub timestamp_ns: u64,
    pub event_type: EventType,
    pub tracer: Option<Proc>,
    pub tracee: Option<Proc>,
    /// The group's priority (0 notification, 1 content, 2 pre-content).
    pub prio: Option<u32>,
    /// Address of the event's `struct fsnotify_group`.
    pub fsnotify_group: Option<u64>,
    /// Nanoseconds from queueing to dequeue (or to the answer).
    pub latency_ns: Option<u64>,
    pub i_wd: Option<i32>,
    pub i_mask: Option<u32>,
    pub i_cookie: Option<u32>,
    pub i_ino: Option<u64>,
    pub i_ino_dir: Option<u64>,
    pub fa_type: Option<u32>,
    pub fa_mask: Option<u64>,
    pub fa_pid: Option<u32>,
    pub fa_flags: Option<u32>,
    pub fa_f_flags: Option<u32>,
    pub fa_response: FaResponse,
    /// inotify: the name within the watched directory; fanotify: the path. Raw bytes.
    pub name: Vec<u8>,
    /// The kernel had more of the name than the record carries.
    pub name_truncated: bool,
    /// Why the event's file could not be named (`name` is then empty and
    /// printed as unknown, never as an empty name).
    pub name_unknown: Option<&'static str>,
    /// inotify: the watched object's path joined with `name`, filled in user
    /// space from the tracer's watches; None when that path is not known.
    /// (fanotify's path is `name` itself.)
    pub path: Option<Vec<u8>>,
    /// The path is the one resolved when the record was read, and the event
    /// says the watched object moved or went (it may not be the event's).
    pub path_stale: bool,
}

impl Record {
    /// Whether the event was read (it has a tracer) but the backend could not tell from
    /// which group's queue: `fsnotify_group` is null, and no path is guessed for it.
    pub fn group_unknown(&self) -> bool {
        self.tracer.is_some() && self.fsnotify_group.is_none()
    }

    /// An empty record of the given type, for backends to fill.
    pub fn new(event_type: EventType, timestamp_ns: u64) -> Record {
        Record {
            timestamp_ns,
            event_type,
            tracer: None,
            tracee: None,
            prio: None,
            fsnotify_group: None,
            latency_ns: None,
            i_wd: None,
            i_mask: None,
            i_cookie: None,
            i_ino: None,
            i_ino_dir: None,
            fa_type: None,
            fa_mask: None,
            fa_pid: None,
            fa_flags: None,
            fa_f_flags: None,
            fa_response: FaResponse::Na,
            name: Vec::new(),
            name_truncated: false,
            name_unknown: None,
            path: None,
            path_stale: false,
        }
    }
}

/// Bytes up to the first NUL: how the kernel's fixed-size strings end.
pub fn c_bytes(raw: &[u8]) -> Vec<u8> {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    raw[..end].to_vec()
}

/// Rebuilds a path from components stored leaf first, each ending in NUL.
/// No component means the root.
pub fn path_from_components(raw: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(raw.len() + 1);
    // From the last component (the root's child) back to the first (the leaf).
    for c in raw.rsplit(|&b| b == 0).filter(|c| !c.is_empty()) {
        path.push(b'/');
        path.extend_from_slice(c);
    }
    if path.is_empty() {
        path.push(b'/');
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components_are_reversed_and_joined() {
        assert_eq!(path_from_components(b"file\0dir\0tmp\0"), b"/tmp/dir/file");
        assert_eq!(path_from_components(b""), b"/");
        assert_eq!(path_from_components(b"etc\0"), b"/etc");
        assert_eq!(path_from_components(b"\0\0a\0\0b"), b"/b/a");
        assert_eq!(path_from_components(b"\0\0"), b"/");
    }

    #[test]
    fn identical_procs_share_their_names() {
        let user: Arc<str> = Arc::from("alice");
        let a = Proc { pid: 7, tid: 8, comm: b"vim".into(), user: Some(user.clone()), ..Default::default() };
        assert!(a.identical(&a.clone()));
        // Equal text in another allocation: equal, not identical.
        let b = Proc { user: Some(Arc::from("alice")), ..a.clone() };
        assert!(a == b && !a.identical(&b));
        for other in [
            Proc { tid: 9, ..a.clone() },
            Proc { comm: b"vi".into(), ..a.clone() },
            Proc { pcomm: b"sh".into(), ..a.clone() },
            Proc { gid: 1, ..a.clone() },
            Proc { cgroup_id: 1, ..a.clone() },
            Proc { user: None, ..a.clone() },
            Proc { group: Some(user.clone()), ..a.clone() },
            Proc { cgroup: Some(user), ..a.clone() },
        ] {
            assert!(!a.identical(&other) && !other.identical(&a), "{other:?}");
        }
    }

    #[test]
    fn comms_are_inline_c_strings() {
        assert_eq!(Comm::from_c(b"touch\0\0\0junk"), b"touch");
        assert_eq!(Comm::from_c(b"sixteen-bytes-xx"), b"sixteen-bytes-xx");
        assert_eq!(Comm::new(b"seventeen-bytes-x"), b"seventeen-bytes-");
        assert_eq!(Comm::default().as_bytes(), b"");
        assert_eq!(Comm::from(b"\xff\n"), b"\xff\n");
    }

    #[test]
    fn c_bytes_stops_at_nul() {
        assert_eq!(c_bytes(b"touch\0\0\0junk"), b"touch");
        assert_eq!(c_bytes(b"sixteen-bytes-xx"), b"sixteen-bytes-xx");
    }

    #[test]
    fn fanotify_responses_decode() {
        assert_eq!(FaResponse::from_kernel(1), FaResponse::Allow);
        assert_eq!(FaResponse::from_kernel(2), FaResponse::Deny);
        assert_eq!(FaResponse::from_kernel(0x11), FaResponse::Allow);
        assert_eq!(FaResponse::from_kernel(0), FaResponse::Interrupted);
    }
}
