//! What a cgroup path says of a container, with no runtime state at all:
//! runtimes name a container's cgroup after its id, and kubelet names a pod's
//! after its uid. The shapes, cgroupfs and systemd drivers alike:
//!
//! | runtime            | cgroup path of a container                                         |
//! |--------------------|--------------------------------------------------------------------|
//! | docker             | `/docker/ID`, `/system.slice/docker-ID.scope`                      |
//! | containerd (CRI)   | `/kubepods/burstable/podUID/ID`, `…/cri-containerd-ID.scope`        |
//! | CRI-O              | `…/crio-ID.scope` (`crio-conmon-ID.scope` is its monitor, not it)   |
//! | podman             | `/libpod_parent/libpod-ID`, `/machine.slice/libpod-ID.scope[/container]` |
//! | systemd pods       | `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podUID.slice` (`_` for `-`) |
//!
//! ID is 64 hex digits; a systemd unit or a user session has none.

/// What a path names: all `None` for a host process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hint {
    /// The container's full id.
    pub id: Option<String>,
    /// The runtime the path's shape belongs to, where the shape says.
    pub runtime: Option<&'static str>,
    /// The Kubernetes pod's uid, with dashes.
    pub pod_uid: Option<String>,
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The container id and runtime one path component names.
fn component<'a>(c: &'a str, parent: Option<&str>) -> Option<(&'a str, Option<&'static str>)> {
    let scope = c.strip_suffix(".scope").unwrap_or(c);
    for (prefix, runtime) in
        [("docker-", "docker"), ("cri-containerd-", "containerd"), ("crio-", "cri-o"), ("libpod-", "podman")]
    {
        if let Some(id) = scope.strip_prefix(prefix) {
            // `crio-conmon-ID`, `libpod-conmon-ID`: the runtime's monitor process, on the host's side.
            return is_id(id).then_some((id, Some(runtime)));
        }
    }
    if is_id(c) {
        // Bare ids: docker's cgroupfs driver (`/docker/ID`), and kubelet's for every CRI runtime.
        return Some((c, (parent == Some("docker")).then_some("docker")));
    }
    None
}

/// A pod's uid from its cgroup's name: `podUID` (cgroupfs) or
/// `kubepods[-QOS]-podUID.slice` (systemd, `_` for `-`).
fn pod_uid(c: &str) -> Option<String> {
    let uid = match c.strip_suffix(".slice") {
        Some(slice) => slice.rsplit_once("-pod")?.1.replace('_', "-"),
        None => c.strip_prefix("pod")?.to_string(),
    };
    let shape = uid.len() == 36 && uid.bytes().enumerate().all(|(i, b)| if [8, 13, 18, 23].contains(&i) { b == b'-' } else { b.is_ascii_hexdigit() });
    shape.then_some(uid)
}

/// Reads a cgroup path (v1 or v2: as `/proc/PID/cgroup` shows it).
pub fn parse(path: &str) -> Hint {
    let mut hint = Hint::default();
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    // From the leaf up: the innermost container holds the process (a
    // container's own sub-cgroups, podman's `…/container`, are below its id).
    for (i, c) in parts.iter().enumerate().rev() {
        if hint.id.is_none() {
            if let Some((id, runtime)) = component(c, i.checked_sub(1).map(|p| parts[p])) {
                hint.id = Some(id.to_ascii_lowercase());
                hint.runtime = runtime;
                continue;
            }
        }
        if hint.pod_uid.is_none() {
            hint.pod_uid = pod_uid(c);
        }
    }
    hint
}

/// The path a container lives in from `/proc/PID/cgroup` text: the v2 line
/// (`0::PATH`) when it names a container, else the first v1 line that does
/// (a v1/v2 hybrid whose runtime left the unified tree alone).
pub fn from_proc_cgroup(text: &str) -> Hint {
    let mut best = Hint::default();
    for line in text.lines() {
        let Some((_, rest)) = line.split_once(':') else { continue };
        let Some((controllers, path)) = rest.split_once(':') else { continue };
        let hint = parse(path);
        if hint.id.is_some() && (controllers.is_empty() || best.id.is_none()) {
            best = hint;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "36ff86fec59aea7e39bb5441757ff4d692210b1530564a6c340293eb8692be10";
    const UID: &str = "6b0a4e6c-5d4b-4a8f-9d0e-1c2b3a4d5e6f";

    fn hint(id: Option<&str>, runtime: Option<&'static str>, pod: Option<&str>) -> Hint {
        Hint { id: id.map(String::from), runtime, pod_uid: pod.map(String::from) }
    }

    #[test]
    fn every_runtime_and_driver_shape() {
        let uid_ = UID.replace('-', "_");
        for (path, want) in [
            (format!("/docker/{ID}"), hint(Some(ID), Some("docker"), None)),
            (format!("/system.slice/docker-{ID}.scope"), hint(Some(ID), Some("docker"), None)),
            (format!("/kubepods/burstable/pod{UID}/{ID}"), hint(Some(ID), None, Some(UID))),
            (format!("/kubepods/pod{UID}/{ID}"), hint(Some(ID), None, Some(UID))),
            (
                format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{ID}.scope"),
                hint(Some(ID), Some("containerd"), Some(UID)),
            ),
            (format!("/kubepods.slice/kubepods-pod{uid_}.slice/crio-{ID}.scope"), hint(Some(ID), Some("cri-o"), Some(UID))),
            (format!("/libpod_parent/libpod-{ID}"), hint(Some(ID), Some("podman"), None)),
            (format!("/machine.slice/libpod-{ID}.scope"), hint(Some(ID), Some("podman"), None)),
            (format!("/machine.slice/libpod-{ID}.scope/container"), hint(Some(ID), Some("podman"), None)),
            // A pod's own cgroup, with no container in it yet.
            (format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice"), hint(None, None, Some(UID))),
        ] {
            assert_eq!(parse(&path), want, "{path}");
        }
    }

    #[test]
    fn host_processes_and_monitors_name_no_container() {
        for path in [
            "/",
            "/system.slice/ssh.service",
            "/user.slice/user-1000.slice/session-3.scope",
            "/init.scope",
            &format!("/machine.slice/libpod-conmon-{ID}.scope"),
            &format!("/kubepods.slice/crio-conmon-{ID}.scope"),
            &format!("/system.slice/docker-{}.scope", &ID[..63]),
            "/kubepods/podnot-a-uid/x",
            "/docker/zz",
        ] {
            assert_eq!(parse(path), Hint::default(), "{path}");
        }
    }

    #[test]
    fn proc_cgroup_prefers_the_v2_line_then_any_v1_one() {
        let hybrid = format!("9:name=systemd:/libpod_parent/libpod-{ID}\n4:memory:/process_api/x\n0::/libpod_parent/libpod-{ID}\n");
        assert_eq!(from_proc_cgroup(&hybrid).id.as_deref(), Some(ID));
        let v1_only = format!("4:memory:/docker/{ID}\n1:cpu:/docker/{ID}\n0::/\n");
        assert_eq!(from_proc_cgroup(&v1_only), hint(Some(ID), Some("docker"), None));
        assert_eq!(from_proc_cgroup("0::/system.slice/cron.service\n"), Hint::default());
        assert_eq!(from_proc_cgroup("garbage\n::\n"), Hint::default());
    }
}
