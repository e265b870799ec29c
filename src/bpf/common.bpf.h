/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * BPF C that more than one program needs: the process fields in both CO-RE
 * forms, the tracers' filter globals and loss counters, and local flavors of
 * the kernel types an iterator reads. Included by the .bpf.c files only,
 * before their own event header.
 */
#ifndef FSG_COMMON_BPF_H
#define FSG_COMMON_BPF_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "notify_kind.h"
#include "proc_info.h"

/*
 * The filters every tracer takes, set by user space before load through the
 * skeleton's .rodata; 0 means "any".
 */
#define FSG_FILTER_GLOBALS                                                       \
	const volatile __u32 want_kinds = FSG_KIND_INOTIFY | FSG_KIND_FANOTIFY; \
	const volatile __u32 tracee_pid = 0;                                    \
	const volatile __u32 tracer_pid = 0;                                    \
	/* The tool's own pid: events it causes are left out (0: kept). */      \
	const volatile __u32 self_pid = 0;                                      \
	/* A comm each side must have (its first byte 0: any). */               \
	const volatile char tracee_comm[FSG_COMM_LEN] = {};                     \
	const volatile char tracer_comm[FSG_COMM_LEN] = {};                     \
	/* The cgroup v2 id each side must be in (0: any). */                  \
	const volatile __u64 tracee_cgroup = 0;                                 \
	const volatile __u64 tracer_cgroup = 0;                                 \
	const volatile __u64 tracer_group = 0

/* Whether the current task is in cgroup `want` (a filter global); true when it is 0 (any). */
#define fsg_cgroup_is(want) (!(want) || bpf_get_current_cgroup_id() == (want))

/* Whether comm `have` is `want` (a filter global), up to the first NUL. */
#define fsg_comm_eq(have, want)                                                  \
	({                                                                       \
		bool same_ = true;                                               \
		for (int i_ = 0; i_ < FSG_COMM_LEN; i_++) {                      \
			if ((have)[i_] != (want)[i_]) {                          \
				same_ = false;                                   \
				break;                                           \
			}                                                        \
			if (!(have)[i_])                                         \
				break;                                           \
		}                                                                \
		same_;                                                           \
	})

/* Whether the current task's comm is `want`; true when `want` is empty (any). */
#define fsg_comm_is(want)                                                        \
	({                                                                       \
		char now_[FSG_COMM_LEN] = {};                                    \
		bool is_ = true;                                                 \
		if ((want)[0]) {                                                 \
			bpf_get_current_comm(now_, sizeof(now_));                \
			is_ = fsg_comm_eq(now_, want);                           \
		}                                                                \
		is_;                                                             \
	})

/*
 * Loss counters user space reads through the mmapped .bss (`stats[]`),
 * indexed by the object's own stat enum, and how to bump one.
 */
/* The current task may be a tracee: --tracee-pid, and the tool itself unless --include-self. */
#define wanted_tracee()                                                          \
	({                                                                       \
		__u32 tgid_ = bpf_get_current_pid_tgid() >> 32;                  \
		!(tracee_pid && tgid_ != tracee_pid) && !(self_pid && tgid_ == self_pid) && \
			fsg_comm_is(tracee_comm) && fsg_cgroup_is(tracee_cgroup); \
	})

#define FSG_COUNTERS(n) __u64 stats[n]
#define fsg_count(stat) __sync_fetch_and_add(&stats[(stat)], 1)

