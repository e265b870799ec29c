//! Which container, and which Kubernetes pod, a process is in: from its
//! cgroup (id and path) and mount namespace, matched against the state the
//! runtimes keep on the node. No daemon is asked and nothing goes over a
//! network: a node whose runtime is down still gets names.
//!
//! A record's side is looked up by its cgroup id, then by its mount
//! namespace. A cgroup whose path names a container id not seen yet has
//! that container's own state files read at once (a few small files); a
//! mount namespace not seen yet makes a scan of every root, at most once per
//! [`RESCAN`], so a record waits for a full scan at most once a second, and a
//! scan stops after [`SCAN_BUDGET`]. A scan forgets the containers that
//! exited, whose later records get `null`s.

pub mod cgroup_path;
pub mod state;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::names::IdMap;

pub use state::K8s;

/// At most one scan per this long.
const RESCAN: Duration = Duration::from_secs(1);
/// A scan stops reading state files after this long (what it found by then is kept).
const SCAN_BUDGET: Duration = Duration::from_millis(200);
/// At most this many containers per root, and cached cgroups and namespaces.
const MAX_ENTRIES: usize = 1 << 16;
/// State files larger than this are not read (a containers.json of
/// thousands of containers is a few MiB).
const MAX_FILE: u64 = 16 << 20;

/// A container as the node's runtimes describe it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Container {
    /// The full id (64 hex digits for every runtime here but a bare runc's or containerd's `ctr`).
    pub id: String,
    pub name: Option<String>,
    /// `docker`, `containerd`, `cri-o`, `podman` or `runc`; None where only a
    /// bare cgroup path (kubelet's `podUID/ID`) named it.
    pub runtime: Option<&'static str>,
    pub image: Option<String>,
    pub k8s: Option<K8s>,
}

impl Container {
    /// How a person tells it apart in a column or a label: its name, else
    /// (no name, or an empty one) the first 12 characters of its id, as the
    /// runtimes' own `ps` commands shorten it.
    pub fn label(&self) -> &str {
        match self.name.as_deref() {
            Some(n) if !n.is_empty() => n,
            _ => self.id.char_indices().nth(12).map_or(&self.id, |(at, _)| &self.id[..at]),
        }
    }
}

/// The directories the runtimes keep their state in, as the node sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// OCI runtime state: `DIR/ID/state.json`, or `DIR/NAMESPACE/ID/state.json`.
    pub runc: Vec<PathBuf>,
    /// containerd's v2 tasks: `DIR/NAMESPACE/ID/{config.json,init.pid}`.
    pub containerd: Vec<PathBuf>,
    /// containers/storage graph roots (podman, CRI-O): `DIR/overlay-containers/containers.json`.
    pub storage: Vec<PathBuf>,
    /// dockerd: `DIR/containers/ID/config.v2.json`.
    pub docker: Vec<PathBuf>,
    /// The node's `/proc` (the init pids' namespaces and cgroups).
    pub proc: PathBuf,
}

/// The runtime kinds `--runtime-root KIND=DIR` takes, with their default
/// directories (under HOST_ROOT).
pub const KINDS: &[(&str, &[&str])] = &[
    ("runc", &["/run/runc", "/run/containerd/runc", "/run/docker/runtime-runc"]),
    ("containerd", &["/run/containerd/io.containerd.runtime.v2.task"]),
    ("podman", &["/var/lib/containers/storage"]),
    ("docker", &["/var/lib/docker"]),
];

/// The environment variable that holds `KIND=DIR[,KIND=DIR…]`, as `--runtime-root` does.
pub const ROOTS_ENV: &str = "FSNOTIFY_GADGET_RUNTIME_ROOTS";

