#!/usr/bin/env bash
# Installs the Debian packages fsnotify-gadget needs to build and to run its
# whole test suite: the BPF toolchain, QEMU and busybox for the VM tests, and
# the real inotify/fanotify clients the tests drive, strace and setpriv for
# the privilege tests, cargo-fuzz (and g++ for its libFuzzer) for the fuzz
# targets, the container, Prometheus and Kubernetes clients of the fleet
# tests, and man, zsh and fish for the man page and completion tests. Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    clang llvm libelf-dev zlib1g-dev pkg-config make \
    qemu-system-x86 busybox-static cpio gzip \
    inotify-tools fatrace coreutils procps strace util-linux python3 g++ >/dev/null
# The fleet pieces (tests/host_fleet.rs): buildah builds the image offline, podman runs
# it (with runc: crun refuses hybrid cgroup layouts), prometheus scrapes /metrics and
# promtool checks the exposition and deploy/alerts.yml.
apt-get install -y -qq --no-install-recommends buildah podman runc prometheus >/dev/null
# Kubernetes identity through a real CRI runtime (tests/host/containers.rs): containerd's
# CRI plugin, driven over gRPC by tests/host/cri/cri_client.py as kubelet would.
apt-get install -y -qq --no-install-recommends containerd python3-grpcio python3-grpc-tools >/dev/null
# The docs tests (src/cli/docs.rs): `man -l` renders each generated page (man-db, with
# groff-base's formatter), zsh and fish parse their completion scripts and fish answers
# completions from its own (bash is already there).
apt-get install -y -qq --no-install-recommends man-db groff-base zsh fish >/dev/null
# kubectl decodes deploy/daemonset.yaml offline. Debian's kubernetes-client ships it;
# skip it where another package already provides /usr/bin/kubectl (they conflict).
if ! command -v kubectl >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null
fi
# cargo-fuzz drives the fuzz targets in fuzz/ (`cargo xtask fuzz`); skip the
# build when it is already installed.
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
echo "install-deps: done"
