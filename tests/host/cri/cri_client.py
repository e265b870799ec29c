#!/usr/bin/python3
"""Starts a pod and one container through a CRI runtime's gRPC socket, as
kubelet does, or removes the pod again.

  cri_client.py SOCKET up DIR IMAGE    -> prints {"sandbox": ID, "container": ID}
  cri_client.py SOCKET down SANDBOX_ID

The pod is prod/web-0 with host networking (no CNI needed), its container
"app" runs `inotifywait -m -q /w` with DIR mounted at /w. The stubs are
generated from api.proto beside this file into $CRI_STUBS first.
"""
import json, os, sys

sys.path.insert(0, os.environ["CRI_STUBS"])
import grpc  # noqa: E402
import api_pb2 as p  # noqa: E402
import api_pb2_grpc as g  # noqa: E402

POD_UID = "6b0a4e6c-5d4b-4a8f-9d0e-1c2b3a4d5e6f"

sock, verb = sys.argv[1], sys.argv[2]
rt = g.RuntimeServiceStub(grpc.insecure_channel("unix://" + sock))
if verb == "down":
    rt.StopPodSandbox(p.StopPodSandboxRequest(pod_sandbox_id=sys.argv[3]))
    rt.RemovePodSandbox(p.RemovePodSandboxRequest(pod_sandbox_id=sys.argv[3]))
    sys.exit(0)
shared, image = sys.argv[3], sys.argv[4]
node = p.NamespaceOption(network=p.NODE)
sandbox = p.PodSandboxConfig(
    metadata=p.PodSandboxMetadata(name="web-0", uid=POD_UID, namespace="prod", attempt=0),
    log_directory=os.path.join(shared, "..", "cri-logs"),
    linux=p.LinuxPodSandboxConfig(
        cgroup_parent="/kubepods/besteffort/pod" + POD_UID,
        security_context=p.LinuxSandboxSecurityContext(namespace_options=node),
    ),
)
sid = rt.RunPodSandbox(p.RunPodSandboxRequest(config=sandbox)).pod_sandbox_id
config = p.ContainerConfig(
    metadata=p.ContainerMetadata(name="app"),
    image=p.ImageSpec(image=image),
    command=["inotifywait", "-m", "-q", "/w"],
    log_path="app.log",
    mounts=[p.Mount(container_path="/w", host_path=shared)],
    linux=p.LinuxContainerConfig(security_context=p.LinuxContainerSecurityContext(namespace_options=node)),
)
cid = rt.CreateContainer(p.CreateContainerRequest(pod_sandbox_id=sid, config=config, sandbox_config=sandbox)).container_id
rt.StartContainer(p.StartContainerRequest(container_id=cid))
print(json.dumps({"sandbox": sid, "container": cid}))
