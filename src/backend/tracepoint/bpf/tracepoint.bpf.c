// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fsnotify tracing with tracepoints only: for kernels without kprobes and
 * BPF trampolines, and for lockdown=confidentiality (no bpf_probe_read_kernel).
 *
 * An inotify or fanotify event is a slab object. It is allocated in the
 * tracee's context, by the group's handler (raw_tp/kmalloc and
 * kmem_cache_alloc with call_site in inotify_handle_inode_event or
 * fanotify_handle_event): `allocs` keeps the tracee by the object's address.
 * A notification event is freed in the tracer's context by the read that
 * copies it out (raw_tp/kfree and kmem_cache_free with call_site in
 * inotify_read or fanotify_read). The tracepoint fires before the object is
 * released, so the event is read from the object itself there, joined with
 * its tracee and sent as one struct fsg_event, the record the fentry/kprobe
 * backends send (src/backend/kernel/bpf/kernel_event.h).
 *
 * Which group the event was taken from is not in the object. The reader
 * chooses its registers and its fd table: the syscall's first argument may
 * name another group's fd (an ia32 read's ebx while rdi names one, a
 * registered-ring io_uring_enter), and another thread may dup2 another group
 * over the fd while the read is blocked. So the fd the registers name only
 * proposes a group, and the kernel's own state decides: inotify_read and
 * fanotify_read keep the reading task on the group's notification_waitq for
 * the whole read, so the group whose queue holds the task that frees the
 * event is the one it was taken from; a tracee waiting for its answer is on
 * the group's access_waitq. A proposal those queues do not confirm is
 * dropped, and the record goes out with no group, which user space shows as
 * unknown (no path is guessed for it) and counts.
 *
 * A permission event is not freed by the read: it lives until it is
 * answered, and is then freed by its tracee (or, when the tracee was killed
 * while waiting, by the tracer's answer or close, with state cancelled). The
 * tracer that answered wakes the waiting tracee: tp_btf/sched_waking notes
 * it. At the free the event and its answer are sent.
 *
 * Kernel objects are read with bpf_core_cast() and plain loads, which
 * lockdown=confidentiality allows; where the kernel has no bpf_rdonly_cast
 * (before 6.2) user space sets probe_read and bpf_probe_read_kernel is used
 * instead. The verifier sees only the branch the constant selects.
 */
#include "common.bpf.h"
#include <bpf/bpf_tracing.h>
#include "../../kernel/bpf/kernel_event.h"
#include "tracepoint_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* io_uring's reads (uapi IORING_OP_*). */
#define IORING_OP_READV 1
#define IORING_OP_READ_FIXED 4
#define IORING_OP_READ 22

FSG_FILTER_GLOBALS;
/* No bpf_rdonly_cast on this kernel: read through bpf_probe_read_kernel. */
const volatile bool probe_read = false;
/* Set by the benchmark alone: the slab programs return at once, so what is
 * left is the cost of being attached to their tracepoints. */
const volatile bool hooks_only = false;

/* Call-site ranges from /proc/kallsyms: [start, end) and what they are. */
const volatile __u64 alloc_start[FSGT_ALLOC_RANGES] = {};
const volatile __u64 alloc_end[FSGT_ALLOC_RANGES] = {};
const volatile __u32 alloc_kind[FSGT_ALLOC_RANGES] = {};
const volatile __u64 alloc_lo = 0, alloc_hi = 0; /* the hull of all alloc ranges */
const volatile __u64 free_start[FSGT_FREE_RANGES] = {};
const volatile __u64 free_end[FSGT_FREE_RANGES] = {};
const volatile __u32 free_class[FSGT_FREE_RANGES] = {};
const volatile __u64 free_lo = 0, free_hi = 0;
/* f_op->read of inotify and fanotify files. */
const volatile __u64 inotify_read_addr = 0;
const volatile __u64 fanotify_read_addr = 0;

/* Counters user space reads through the mmapped .bss; see enum fsg_stat. */
FSG_COUNTERS(FSG_STAT_MAX);
/* fanotify events tracked in allocs: while 0, a wakeup cannot concern a
 * permission request and sched_waking returns at once. */
__s64 fanotify_tracked;

/* Make the skeleton generator emit these types for user space. */
enum fsgt_free_class _fsgt_free_class_type = 0;

/* What the tracee side saw, until the event is freed. */
struct alloc {
	__u64 queued_ns;
	__u64 group; /* permission events: the answering tracer's group */
	struct fsg_proc tracee;
	struct fsg_proc tracer; /* permission events: who answered */
	__u32 kind;
	__u32 flags; /* FSG_F_TRACER once the answer's tracer is known, FSGT_A_READER
		      * when only the reader woken by the request is */
};

#define FSGT_A_READER (1u << 30)

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64); /* the event object's address */
	__type(value, struct alloc);
} allocs SEC(".maps");