/*
 * Records lost to a full ring buffer, by the address of the group they were
 * for: user space ties a group to its tracer through the records of it that
 * got through (top's LOST column), and takes and deletes each entry as it
 * reads it. A group past the map's size is counted in stats[] only.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} lost_by_group SEC(".maps");

static __always_inline void fsg_count_lost_for(__u64 group)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(&lost_by_group, &group);

	if (!n && !bpf_map_update_elem(&lost_by_group, &group, &one, BPF_NOEXIST))
		return;
	/* Known, or made by another CPU since the lookup. */
	if (!n)
		n = bpf_map_lookup_elem(&lost_by_group, &group);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/*
 * Groups torn down, by address, with when (CLOCK_BOOTTIME ns): user space
 * keys what it caches about a group by its address, which a new group may
 * get once the old one is freed; it takes and deletes each entry as it reads
 * it. Past the map's size the oldest go (user space then trusts nothing it
 * cached from before).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u64);
} groups_gone SEC(".maps");

static __always_inline void fsg_group_gone(__u64 group)
{
	__u64 now = bpf_ktime_get_boot_ns();

	bpf_map_update_elem(&groups_gone, &group, &now, BPF_ANY);
}

/* A comm (FSG_COMM_LEN bytes, 8-aligned in struct fsg_proc) from a task's. */
#define copy_comm(dst, src)                                      \
	do {                                                     \
		const __u64 *from = (const __u64 *)(src);        \
		__u64 *to = (__u64 *)(dst);                      \
		to[0] = from[0];                                 \
		to[1] = from[1];                                 \
	} while (0)
_Static_assert(__builtin_offsetof(struct fsg_proc, comm) % 8 == 0 && __builtin_offsetof(struct fsg_proc, pcomm) % 8 == 0,
	       "copy_comm stores 8 bytes at a time");

/*
 * A task's process fields by direct BTF pointer loads only: no helper call,
 * and no bpf_probe_read_kernel per field chain (tens of instructions each),
 * nothing lockdown=confidentiality refuses. The fentry/kprobe programs fill
 * the current task's this way twice per event.
 */
static __always_inline void fill_proc_of(struct fsg_proc *p, struct task_struct *task)
{
	struct task_struct *parent = task->real_parent;
	const struct cred *cred = task->cred;
	struct nsproxy *ns = task->nsproxy;
	struct css_set *cgroups = task->cgroups;

	p->pid = task->tgid;
	p->tid = task->pid;
	p->uid = cred->uid.val;
	p->gid = cred->gid.val;
	p->ppid = parent->tgid;
	p->mntns_id = ns ? ns->mnt_ns->ns.inum : 0;
	/* What bpf_get_current_cgroup_id() gives: the cgroup v2 id. */
	p->cgroup_id = cgroups && cgroups->dfl_cgrp && cgroups->dfl_cgrp->kn ? cgroups->dfl_cgrp->kn->id : 0;
	/* Eight bytes a load: the verifier allows any read within a char array. */
	copy_comm(p->comm, task->comm);
	copy_comm(p->pcomm, parent->comm);
}

/*
 * The current task's, with helpers for what they give: a few instructions
 * more than fill_proc_of, and a smaller stack, which the tracepoint
 * backend's tp_free needs beside its bpf_loop callback on 6.1 (512 bytes in
 * all).
 */
static __always_inline void fill_proc(struct fsg_proc *p)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_struct *parent = task->real_parent;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	struct nsproxy *ns = task->nsproxy;

	p->pid = pid_tgid >> 32;
	p->tid = (__u32)pid_tgid;
	p->uid = (__u32)uid_gid;
	p->gid = uid_gid >> 32;
	p->ppid = parent->tgid;
	p->mntns_id = ns ? ns->mnt_ns->ns.inum : 0;
	p->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(p->comm, sizeof(p->comm));
#pragma unroll
	for (int i = 0; i < FSG_COMM_LEN; i++)
		p->pcomm[i] = parent->comm[i];
}

/*
 * Local flavors (CO-RE ignores the ___fsg suffix) of the task_file iterator
 * context and of file_operations, so a program does not depend on which of
 * them kernel_types.h declares.
 */
struct seq_file;
struct bpf_iter_meta___fsg {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file___fsg {
	struct bpf_iter_meta___fsg *meta;
	struct task_struct *task;
	u32 fd;
	struct file *file;
} __attribute__((preserve_access_index));

struct file_operations___fsg {
	ssize_t (*read)(struct file *, char *, size_t, loff_t *);
} __attribute__((preserve_access_index));

#endif /* FSG_COMMON_BPF_H */