/// Where the node's root is: `HOST_ROOT` (the tool in a container, the
/// node's `/` mounted there), else `/`.
pub fn host_root() -> PathBuf {
    std::env::var_os("HOST_ROOT").filter(|r| !r.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"))
}

/// `dir` as seen from here: under `host_root` unless that is `/`.
pub fn under(host_root: &Path, dir: &str) -> PathBuf {
    host_root.join(dir.trim_start_matches('/'))
}

impl Roots {
    /// The defaults under `host_root`, each kind named in `given` (`KIND=DIR`,
    /// DIR also under `host_root`) replacing that kind's defaults.
    pub fn new(host_root: &Path, given: &[(String, PathBuf)]) -> Roots {
        let dirs = |kind: &str| -> Vec<PathBuf> {
            let mine: Vec<PathBuf> =
                given.iter().filter(|(k, _)| k == kind).map(|(_, d)| under(host_root, &d.to_string_lossy())).collect();
            if !mine.is_empty() {
                return mine;
            }
            let defaults = KINDS.iter().find(|(k, _)| *k == kind).map_or(&[][..], |(_, d)| *d);
            defaults.iter().map(|d| under(host_root, d)).collect()
        };
        Roots { runc: dirs("runc"), containerd: dirs("containerd"), storage: dirs("podman"), docker: dirs("docker"), proc: under(host_root, "/proc") }
    }

    /// From HOST_ROOT and [`ROOTS_ENV`], then `--runtime-root` flags (which win).
    pub fn from_env(flags: &[(String, PathBuf)]) -> Result<Roots, String> {
        let mut given = match std::env::var(ROOTS_ENV) {
            Ok(v) => v.split(',').filter(|s| !s.trim().is_empty()).map(parse_root).collect::<Result<Vec<_>, _>>().map_err(|e| format!("{ROOTS_ENV}: {e}"))?,
            Err(_) => Vec::new(),
        };
        let flagged: Vec<&str> = flags.iter().map(|(k, _)| k.as_str()).collect();
        given.retain(|(k, _)| !flagged.contains(&k.as_str()));
        given.extend(flags.iter().cloned());
        Ok(Roots::new(&host_root(), &given))
    }
}

/// Parses `KIND=DIR` (`--runtime-root`).
pub fn parse_root(s: &str) -> Result<(String, PathBuf), String> {
    let kinds = || KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ");
    let (kind, dir) = s.trim().split_once('=').ok_or_else(|| format!("'{s}' is not KIND=DIR (KIND is one of {})", kinds()))?;
    let kind = match kind.trim() {
        "cri-o" | "crio" => "podman",
        k => k,
    };
    if !KINDS.iter().any(|(k, _)| *k == kind) {
        return Err(format!("unknown runtime kind '{kind}' in '{s}': one of {} (cri-o shares podman's storage)", kinds()));
    }
    if dir.trim().is_empty() {
        return Err(format!("'{s}' names no directory"));
    }
    Ok((kind.to_string(), PathBuf::from(dir.trim())))
}

/// A runtime's state file, read as the untrusted input it is: whoever can write a runtime
/// root (or the HOST_ROOT mount) chooses what sits at the path. It is opened without
/// following a last symlink and without blocking (a FIFO does not wait for a writer), and
/// read only when the opened file is a regular one of 1 byte to [`MAX_FILE`]: not a FIFO,
/// a device such as /dev/zero, or a /proc file such as /proc/kmsg (size 0), which would
/// block, never end or consume what they serve. None for anything else.
fn read_capped(path: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.file_type().is_file() || meta.len() == 0 || meta.len() > MAX_FILE {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_FILE).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The subdirectories of `dir`, at most [`MAX_ENTRIES`].
fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).take(MAX_ENTRIES).map(|e| e.path()).collect()
}

/// A running container as a scan found it, with where its init process is.
#[derive(Debug, Clone)]
struct Running {
    container: Arc<Container>,
    pid: Option<u32>,
}

/// The directories under `dir` that may hold container `only`'s state (all of
/// them when `only` is None), at most [`MAX_ENTRIES`].
fn candidates(dir: &Path, only: Option<&str>) -> Vec<PathBuf> {
    match only {
        Some(id) => vec![dir.join(id)],
        None => subdirs(dir),
    }
}