/* The fanotify event a thread queued last: the one it may wait on. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32); /* tid */
	__type(value, __u64);
} waiting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* user space may resize before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fsg_event);
} scratch SEC(".maps");

/* Components plus mount crossings a path walk takes at most. */
#define PATH_STEPS_MAX 1024
/* Entries one wait-queue check looks at, at most: a group's readers and
 * pollers. Past that the group is not confirmed, and is left unknown. */
#define WAITERS_MAX 256

/* A kernel pointer of type T whose fields K() and KBF() read. */
#define KP(T, p) (probe_read ? (T *)(__u64)(p) : bpf_core_cast((void *)(__u64)(p), T))
#define K(p, field) (probe_read ? BPF_CORE_READ(p, field) : (p)->field)
#define KBF(p, field) (probe_read ? BPF_CORE_READ_BITFIELD_PROBED(p, field) : BPF_CORE_READ_BITFIELD(p, field))

/* fanotify_perm_event.state values (FAN_EVENT_*). */
#define FAN_EVENT_INIT 0
#define FAN_EVENT_ANSWERED 2
#define FAN_EVENT_CANCELED 3

/*
 * Copies a kernel name of len bytes (at most FSG_NAME_MAX) from src to dst,
 * which has FSG_NAME_MAX + 1 bytes of room, and ends it with a NUL.
 */
static __always_inline void copy_name(char *dst, __u64 src, __u32 len)
{
	if (len > FSG_NAME_MAX)
		len = FSG_NAME_MAX;
	barrier_var(len);
	len &= FSG_NAME_MAX;
	if (probe_read) {
		bpf_probe_read_kernel(dst, len, (const void *)src);
	} else {
		/* Loads at a variable offset from a kernel pointer are refused:
		 * view the name as the flexible array of an inotify_event_info
		 * placed just before it, and load it 8 bytes at a time. Bytes past
		 * the name are copied too and not sent. */
		__u64 off = bpf_core_field_offset(struct inotify_event_info, name);
		struct inotify_event_info *ie = bpf_core_cast((void *)(src - off), struct inotify_event_info);

#pragma unroll
		for (int i = 0; i < (FSG_NAME_MAX + 1) / 8; i++)
			*(__u64 *)(dst + i * 8) = *(__u64 *)((char *)ie->name + i * 8);
	}
	dst[len] = 0;
}

#include "fanotify_fid.bpf.h"

static __always_inline __u32 group_prio(__u64 g)
{
	if (bpf_core_field_exists(struct fsnotify_group___prio_enum, priority)) {
		struct fsnotify_group___prio_enum *group = KP(struct fsnotify_group___prio_enum, g);
		return K(group, priority);
	}
	struct fsnotify_group___prio_uint *group = KP(struct fsnotify_group___prio_uint, g);
	return K(group, priority);
}

/* Which notify group a file is, 0 if it is none; *kind says which kind. */
static __always_inline __u64 file_group(__u64 f, __u32 *kind)
{
	__u64 read, group;

	if (!f)
		return 0;
	if (probe_read) {
		__u64 op = (__u64)BPF_CORE_READ((struct file *)f, f_op);

		read = (__u64)BPF_CORE_READ((struct file_operations *)op, read);
		group = (__u64)BPF_CORE_READ((struct file *)f, private_data);
	} else {
		struct file *file = bpf_core_cast((void *)f, struct file);

		read = (__u64)file->f_op->read;
		group = (__u64)file->private_data;
	}
	if (read && read == inotify_read_addr) {
		*kind = FSG_KIND_INOTIFY;
		return group;
	}
	if (read && read == fanotify_read_addr) {
		*kind = FSG_KIND_FANOTIFY;
		return group;
	}
	return 0;
}

