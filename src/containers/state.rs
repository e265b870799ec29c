//! The runtimes' own state files, parsed: what each keeps of a running
//! container, with no daemon API. Every parser takes the file's text and
//! returns `None` (or nothing) for what it cannot read; the fuzz target
//! `runtime_state` feeds them arbitrary bytes.
//!
//! | file                                                        | written by            | gives                          |
//! |-------------------------------------------------------------|-----------------------|--------------------------------|
//! | `RUNC_ROOT/ID/state.json`                                   | runc (for podman, CRI-O, containerd, docker) | init pid, annotations (as labels) |
//! | `/run/containerd/io.containerd.runtime.v2.task/NS/ID/config.json`, `init.pid` | containerd | annotations (`io.kubernetes.cri.*`), init pid |
//! | `/var/lib/containers/storage/overlay-containers/containers.json` | containers/storage (podman, CRI-O) | names, image |
//! | `/var/lib/docker/containers/ID/config.v2.json`              | dockerd               | name, image, pid, labels       |

use std::collections::HashMap;

use serde::Deserialize;

/// What one file says of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub pid: Option<u32>,
    pub name: Option<String>,
    pub image: Option<String>,
    /// OCI annotations (runc keeps them as `key=value` labels), or docker's labels.
    pub annotations: HashMap<String, String>,
}

#[derive(Deserialize)]
struct RuncState {
    id: String,
    #[serde(default)]
    init_process_pid: u32,
    #[serde(default)]
    config: RuncConfig,
}

#[derive(Deserialize, Default)]
struct RuncConfig {
    #[serde(default)]
    labels: Vec<String>,
}

/// runc's `state.json`.
pub fn runc_state(text: &str) -> Option<Found> {
    let s: RuncState = serde_json::from_str(text).ok()?;
    let annotations = s.config.labels.iter().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Some(Found { id: s.id, pid: (s.init_process_pid > 0).then_some(s.init_process_pid), annotations, ..Default::default() })
}

#[derive(Deserialize)]
struct OciSpec {
    #[serde(default)]
    annotations: HashMap<String, String>,
}

/// An OCI bundle's `config.json`: its annotations.
pub fn oci_annotations(text: &str) -> Option<HashMap<String, String>> {
    serde_json::from_str::<OciSpec>(text).ok().map(|s| s.annotations)
}

/// A pid file (`init.pid`): one decimal number.
pub fn pid_file(text: &str) -> Option<u32> {
    text.trim().parse().ok().filter(|&p| p > 0)
}

#[derive(Deserialize)]
struct StorageContainer {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    metadata: String,
}

#[derive(Deserialize, Default)]
struct StorageMetadata {
    #[serde(rename = "image-name", default)]
    image_name: Option<String>,
}