/// Reads every root, or only what concerns container `only` (a cgroup named
/// it): the runtimes' views of one id are merged (the manager's name and
/// image over runc's bare state).
fn scan(roots: &Roots, deadline: Instant, only: Option<&str>) -> HashMap<String, Running> {
    let mut runc: Vec<state::Found> = Vec::new();
    let runc_state = |d: &Path| read_capped(&d.join("state.json")).and_then(|t| state::runc_state(&t));
    for root in &roots.runc {
        runc.extend(candidates(root, only).iter().filter_map(|d| runc_state(d)));
        // containerd's and docker's runc roots have a level of namespaces (`k8s.io`, `moby`).
        for ns in subdirs(root).iter().filter(|d| !d.join("state.json").exists()).take(64) {
            if Instant::now() > deadline {
                break;
            }
            runc.extend(candidates(ns, only).iter().filter_map(|d| runc_state(d)));
        }
    }
    let mut tasks: Vec<state::Found> = Vec::new();
    for root in &roots.containerd {
        for ns in subdirs(root).iter().take(64) {
            for dir in candidates(ns, only) {
                if Instant::now() > deadline {
                    break;
                }
                let Some(id) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
                let Some(annotations) = read_capped(&dir.join("config.json")).and_then(|t| state::oci_annotations(&t)) else { continue };
                let pid = read_capped(&dir.join("init.pid")).and_then(|t| state::pid_file(&t));
                tasks.push(state::Found { id, pid, annotations, ..Default::default() });
            }
        }
    }
    let mut storage: HashMap<String, state::Found> = HashMap::new();
    for root in &roots.storage {
        if let Some(t) = read_capped(&root.join("overlay-containers/containers.json")) {
            storage.extend(state::storage_containers(&t).into_iter().filter(|f| only.is_none_or(|id| f.id == id)).map(|f| (f.id.clone(), f)));
        }
    }
    let mut docker: Vec<state::Found> = Vec::new();
    for root in &roots.docker {
        for dir in candidates(&root.join("containers"), only) {
            if Instant::now() > deadline {
                break;
            }
            docker.extend(read_capped(&dir.join("config.v2.json")).and_then(|t| state::docker_config(&t)));
        }
    }

    let mut out: HashMap<String, Running> = HashMap::new();
    let mut add = |f: &state::Found, runtime: &'static str, name: Option<String>, image: Option<String>| {
        let k8s = state::k8s(&f.annotations);
        let name = k8s.as_ref().and_then(|k| k.container.clone().or_else(|| k.pod.clone())).or(name);
        let image = state::k8s_image(&f.annotations).or(image);
        let c = Container { id: f.id.clone(), name, runtime: Some(runtime), image, k8s };
        out.insert(f.id.clone(), Running { container: Arc::new(c), pid: f.pid });
    };
    for f in &runc {
        let kept = storage.get(&f.id);
        let runtime = state::manager(&f.annotations).unwrap_or(if kept.is_some() { "podman" } else { "runc" });
        // containerd and dockerd run runc too: their own state, read below, names those.
        add(f, runtime, kept.and_then(|s| s.name.clone()).or_else(|| Some(f.id.clone())), kept.and_then(|s| s.image.clone()));
    }
    let runc_pids: HashMap<String, u32> = runc.iter().filter_map(|f| Some((f.id.clone(), f.pid?))).collect();
    for f in &tasks {
        let pid = f.pid.or_else(|| runc_pids.get(&f.id).copied());
        add(&state::Found { pid, ..f.clone() }, "containerd", Some(f.id.clone()), None);
    }
    for f in &docker {
        add(f, "docker", f.name.clone(), f.image.clone());
    }
    out
}