/* One wait-queue walk: from the head's first entry until the head again. */
struct waiter_walk {
	__u64 head; /* the queue's list head */
	__u64 pos;  /* the current entry's list node */
	__u64 task;
	bool found;
};

static long waiter_step(__u64 index, struct waiter_walk *w)
{
	struct wait_queue_entry *we;
	struct list_head *node;

	if (!w->pos || w->pos == w->head)
		return 1;
	we = KP(struct wait_queue_entry, w->pos - bpf_core_field_offset(struct wait_queue_entry, entry));
	if ((__u64)K(we, private) == w->task) {
		w->found = true;
		return 1;
	}
	node = KP(struct list_head, w->pos);
	w->pos = (__u64)K(node, next);
	return 0;
}

/* Whether task is an entry of the wait queue whose head is at wq. */
static __always_inline bool waits_on(__u64 wq, __u64 task)
{
	struct wait_queue_head *h = KP(struct wait_queue_head, wq);
	struct waiter_walk w = {};

	w.head = wq + bpf_core_field_offset(struct wait_queue_head, head);
	w.pos = (__u64)K(h, head.next);
	w.task = task;
	bpf_loop(WAITERS_MAX, waiter_step, &w, 0);
	return w.found;
}

/* Which queue confirms a proposed group. */
enum confirm {
	ON_READ_QUEUE,   /* the task reads the group: its notification_waitq */
	ON_ANSWER_QUEUE, /* the task waits for the group's answer: fanotify's access_waitq */
};

static __always_inline bool confirmed(__u64 group, __u32 kind, enum confirm by, __u64 task)
{
	if (by == ON_READ_QUEUE)
		return waits_on(group + bpf_core_field_offset(struct fsnotify_group, notification_waitq), task);
	return kind == FSG_KIND_FANOTIFY &&
	       waits_on(group + bpf_core_field_offset(struct fsnotify_group, fanotify_data.access_waitq), task);
}

/*
 * The group of the notify file that task's current syscall names by its first
 * argument (rdi, or ebx for an ia32 syscall), once `by` confirms it for
 * waiter; 0 when none is confirmed. The registers only propose (see the top of
 * this file).
 */
static __always_inline __u64 task_fd_group(struct task_struct *task, __u32 *kind, enum confirm by, __u64 waiter)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct fdtable *fdt = task->files->fdt;
	__u64 fds[2] = { regs->di, regs->bx };
	__u32 max = fdt->max_fds;
	__u64 arr = (__u64)fdt->fd;

#pragma unroll
	for (int i = 0; i < 2; i++) {
		__u64 fd = fds[i], f = 0, group;
		__u32 k = 0;

		if (fd >= max)
			continue;
		if (probe_read) {
			bpf_probe_read_kernel(&f, sizeof(f), (void *)(arr + fd * 8));
		} else {
			/* The array slot as fd_array[0] of a files_struct. */
			__u64 off = bpf_core_field_offset(struct files_struct___arr, fd_array);
			struct files_struct___arr *fs = bpf_core_cast((void *)(arr + fd * 8 - off), struct files_struct___arr);

			f = (__u64)fs->fd_array[0];
		}
		group = file_group(f, &k);
		if (group && confirmed(group, k, by, waiter)) {
			*kind = k;
			return group;
		}
	}
	return 0;
}

/*
 * The group the current task is reading, confirmed by its read queue; 0 if
 * none is. A syscall proposes the file by its first argument; an io-wq worker
 * (io_uring punts a read of a notify fd to one) runs a request that holds the
 * file itself.
 */
static __always_inline __u64 reading_group(__u32 *kind)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 group;

	if (bpf_core_field_exists(task->worker_private) && bpf_core_field_exists(struct io_worker, cur_work) &&
	    (task->flags & PF_IO_WORKER)) {
		struct io_worker *w = KP(struct io_worker, task->worker_private);
		__u64 work = w ? (__u64)K(w, cur_work) : 0;
		struct io_kiocb *req;
		__u8 op;

		if (!work)
			return 0;
		req = KP(struct io_kiocb, work - bpf_core_field_offset(struct io_kiocb, work));
		op = K(req, opcode);
		if (op != IORING_OP_READ && op != IORING_OP_READV && op != IORING_OP_READ_FIXED)
			return 0;
		group = file_group((__u64)K(req, file), kind);
		return group && confirmed(group, *kind, ON_READ_QUEUE, (__u64)task) ? group : 0;
	}
	return task_fd_group(task, kind, ON_READ_QUEUE, (__u64)task);
}