/// containers/storage's `containers.json`: each container's name and image
/// (podman's and CRI-O's, running or not).
pub fn storage_containers(text: &str) -> Vec<Found> {
    let Ok(list) = serde_json::from_str::<Vec<StorageContainer>>(text) else { return Vec::new() };
    list.into_iter()
        .map(|c| {
            let meta: StorageMetadata = serde_json::from_str(&c.metadata).unwrap_or_default();
            Found {
                id: c.id,
                name: c.names.into_iter().next(),
                image: meta.image_name.filter(|i| !i.is_empty()),
                ..Default::default()
            }
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerConfig {
    #[serde(rename = "ID")]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    config: DockerContainerConfig,
    #[serde(default)]
    state: DockerState,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DockerContainerConfig {
    #[serde(default)]
    image: String,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DockerState {
    #[serde(default)]
    running: bool,
    #[serde(default)]
    pid: u32,
}

/// dockerd's `config.v2.json`, for a running container only.
pub fn docker_config(text: &str) -> Option<Found> {
    let c: DockerConfig = serde_json::from_str(text).ok()?;
    if !c.state.running {
        return None;
    }
    Some(Found {
        id: c.id,
        pid: (c.state.pid > 0).then_some(c.state.pid),
        name: Some(c.name.trim_start_matches('/').to_string()).filter(|n| !n.is_empty()),
        image: Some(c.config.image).filter(|i| !i.is_empty()),
        annotations: c.config.labels.unwrap_or_default(),
    })
}

/// A container's Kubernetes identity, from the annotations its runtime
/// recorded for kubelet's request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct K8s {
    pub namespace: Option<String>,
    pub pod: Option<String>,
    /// None for a pod's sandbox (its pause container).
    pub container: Option<String>,
    pub pod_uid: Option<String>,
}

/// containerd's CRI plugin writes `io.kubernetes.cri.*`; CRI-O, and dockershim's
/// labels, `io.kubernetes.pod.*` and `io.kubernetes.container.name`.
pub fn k8s(annotations: &HashMap<String, String>) -> Option<K8s> {
    let get = |k: &str| annotations.get(k).filter(|v| !v.is_empty()).cloned();
    let cri = K8s {
        namespace: get("io.kubernetes.cri.sandbox-namespace"),
        pod: get("io.kubernetes.cri.sandbox-name"),
        container: get("io.kubernetes.cri.container-name"),
        pod_uid: get("io.kubernetes.cri.sandbox-uid"),
    };
    let crio = K8s {
        namespace: get("io.kubernetes.pod.namespace"),
        pod: get("io.kubernetes.pod.name"),
        container: get("io.kubernetes.container.name").filter(|c| c != "POD"),
        pod_uid: get("io.kubernetes.pod.uid"),
    };
    [cri, crio].into_iter().find(|k| k.pod.is_some() || k.namespace.is_some())
}

/// The image a CRI runtime recorded in the annotations.
pub fn k8s_image(annotations: &HashMap<String, String>) -> Option<String> {
    ["io.kubernetes.cri.image-name", "io.kubernetes.cri-o.ImageName"]
        .iter()
        .find_map(|k| annotations.get(*k).filter(|v| !v.is_empty()).cloned())
}

/// Which manager had runc create the container, from what it annotated:
/// podman (libpod), CRI-O, or containerd's CRI plugin.
pub fn manager(annotations: &HashMap<String, String>) -> Option<&'static str> {
    if annotations.get("io.container.manager").is_some_and(|m| m == "libpod") {
        Some("podman")
    } else if annotations.contains_key("io.kubernetes.cri-o.ContainerType") || annotations.contains_key("io.kubernetes.cri-o.SandboxID") {
        Some("cri-o")
    } else if annotations.contains_key("io.kubernetes.cri.container-type") {
        Some("containerd")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_state_gives_pid_and_annotations() {
        let text = r#"{"id":"abc","init_process_pid":2947,"created":"x","config":{"labels":["io.container.manager=libpod","bundle=/b","k=v=w"]},"rootless":false}"#;
        let f = runc_state(text).unwrap();
        assert_eq!((f.id.as_str(), f.pid), ("abc", Some(2947)));
        assert_eq!(f.annotations["k"], "v=w");
        assert_eq!(manager(&f.annotations), Some("podman"));
        assert!(runc_state("{").is_none());
        assert_eq!(runc_state(r#"{"id":"x"}"#).unwrap().pid, None);
    }

    #[test]
    fn storage_gives_names_and_images() {
        let text = r#"[{"id":"a","names":["web"],"image":"13","metadata":"{\"image-name\":\"localhost/bb:test\",\"name\":\"web\"}"},
                       {"id":"b","names":[],"metadata":""}]"#;
        let c = storage_containers(text);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].name.as_deref(), c[0].image.as_deref()), (Some("web"), Some("localhost/bb:test")));
        assert_eq!((c[1].name.as_deref(), c[1].image.as_deref()), (None, None));
        assert!(storage_containers("not json").is_empty());
    }

    #[test]
    fn docker_gives_running_containers_only() {
        let running = r#"{"ID":"d1","Name":"/web","Config":{"Image":"nginx:1","Labels":{"io.kubernetes.pod.name":"p","io.kubernetes.pod.namespace":"ns"}},"State":{"Running":true,"Pid":77}}"#;
        let f = docker_config(running).unwrap();
        assert_eq!((f.name.as_deref(), f.image.as_deref(), f.pid), (Some("web"), Some("nginx:1"), Some(77)));
        assert_eq!(k8s(&f.annotations).unwrap().pod.as_deref(), Some("p"));
        assert!(docker_config(r#"{"ID":"d2","State":{"Running":false,"Pid":0}}"#).is_none());
        assert_eq!(docker_config(r#"{"ID":"d3","Config":{"Labels":null},"State":{"Running":true,"Pid":5}}"#).unwrap().name, None);
    }

    #[test]
    fn kubernetes_identity_from_each_runtimes_annotations() {
        let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>();
        let containerd = map(&[
            ("io.kubernetes.cri.container-type", "container"),
            ("io.kubernetes.cri.container-name", "app"),
            ("io.kubernetes.cri.sandbox-name", "web-0"),
            ("io.kubernetes.cri.sandbox-namespace", "prod"),
            ("io.kubernetes.cri.sandbox-uid", "u-1"),
            ("io.kubernetes.cri.image-name", "registry/app:2"),
        ]);
        let k = k8s(&containerd).unwrap();
        assert_eq!((k.namespace.as_deref(), k.pod.as_deref(), k.container.as_deref(), k.pod_uid.as_deref()), (Some("prod"), Some("web-0"), Some("app"), Some("u-1")));
        assert_eq!((manager(&containerd), k8s_image(&containerd).as_deref()), (Some("containerd"), Some("registry/app:2")));
        let sandbox = map(&[("io.kubernetes.cri.container-type", "sandbox"), ("io.kubernetes.cri.sandbox-name", "web-0")]);
        assert_eq!(k8s(&sandbox).unwrap().container, None);
        let crio = map(&[
            ("io.kubernetes.cri-o.ContainerType", "container"),
            ("io.kubernetes.container.name", "sidecar"),
            ("io.kubernetes.pod.name", "web-1"),
            ("io.kubernetes.pod.namespace", "dev"),
            ("io.kubernetes.pod.uid", "u-2"),
            ("io.kubernetes.cri-o.ImageName", "quay.io/x:1"),
        ]);
        let k = k8s(&crio).unwrap();
        assert_eq!((k.pod.as_deref(), k.container.as_deref()), (Some("web-1"), Some("sidecar")));
        assert_eq!((manager(&crio), k8s_image(&crio).as_deref()), (Some("cri-o"), Some("quay.io/x:1")));
        // podman annotates a CRI-O creation time but is no pod.
        let podman = map(&[("io.container.manager", "libpod"), ("io.kubernetes.cri-o.Created", "t")]);
        assert_eq!((k8s(&podman), manager(&podman)), (None, Some("podman")));
        assert_eq!(k8s(&HashMap::new()), None);
    }
}