fn stat_ino(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// A lookup's result, and whether it is final until the next scan (a
/// container id a cgroup names but no scan has found yet is looked up again).
#[derive(Debug, Clone)]
struct Entry {
    container: Option<Arc<Container>>,
    complete: bool,
}

/// A mount namespace's container, and the init process that showed it: the
/// kernel reuses a freed namespace's id, so a container's entry is checked
/// again (its init still in it) every [`RECHECK`].
#[derive(Debug, Clone)]
struct Mntns {
    container: Option<Arc<Container>>,
    pid: u32,
    checked: Instant,
}

/// How long a mount namespace's container is trusted without a look at its init process.
const RECHECK: Duration = Duration::from_secs(2);

/// The cache of which container each cgroup and mount namespace is.
pub struct Containers {
    roots: Roots,
    /// Where the node's cgroup2 is (found on the first scan), for the init pids' cgroup ids.
    cgroup2: Option<Option<PathBuf>>,
    by_id: HashMap<String, Arc<Container>>,
    by_cgroup: IdMap<u64, Entry>,
    /// Running containers' init pids' namespaces, and the namespaces found in none.
    by_mntns: IdMap<u64, Mntns>,
    /// The directories of the init processes' cgroups, by cgroup id.
    init_cgroups: HashMap<u64, PathBuf>,
    scanned: Option<Instant>,
    /// The time of the current batch of records ([`Containers::new_batch`]):
    /// a miss asks whether a rescan is due without reading the clock.
    now: Option<Instant>,
}

impl Default for Containers {
    fn default() -> Containers {
        Containers::new(Roots::new(&host_root(), &[]))
    }
}

impl Containers {
    pub fn new(roots: Roots) -> Containers {
        Containers { roots, cgroup2: None, by_id: HashMap::new(), by_cgroup: IdMap::default(), by_mntns: IdMap::default(), init_cgroups: HashMap::new(), scanned: None, now: None }
    }

    fn rescan_due(&self) -> bool {
        let now = self.now.unwrap_or_else(Instant::now);
        self.scanned.is_none_or(|t| now.saturating_duration_since(t) >= RESCAN)
    }

    /// A new batch of records begins now: its lookups take this as the time.
    pub fn new_batch(&mut self) {
        self.now = Some(Instant::now());
    }

    /// Scans now if none ran in the last [`RESCAN`]; true when it did.
    fn rescan(&mut self) -> bool {
        if !self.rescan_due() {
            return false;
        }
        self.rescan_now();
        true
    }

    /// Scans the roots, forgetting every container that exited.
    pub fn rescan_now(&mut self) {
        let start = Instant::now();
        let running = scan(&self.roots, start + SCAN_BUDGET, None);
        let proc = self.roots.proc.clone();
        let cgroup2 = self.cgroup2.get_or_insert_with(crate::procfs::cgroups::node_cgroup2).clone();
        self.by_id.clear();
        self.by_cgroup.clear();
        self.by_mntns.clear();
        self.init_cgroups.clear();
        for r in running.into_values() {
            if let Some(pid) = r.pid {
                let dir = proc.join(pid.to_string());
                if let Some(ns) = stat_ino(&dir.join("ns/mnt")) {
                    self.by_mntns.insert(ns, Mntns { container: Some(r.container.clone()), pid, checked: start });
                }
                let v2 = std::fs::read_to_string(dir.join("cgroup")).ok().and_then(|t| t.lines().find_map(|l| l.strip_prefix("0::").map(str::to_string)));
                if let (Some(root), Some(path)) = (&cgroup2, v2) {
                    // The root cgroup is every host process's too on a v1-only runtime: never a container's.
                    if path != "/" {
                        let dir = under(root, &path);
                        if let Some(id) = stat_ino(&dir) {
                            self.by_cgroup.insert(id, Entry { container: Some(r.container.clone()), complete: true });
                            self.init_cgroups.insert(id, dir);
                        }
                    }
                }
            }
            self.by_id.insert(r.container.id.clone(), r.container);
        }
        self.scanned = Some(Instant::now());
    }

    /// What the cgroup at `path` is, by the id its path names and the last scan.
    fn resolve_path(&mut self, path: &str) -> Entry {
        self.resolve_hint(cgroup_path::parse(path))
    }

    fn resolve_hint(&mut self, hint: cgroup_path::Hint) -> Entry {
        let Some(id) = hint.id else { return Entry { container: None, complete: true } };
        if let Some(c) = self.by_id.get(&id) {
            return Entry { container: Some(c.clone()), complete: true };
        }
        // A container started since the last scan: its own state files only, at once.
        if let Some(r) = scan(&self.roots, Instant::now() + SCAN_BUDGET, Some(&id)).remove(&id) {
            if self.by_id.len() < MAX_ENTRIES {
                self.by_id.insert(id, r.container.clone());
            }
            return Entry { container: Some(r.container), complete: true };
        }
        // Only the path knows it: its id, its runtime by the path's shape, its pod's uid.
        let k8s = hint.pod_uid.map(|uid| K8s { pod_uid: Some(uid), ..Default::default() });
        Entry { container: Some(Arc::new(Container { id, runtime: hint.runtime, k8s, ..Default::default() })), complete: false }
    }

    /// The container of a process with this cgroup (id and path) and mount namespace; None on the host.
    pub fn lookup(&mut self, cgroup_id: u64, cgroup: Option<&str>, mntns_id: u64) -> Option<Arc<Container>> {
        if cgroup_id != 0 {
            let cached = self.by_cgroup.get(&cgroup_id).filter(|e| e.complete || !self.rescan_due()).cloned();
            let entry = match (cached, cgroup) {
                (Some(e), _) => Some(e),
                (None, Some(path)) => {
                    let mut e = self.resolve_path(path);
                    if !e.complete && self.rescan() {
                        e = self.resolve_path(path);
                    }
                    if self.by_cgroup.len() >= MAX_ENTRIES {
                        self.by_cgroup.clear();
                    }
                    self.by_cgroup.insert(cgroup_id, e.clone());
                    Some(e)
                }
                // No path yet (a cgroup created since the last walk): asked again next time.
                (None, None) => None,
            };
            match entry {
                Some(Entry { container: Some(c), .. }) => return Some(c),
                // A cgroup that names no container: a runtime may have left the
                // v2 tree alone (a v1-only one on a hybrid host); ask the namespace.
                Some(Entry { container: None, complete: true }) => {}
                // A cgroup gone or not found yet: its namespace's id may be another's by now.
                _ => return None,
            }
        }
        self.by_mntns_id(mntns_id)
    }

    fn by_mntns_id(&mut self, mntns_id: u64) -> Option<Arc<Container>> {
        if mntns_id == 0 {
            return None;
        }
        let now = self.now.unwrap_or_else(Instant::now);
        if let Some(known) = self.by_mntns.get_mut(&mntns_id) {
            if known.container.is_none() || now.saturating_duration_since(known.checked) < RECHECK {
                return known.container.clone();
            }
            // Still the namespace of that container's init process?
            if stat_ino(&self.roots.proc.join(known.pid.to_string()).join("ns/mnt")) == Some(mntns_id) {
                known.checked = now;
                return known.container.clone();
            }
            self.by_mntns.remove(&mntns_id);
        }
        if !self.rescan() {
            return None;
        }
        let found = self.by_mntns.get(&mntns_id).and_then(|m| m.container.clone());
        if found.is_none() && self.by_mntns.len() < MAX_ENTRIES {
            self.by_mntns.insert(mntns_id, Mntns { container: None, pid: 0, checked: now });
        }
        found
    }

    /// The container of a process by its `/proc/PID/cgroup` text (v1 or v2)
    /// and mount namespace, for `list`.
    pub fn lookup_proc(&mut self, proc_cgroup: &str, mntns_id: u64) -> Option<Arc<Container>> {
        let hint = cgroup_path::from_proc_cgroup(proc_cgroup);
        let mut e = self.resolve_hint(hint.clone());
        if !e.complete && self.rescan() {
            e = self.resolve_hint(hint);
        }
        e.container.or_else(|| self.by_mntns_id(mntns_id))
    }

    /// Every running container the last scan found (scanning first if none ran).
    pub fn running(&mut self) -> Vec<Arc<Container>> {
        if self.scanned.is_none() {
            self.rescan_now();
        }
        self.by_id.values().cloned().collect()
    }

    /// The cgroup ids of the init processes of the running containers called `name`.
    pub fn cgroup_ids_of(&mut self, name: &str) -> Vec<u64> {
        if self.scanned.is_none() {
            self.rescan_now();
        }
        let named = |id: &u64| self.by_cgroup.get(id).and_then(|e| e.container.as_ref()).is_some_and(|c| c.name.as_deref() == Some(name));
        self.init_cgroups.keys().filter(|id| named(id)).copied().collect()
    }

    /// Whether the cgroup of a container's init process has no cgroup below it now.
    pub fn cgroup_is_leaf(&self, id: u64) -> bool {
        self.init_cgroups
            .get(&id)
            .and_then(|dir| std::fs::read_dir(dir).ok())
            .is_some_and(|mut entries| !entries.any(|e| e.is_ok_and(|e| e.file_type().is_ok_and(|t| t.is_dir()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "36ff86fec59aea7e39bb5441757ff4d692210b1530564a6c340293eb8692be10";

    fn tree(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("fsg-containers-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_label_is_the_name_else_the_short_id() {
        let c = |name: Option<&str>, id: &str| Container { id: id.into(), name: name.map(Into::into), ..Container::default() };
        assert_eq!(c(Some("web"), ID).label(), "web");
        assert_eq!(c(None, ID).label(), "36ff86fec59a");
        assert_eq!(c(Some(""), ID).label(), "36ff86fec59a");
        // A bare runc's own id, short and not hex.
        assert_eq!(c(None, "büsy").label(), "büsy");
        assert_eq!(c(None, "ééééééééééééé").label(), "éééééééééééé");
    }

    #[test]
    fn roots_follow_host_root_and_the_flags() {
        let r = Roots::new(Path::new("/host"), &[("docker".into(), PathBuf::from("/data/docker"))]);
        assert_eq!(r.docker, [PathBuf::from("/host/data/docker")]);
        assert_eq!(r.runc[0], PathBuf::from("/host/run/runc"));
        assert_eq!(r.proc, PathBuf::from("/host/proc"));
        assert_eq!(Roots::new(Path::new("/"), &[]).storage, [PathBuf::from("/var/lib/containers/storage")]);
        assert_eq!(parse_root("cri-o=/srv/storage").unwrap(), ("podman".to_string(), PathBuf::from("/srv/storage")));
        assert!(parse_root("lxc=/x").unwrap_err().contains("unknown runtime kind 'lxc'"));
        assert!(parse_root("/run/runc").unwrap_err().contains("KIND=DIR"));
        assert!(parse_root("runc=").unwrap_err().contains("no directory"));
    }

    #[test]
    fn state_files_that_block_never_end_or_consume_are_not_read() {
        let dir = tree("hostile-state");
        let regular = dir.join("state.json");
        write(&regular, r#"{"id":"x"}"#);
        assert_eq!(read_capped(&regular).as_deref(), Some(r#"{"id":"x"}"#));
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let (send, done) = std::sync::mpsc::channel();
        let each = [fifo, dir.join("empty"), dir.join("zero"), dir.join("kmsg"), dir.join("dir")];
        write(&each[1], "");
        std::os::unix::fs::symlink("/dev/zero", &each[2]).unwrap();
        std::os::unix::fs::symlink("/proc/kmsg", &each[3]).unwrap();
        std::fs::create_dir(&each[4]).unwrap();
        let paths = each.clone();
        std::thread::spawn(move || send.send(paths.iter().map(|p| read_capped(p)).collect::<Vec<_>>()));
        // A blocking open or an endless read would hold the answer past this.
        let read = done.recv_timeout(Duration::from_secs(10)).expect("read_capped blocked");
        assert!(read.iter().all(Option::is_none), "{each:?}: {read:?}");
    }

    #[test]
    fn a_scan_merges_each_runtimes_view_of_one_container() {
        let host = tree("scan");
        let pid = std::process::id();
        // podman: runc's state and containers/storage's names.
        write(&host.join(format!("run/runc/{ID}/state.json")), &format!(r#"{{"id":"{ID}","init_process_pid":{pid},"config":{{"labels":["io.container.manager=libpod"]}}}}"#));
        write(
            &host.join("var/lib/containers/storage/overlay-containers/containers.json"),
            &format!(r#"[{{"id":"{ID}","names":["web"],"metadata":"{{\"image-name\":\"localhost/bb:1\"}}"}}]"#),
        );
        // containerd's CRI: runc under a namespace level, the task's annotations.
        let cri = "a".repeat(64);
        write(&host.join(format!("run/containerd/runc/k8s.io/{cri}/state.json")), &format!(r#"{{"id":"{cri}","init_process_pid":1}}"#));
        write(
            &host.join(format!("run/containerd/io.containerd.runtime.v2.task/k8s.io/{cri}/config.json")),
            r#"{"annotations":{"io.kubernetes.cri.container-type":"container","io.kubernetes.cri.container-name":"app","io.kubernetes.cri.sandbox-name":"pod-0","io.kubernetes.cri.sandbox-namespace":"prod","io.kubernetes.cri.image-name":"reg/app:1"}}"#,
        );
        // docker, one running and one stopped.
        write(&host.join("var/lib/docker/containers/d1/config.v2.json"), r#"{"ID":"d1","Name":"/db","Config":{"Image":"pg:16"},"State":{"Running":true,"Pid":1}}"#);
        write(&host.join("var/lib/docker/containers/d2/config.v2.json"), r#"{"ID":"d2","Name":"/old","State":{"Running":false}}"#);
        write(&host.join("run/runc/broken/state.json"), "{");

        let found = scan(&Roots::new(&host, &[]), Instant::now() + SCAN_BUDGET, None);
        let one = scan(&Roots::new(&host, &[]), Instant::now() + SCAN_BUDGET, Some(&cri));
        assert_eq!(one.keys().collect::<Vec<_>>(), [&cri], "a scan for one id reads only its state");
        assert_eq!(one[&cri].container, found[&cri].container);
        let c = |id: &str| found[id].container.clone();
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!((c(ID).name.as_deref(), c(ID).runtime, c(ID).image.as_deref()), (Some("web"), Some("podman"), Some("localhost/bb:1")));
        assert_eq!(found[ID].pid, Some(pid));
        let app = c(&cri);
        assert_eq!((app.name.as_deref(), app.runtime, app.image.as_deref()), (Some("app"), Some("containerd"), Some("reg/app:1")));
        assert_eq!(app.k8s.as_ref().unwrap().namespace.as_deref(), Some("prod"));
        assert_eq!(found[&cri].pid, Some(1), "the task's pid comes from runc's state when init.pid is missing");
        assert_eq!((c("d1").name.as_deref(), c("d1").runtime), (Some("db"), Some("docker")));
        std::fs::remove_dir_all(&host).unwrap();
    }

    #[test]
    fn a_namespace_names_its_container_until_its_init_left_it() {
        let host = tree("mntns");
        write(&host.join(format!("run/runc/{ID}/state.json")), &format!(r#"{{"id":"{ID}","init_process_pid":{}}}"#, std::process::id()));
        let mut c = Containers::new(Roots { proc: PathBuf::from("/proc"), ..Roots::new(&host, &[]) });
        c.rescan_now();
        let ns = stat_ino(Path::new("/proc/self/ns/mnt")).unwrap();
        assert_eq!(c.lookup(0, None, ns).map(|c| c.id.clone()).as_deref(), Some(ID));
        assert_eq!(c.lookup(1, Some("/"), ns).map(|c| c.id.clone()).as_deref(), Some(ID), "the root cgroup names no container: the namespace does");
        assert_eq!(c.lookup(77, None, ns), None, "a cgroup gone: its namespace's id may be another's now");
        // The container goes and the kernel gives its namespace's id to another:
        // its init is not in it any more, and no scan finds a container for it.
        std::fs::remove_dir_all(host.join("run/runc")).unwrap();
        let entry = c.by_mntns.get_mut(&ns).unwrap();
        entry.pid = u32::MAX;
        entry.checked -= RECHECK;
        c.scanned = None;
        assert_eq!(c.lookup(0, None, ns), None);
        std::fs::remove_dir_all(&host).unwrap();
    }

    #[test]
    fn lookups_go_by_cgroup_path_then_namespace_and_forget_exited_containers() {
        let host = tree("lookup");
        let state = host.join(format!("run/runc/{ID}/state.json"));
        write(&state, &format!(r#"{{"id":"{ID}","init_process_pid":999999999,"config":{{"labels":[]}}}}"#));
        let mut c = Containers::new(Roots::new(&host, &[]));
        let path = format!("/libpod_parent/libpod-{ID}");
        let found = c.lookup(77, Some(&path), 5).unwrap();
        assert_eq!((found.id.as_str(), found.runtime, found.name.as_deref()), (ID, Some("runc"), Some(ID)));
        assert_eq!(c.lookup(78, Some("/system.slice/cron.service"), 0), None, "a host cgroup and no namespace");
        // The container exits; the next scan forgets it, and its cgroup's
        // later records name only what the path says.
        std::fs::remove_dir_all(host.join("run/runc")).unwrap();
        c.rescan_now();
        let gone = c.lookup(77, Some(&path), 5);
        assert_eq!(gone.as_ref().map(|g| (g.id.as_str(), g.runtime, g.name.clone())), Some((ID, Some("podman"), None)));
        assert_eq!(c.lookup(79, None, 0), None);
        std::fs::remove_dir_all(&host).unwrap();
    }
}