/* The kind of the alloc range call_site is in, 0 if none. Maps untouched. */
static __always_inline __u32 alloc_site(__u64 site)
{
	if (site < alloc_lo || site >= alloc_hi)
		return 0;
#pragma unroll
	for (int i = 0; i < FSGT_ALLOC_RANGES; i++)
		if (site >= alloc_start[i] && site < alloc_end[i])
			return alloc_kind[i];
	return 0;
}

static __always_inline __u32 free_site(__u64 site)
{
	if (site < free_lo || site >= free_hi)
		return 0;
#pragma unroll
	for (int i = 0; i < FSGT_FREE_RANGES; i++)
		if (site >= free_start[i] && site < free_end[i])
			return free_class[i];
	return 0;
}

/* State of one path walk, shared with the bpf_loop callback. */
struct path_walk {
	char *buf; /* FSG_NAME_BUF bytes */
	__u64 dentry;
	__u64 mnt;
	__u64 mnt_parent;
	__u32 off;
	bool done;
};

/* One step up: a component of the name, or a hop to the parent mount. */
static long path_step(__u64 index, struct path_walk *w)
{
	struct dentry *dentry = KP(struct dentry, w->dentry);
	struct mount *mnt = KP(struct mount, w->mnt);
	__u64 mnt_root = (__u64)K(mnt, mnt.mnt_root);
	__u64 parent = (__u64)K(dentry, d_parent);
	__u32 off = w->off;
	__u32 len;

	if (w->dentry == mnt_root || w->dentry == parent) {
		if (w->dentry != mnt_root || w->mnt == w->mnt_parent) {
			w->done = true; /* the root, or a dentry of no mount */
			return 1;
		}
		w->dentry = (__u64)K(mnt, mnt_mountpoint);
		w->mnt = w->mnt_parent;
		mnt = KP(struct mount, w->mnt);
		w->mnt_parent = (__u64)K(mnt, mnt_parent);
		return 0;
	}
	if (off >= FSG_PATH_MAX)
		return 1; /* not done: truncated */
	len = K(dentry, d_name.len);
	if (len > FSG_NAME_MAX)
		len = FSG_NAME_MAX;
	copy_name(&w->buf[off & (FSG_PATH_MAX - 1)], (__u64)K(dentry, d_name.name), len);
	w->off = off + len + 1;
	w->dentry = parent;
	return 0;
}

/*
 * Writes the path's components into buf (FSG_NAME_BUF bytes), leaf first,
 * each ending in NUL, walking up dentries and across mounts to the root; user
 * space reverses them. Returns the bytes used; sets FSG_F_NAME_TRUNCATED in
 * *flags when the path did not fit.
 */
static __always_inline __u32 read_path(char *buf, struct path *path, __u32 *flags)
{
	struct path_walk w = {};
	__u64 vfsmnt = (__u64)K(path, mnt);
	struct mount *mnt = KP(struct mount, vfsmnt - bpf_core_field_offset(struct mount, mnt));

	w.buf = buf;
	w.dentry = (__u64)K(path, dentry);
	w.mnt = vfsmnt - bpf_core_field_offset(struct mount, mnt);
	w.mnt_parent = (__u64)K(mnt, mnt_parent);
	*flags |= FSG_F_PATH_COMPONENTS;
	bpf_loop(PATH_STEPS_MAX, path_step, &w, 0);
	if (!w.done)
		*flags |= FSG_F_NAME_TRUNCATED;
	if (w.off > FSG_NAME_BUF)
		w.off = FSG_NAME_BUF;
	return w.off;
}

static __always_inline void read_inotify(struct fsg_event *e, __u64 ptr)
{
	struct inotify_event_info *ie = KP(struct inotify_event_info, ptr);
	int name_len = K(ie, name_len);

	e->i_mask = K(ie, mask);
	e->i_wd = K(ie, wd);
	e->i_cookie = K(ie, sync_cookie);
	e->name_len = 0;
	if (name_len > 0) {
		copy_name(e->name, ptr + bpf_core_field_offset(struct inotify_event_info, name), name_len);
		e->name_len = name_len > FSG_NAME_MAX ? FSG_NAME_MAX : name_len;
		if (name_len > FSG_NAME_MAX)
			e->flags |= FSG_F_NAME_TRUNCATED;
	}
}

