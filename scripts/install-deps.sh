#!/usr/bin/env bash
# Installs the Debian packages fsnotify-gadget needs to build and to run its
# whole test suite: the BPF toolchain, QEMU and busybox for the VM tests, and
# the real inotify/fanotify clients the tests drive. Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    clang llvm libelf-dev zlib1g-dev pkg-config make \
    qemu-system-x86 busybox-static cpio gzip \
    inotify-tools fatrace coreutils procps >/dev/null
echo "install-deps: done"
