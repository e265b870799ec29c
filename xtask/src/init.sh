#!/bin/busybox sh
# PID 1 of fsnotify-gadget's test VM (xtask/src/initramfs.rs puts it at /init).
# Runs the VM test binary, prints its exit code between markers that xtask/src/report.rs reads,
# and powers off. Settings come from the kernel command line (xtask/src/qemu.rs):
#   fsg.fail_on_purpose=1  set FSG_FAIL_ON_PURPOSE=1 for the tests
#   fsg.exit_on_purpose=N  the runner exits N once every test passed (FSG_EXIT_ON_PURPOSE)
#   fsg.test_binary=crashes_at_list|lists_nothing
#                          a stand-in for the test binary that dies while listing its tests,
#                          or lists none (the last three: the harness self-test, which must
#                          see each of these boots fail)
#   fsg.filter=WORD        run only the tests whose names contain WORD (repeatable: all)
#   fsg.any=WORD           run only the tests whose names contain one of the fsg.any words
#   fsg.skip=WORD          leave out the tests whose names contain WORD (repeatable)
#   fsg.shell=1            an interactive shell instead of the tests
#   fsg.bench=smoke|full   the benchmarks (fsg-bench vm) instead of the tests
#   fsg.bench=icount[-smoke] their kernel-cost part only, for a guest under -icount
#   fsg.shard=K/N          run only the K-th of every N tests (the harness boots N guests)
#   fsg.env=NAME=VALUE     export NAME=VALUE to the tests (FSG_BURST_EVENTS, FSG_SOAK_SECS)

export PATH=/usr/bin:/usr/sbin:/bin:/sbin
mount -t proc proc /proc
read -r uptime idle < /proc/uptime
echo "FSG-VM: init started at uptime $uptime s"

mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
# Needed by some tests only, and not every kernel has each: failures are not fatal.
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null

mode=test
binary=/opt/fsg/vm_e2e
select=
shard=1/1
set -f # the command line's words are not file name patterns
for arg in $(cat /proc/cmdline); do
    case "$arg" in
    fsg.fail_on_purpose=1) export FSG_FAIL_ON_PURPOSE=1 ;;
    fsg.exit_on_purpose=*) export FSG_EXIT_ON_PURPOSE="${arg#fsg.exit_on_purpose=}" ;;
    fsg.test_binary=crashes_at_list) binary=/opt/fsg/crashes-at-list ;;
    fsg.test_binary=lists_nothing) binary=/bin/true ;;
    fsg.filter=*) select="$select --filter ${arg#fsg.filter=}" ;;
    fsg.any=*) select="$select --any ${arg#fsg.any=}" ;;
    fsg.skip=*) select="$select --skip ${arg#fsg.skip=}" ;;
    fsg.shell=1) mode=shell ;;
    fsg.bench=smoke) mode=bench bench_args=--smoke ;;
    fsg.bench=full) mode=bench bench_args= ;;
    fsg.bench=icount) mode=bench bench_args=--icount ;;
    fsg.bench=icount-smoke) mode=bench bench_args="--icount --smoke" ;;
    fsg.shard=*) shard="${arg#fsg.shard=}" ;;
    fsg.env=FSG_*=*) export "${arg#fsg.env=}" ;;
    esac
done
set +f

export FSG_BIN=/usr/bin/fsnotify-gadget FSG_IN_VM=1 HOME=/root RUST_BACKTRACE=1
hostname fsg-vm
cd /tmp

if [ "$mode" = shell ]; then
    echo "FSG-VM: shell; the test binary is /opt/fsg/vm_e2e; leave with 'exit' to power off"
    setsid cttyhack sh -l
elif [ "$mode" = bench ]; then
    # The same markers as the tests, so the harness reads the exit code alike.
    echo "FSG-VM: tests begin"
    /usr/bin/fsg-bench vm $bench_args
    code=$?
    echo "FSG-VM: tests end, exit code $code"
else
    echo "FSG-VM: tests begin"
    # One process a test, each with its own deadline (helpers/src/bin/fsg-vm-runner.rs).
    # $select is words without spaces or quotes (xtask checks them): split on purpose.
    # $? is read on the very next line: any command in between (even `set`) would replace
    # the runner's status with its own, and the host would see every guest pass.
    set -f
    /usr/bin/fsg-vm-runner --binary "$binary" --shard "$shard" $select
    code=$?
    set +f
    read -r cpu user nice system idle rest < /proc/stat
    echo "FSG-VM: guest CPU ticks: busy $((user + nice + system)) idle $idle"
    echo "FSG-VM: tests end, exit code $code"
fi
poweroff -f