static __always_inline __u32 fanotify_type(__u64 ptr)
{
	struct fanotify_event *fe = KP(struct fanotify_event, ptr);

	return KBF(fe, type);
}

static __always_inline bool is_perm_type(__u32 type)
{
	return type == bpf_core_enum_value(enum fanotify_event_type, FANOTIFY_EVENT_TYPE_PATH_PERM);
}

static __always_inline void read_fanotify(struct fsg_event *e, __u64 group, __u64 ptr)
{
	struct fanotify_event *fe = KP(struct fanotify_event, ptr);
	__u32 type = KBF(fe, type);
	struct pid *pid = K(fe, pid);

	e->fa_type = type;
	e->fa_mask = K(fe, mask);
	if (pid) {
		pid = KP(struct pid, pid);
		e->fa_pid = K(pid, numbers[0].nr);
	}
	if (group) {
		struct fsnotify_group *g = KP(struct fsnotify_group, group);

		e->fa_flags = K(g, fanotify_data.flags);
		e->fa_f_flags = K(g, fanotify_data.f_flags);
	}
	e->name_len = 0;
	if (type == bpf_core_enum_value(enum fanotify_event_type, FANOTIFY_EVENT_TYPE_PATH)) {
		struct fanotify_path_event *pe = KP(struct fanotify_path_event, ptr);
		e->name_len = read_path(e->name, &pe->path, &e->flags);
	} else if (is_perm_type(type)) {
		struct fanotify_perm_event *pe = KP(struct fanotify_perm_event, ptr);
		e->flags |= FSG_F_PERM;
		e->name_len = read_path(e->name, &pe->path, &e->flags);
	} else {
		read_fid(e, ptr, type);
	}
}

static __always_inline void submit(struct fsg_event *e)
{
	__u64 size = offsetof(struct fsg_event, name) + e->name_len;

	if (size > sizeof(*e))
		size = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, size, 0)) {
		fsg_count(FSG_STAT_RINGBUF_DROPS);
		fsg_count_lost_for(e->group);
	}
}

static __always_inline struct fsg_event *start_event(__u32 type, struct alloc *a, __u64 ptr, __u64 group)
{
	__u32 zero = 0;
	struct fsg_event *e = bpf_map_lookup_elem(&scratch, &zero);

	if (!e)
		return NULL;
	fsg_event_start(e, type, group, ptr);
	if (a) {
		e->queued_ns = a->queued_ns;
		e->tracee = a->tracee;
		e->flags |= FSG_F_TRACEE;
	}
	if (group) {
		e->prio = group_prio(group);
		e->flags |= FSG_F_PRIO;
	}
	return e;
}

static __always_inline int on_alloc(__u64 site, __u64 ptr)
{
	struct alloc a = {};
	__u32 kind = alloc_site(site);
	__u64 pid_tgid;
	__u32 tid;

	if (hooks_only)
		return 0;
	if (!kind || !ptr || !(want_kinds & kind))
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted_tracee())
		return 0;
	a.queued_ns = bpf_ktime_get_boot_ns();
	a.kind = kind;
	fill_proc(&a.tracee);
	if (bpf_map_update_elem(&allocs, &ptr, &a, BPF_ANY)) {
		fsg_count(FSG_STAT_PENDING_FULL);
		return 0;
	}
	if (kind == FSG_KIND_FANOTIFY) {
		tid = (__u32)pid_tgid;
		__sync_fetch_and_add(&fanotify_tracked, 1);
		bpf_map_update_elem(&waiting, &tid, &ptr, BPF_ANY);
	}
	return 0;
}

/*
 * After the tracer's read freed an event: when the group's overflow event is
 * next in its queue, the same read (or the next) copies it out, without a free.
 */
static __always_inline void check_overflow(__u64 group, __u32 kind)
{
	struct fsnotify_group___queue *g = KP(struct fsnotify_group___queue, group);
	__u64 ovf = (__u64)K(g, overflow_event);
	__u64 head = (__u64)K(g, notification_list.next);
	struct fsg_event *e;

	if (!ovf || head != ovf + bpf_core_field_offset(struct fsnotify_event, list))
		return;
	e = start_event(kind == FSG_KIND_INOTIFY ? FSG_TYPE_INOTIFY : FSG_TYPE_FANOTIFY, NULL, ovf, group);
	if (!e)
		return;
	e->flags |= FSG_F_OVERFLOW | FSG_F_TRACER;
	fill_proc(&e->tracer);
	if (kind == FSG_KIND_INOTIFY)
		read_inotify(e, ovf);
	else
		read_fanotify(e, group, ovf);
	submit(e);
}

/* A permission event ends: it was answered, or its tracee stopped waiting. */
static __always_inline void perm_done(struct alloc *a, __u64 ptr, __u32 tid)
{
	struct fanotify_perm_event *pe = KP(struct fanotify_perm_event, ptr);
	__u32 state = KBF(pe, state);
	__u32 response = KBF(pe, response);
	struct fsg_proc tracer = {};
	bool have_tracer = false;
	__u64 group = 0;
	struct fsg_event *e;

	if (a->flags & (FSG_F_TRACER | FSGT_A_READER)) {
		tracer = a->tracer;
		group = a->group;
		have_tracer = true;
	} else if (a->tracee.tid != tid) {
		/* Freed by the tracer: a cancelled request it answered or closed.
		 * Its tracee is gone, so no queue can confirm the group the
		 * tracer's registers propose: it stays unknown. */
		fill_proc(&tracer);
		have_tracer = true;
	}
	if (tracer_pid && (!have_tracer || tracer.pid != tracer_pid))
		return;
	if (tracer_comm[0] && (!have_tracer || !fsg_comm_eq(tracer.comm, tracer_comm)))
		return;
	if (tracer_cgroup && (!have_tracer || tracer.cgroup_id != tracer_cgroup))
		return;
	if (tracer_group && group != tracer_group)
		return;
	/* Delivered (read by a tracer) unless it never left the queue. */
	if (state != FAN_EVENT_INIT) {
		e = start_event(FSG_TYPE_FANOTIFY, a, ptr, group);
		if (e) {
			if (have_tracer) {
				e->tracer = tracer;
				e->flags |= FSG_F_TRACER;
			}
			read_fanotify(e, group, ptr);
			submit(e);
		}
	}
	e = start_event(FSG_TYPE_FA_RESP, a, ptr, group);
	if (!e)
		return;
	if (have_tracer) {
		e->tracer = tracer;
		e->flags |= FSG_F_TRACER;
	}
	read_fanotify(e, group, ptr);
	/* A cancelled request may hold the answer given after its tracee left. */
	e->fa_response = state == FAN_EVENT_CANCELED ? 0 : response;
	e->fa_state = state;
	submit(e);
}

static __always_inline int on_free(__u64 site, __u64 ptr)
{
	__u32 class, tid, kind = 0, fd_kind = 0;
	struct alloc *a;
	struct fsg_event *e;
	__u64 group;

	if (hooks_only)
		return 0;
	class = free_site(site);
	if (!class || !ptr)
		return 0;
	a = bpf_map_lookup_elem(&allocs, &ptr);
	if (!a) {
		/* Freed where a group is torn down, and no event we track: the
		 * group object itself (where the last put is inlined there), or an
		 * event of it we never saw, whose address no group can have now. */
		if (class == FSGT_FREE_GROUP)
			fsg_group_gone(ptr);
		return 0;
	}
	tid = (__u32)bpf_get_current_pid_tgid();
	kind = a->kind;
	if (kind == FSG_KIND_FANOTIFY && is_perm_type(fanotify_type(ptr))) {
		perm_done(a, ptr, tid);
		goto out;
	}
	/* A free outside the read: merged into a queued event, dropped on
	 * overflow, or flushed with its group. Not delivered. */
	if (class == FSGT_FREE_HANDLER || class == FSGT_FREE_GROUP)
		goto out;
	group = reading_group(&fd_kind);
	/* A shared free path is a read only when a read queue of this kind of
	 * group holds the task; otherwise a flush. */
	if (class == FSGT_FREE_OTHER && (!group || fd_kind != kind))
		goto out;
	if (fd_kind != kind)
		group = 0; /* read some other way: the group is unknown */
	if (tracer_pid && (bpf_get_current_pid_tgid() >> 32) != tracer_pid)
		goto out;
	if (!fsg_comm_is(tracer_comm) || !fsg_cgroup_is(tracer_cgroup))
		goto out;
	if (tracer_group && group != tracer_group)
		goto out;
	e = start_event(kind == FSG_KIND_INOTIFY ? FSG_TYPE_INOTIFY : FSG_TYPE_FANOTIFY, a, ptr, group);
	if (!e)
		goto out;
	fill_proc(&e->tracer);
	e->flags |= FSG_F_TRACER;
	if (kind == FSG_KIND_INOTIFY)
		read_inotify(e, ptr);
	else
		read_fanotify(e, group, ptr);
	submit(e);
	if (group)
		check_overflow(group, kind);
out:
	if (kind == FSG_KIND_FANOTIFY) {
		__u32 owner = a->tracee.tid;
		__u64 *w = bpf_map_lookup_elem(&waiting, &owner);

		if (w && *w == ptr)
			bpf_map_delete_elem(&waiting, &owner);
	}
	if (!bpf_map_delete_elem(&allocs, &ptr) && kind == FSG_KIND_FANOTIFY)
		__sync_fetch_and_add(&fanotify_tracked, -1);
	return 0;
}

/*
 * The slab tracepoints' first two arguments: call_site, then ptr. One
 * program serves both allocation tracepoints (kmalloc, kmem_cache_alloc)
 * and one both frees (kfree, kmem_cache_free): user space attaches each
 * twice, and the verifier checks each body once.
 */

SEC("raw_tp")
int tp_alloc(struct bpf_raw_tracepoint_args *ctx)
{
	return on_alloc(ctx->args[0], ctx->args[1]);
}

SEC("raw_tp")
int tp_free(struct bpf_raw_tracepoint_args *ctx)
{
	return on_free(ctx->args[0], ctx->args[1]);
}

/*
 * A task waking a tracee that waits for a permission answer: once the
 * request is answered, the waker is the tracer that answered it (its write
 * to the fanotify fd, or its close).
 */
SEC("tp_btf/sched_waking")
int BPF_PROG(tp_waking, struct task_struct *p)
{
	__u32 tid = p->pid, kind = 0;
	__u64 *w, ptr, group;
	struct alloc *a;
	struct fanotify_perm_event *pe;

	if (fanotify_tracked <= 0)
		return 0;
	w = bpf_map_lookup_elem(&waiting, &tid);
	if (w) {
		ptr = *w;
		a = bpf_map_lookup_elem(&allocs, &ptr);
		if (!a || !is_perm_type(fanotify_type(ptr)))
			return 0;
		pe = KP(struct fanotify_perm_event, ptr);
		if (KBF(pe, state) != FAN_EVENT_ANSWERED)
			return 0;
		fill_proc(&a->tracer);
		/* The answering tracer's write proposes the group; the queue its
		 * tracee waits on confirms it. */
		group = task_fd_group(bpf_get_current_task_btf(), &kind, ON_ANSWER_QUEUE, (__u64)p);
		a->group = kind == FSG_KIND_FANOTIFY ? group : 0;
		a->flags |= FSG_F_TRACER;
		return 0;
	}
	/*
	 * The tracee queueing its request wakes the reader blocked on the
	 * group's queue: the tracer that will read it, unless another reader
	 * of the group takes it first. Kept unless the answer's waker (above)
	 * is seen: a tracer that answers before its tracee sleeps wakes nobody.
	 */
	tid = (__u32)bpf_get_current_pid_tgid();
	w = bpf_map_lookup_elem(&waiting, &tid);
	if (!w)
		return 0;
	ptr = *w;
	a = bpf_map_lookup_elem(&allocs, &ptr);
	if (!a || (a->flags & (FSG_F_TRACER | FSGT_A_READER)) || !is_perm_type(fanotify_type(ptr)))
		return 0;
	pe = KP(struct fanotify_perm_event, ptr);
	if (KBF(pe, state) != FAN_EVENT_INIT)
		return 0;
	fill_proc_of(&a->tracer, p);
	group = task_fd_group(p, &kind, ON_READ_QUEUE, (__u64)p);
	a->group = kind == FSG_KIND_FANOTIFY ? group : 0;
	a->flags |= FSGT_A_READER;
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_exit, struct task_struct *p)
{
	__u32 tid = p->pid;

	bpf_map_delete_elem(&waiting, &tid);
	return 0;
}
