// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fsnotify tracing with tracepoints only: for kernels without kprobes and
 * BPF trampolines, under lockdown (no bpf_probe_read_kernel: this file uses
 * none; task fields are read through BTF pointers).
 *
 * Tracee side: tp_btf/kmalloc and kmem_cache_alloc whose call_site lies in
 * inotify's/fanotify's event handlers allocate an event: ALLOC {ptr, tracee}.
 * Tracer side: read(2) of a known notify fd (tp_btf/sys_enter, sys_exit) is
 * followed; the events the kernel frees while it copies them out (tp_btf/kfree,
 * kmem_cache_free with call_site in the free candidates) are DELIVER {ptr} in
 * copy order, and the returned buffer is sent as READ chunks. User space pairs
 * the buffer's records with the DELIVER records of that read (join.rs).
 * Permission answers: write(2) to a known fanotify fd is sent as WRITE.
 * Known notify fds: learned at inotify_init/inotify_init1/fanotify_init exit,
 * dup, and by user space (/proc scan + the task_file iterator below);
 * forgotten at close and process exit.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tracepoint_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* x86-64 syscall numbers (the project builds for __TARGET_ARCH_x86). */
#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_readlink 89
#define NR_readlinkat 267
#define NR_dup 32
#define NR_dup2 33
#define NR_fcntl 72
#define NR_inotify_init 253
#define NR_dup3 292
#define NR_inotify_init1 294
#define NR_fanotify_init 300
#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030

/* Filters, set by user space before load; 0 means "any". */
const volatile __u32 want_kinds = FSGT_KIND_INOTIFY | FSGT_KIND_FANOTIFY;
const volatile __u32 tracee_pid = 0;
const volatile __u32 tracer_pid = 0;
const volatile __u64 tracer_group = 0;
/* Set by the benchmark alone: the hot programs return at once, so what is
 * left is the cost of being attached to their tracepoints. */
const volatile bool hooks_only = false;

/* Call-site ranges from /proc/kallsyms: [start, end), kind (0: either). */
const volatile __u64 alloc_start[FSGT_ALLOC_RANGES] = {};
const volatile __u64 alloc_end[FSGT_ALLOC_RANGES] = {};
const volatile __u32 alloc_kind[FSGT_ALLOC_RANGES] = {};
const volatile __u64 alloc_lo = 0, alloc_hi = 0; /* the hull of all alloc ranges */
const volatile __u64 free_start[FSGT_FREE_RANGES] = {};
const volatile __u64 free_end[FSGT_FREE_RANGES] = {};
const volatile __u64 free_lo = 0, free_hi = 0;

/* Counters user space reads through the mmapped .bss; see enum fsgt_stat. */
__u64 stats[FSGT_STAT_MAX];

/* Make the skeleton generator emit these types for user space. */
struct fsgt_event _fsgt_event_type = {};
struct fsgt_chunk _fsgt_chunk_type = {};
struct fsgt_iter_rec _fsgt_iter_rec_type = {};
struct fsgt_fd_key _fsgt_fd_key_type = {};
struct fsgt_fd_val _fsgt_fd_val_type = {};
enum fsgt_kind _fsgt_kind_type = 0;
enum fsgt_rec _fsgt_rec_type = 0;
enum fsgt_flags _fsgt_flags_type = 0;
enum fsgt_stat _fsgt_stat_type = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct fsgt_fd_key);
	__type(value, struct fsgt_fd_val);
} fds SEC(".maps");

/* Processes that held a notify fd at some point (for fork/exec/exit): kinds. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u32);
} holders SEC(".maps");

/* A followed read(2) in progress, by thread. */
struct reading {
	__u64 start;
	__u64 buf;
	__u64 group;
	__s32 fd;
	__u32 kind;
	__u32 frees; /* events freed so far: the next DELIVER's index */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct reading);
} reading SEC(".maps");

/* A fanotify tracer's readlink(2) in progress, by thread. */
struct linking {
	__u64 path;
	__u64 buf;
	__u64 bufsiz;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct linking);
} linking SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

static __always_inline void count(enum fsgt_stat stat)
{
	__sync_fetch_and_add(&stats[stat], 1);
}

/* The current task through its BTF pointer: no bpf_probe_read_kernel. */
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
	bpf_get_current_comm(p->comm, sizeof(p->comm));
#pragma unroll
	for (int i = 0; i < FSG_COMM_LEN; i++)
		p->pcomm[i] = parent->comm[i];
}

static __always_inline void output(struct fsgt_event *e)
{
	if (bpf_ringbuf_output(&events, e, sizeof(struct fsgt_event), 0))
		count(FSGT_STAT_RINGBUF_DROPS);
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

static __always_inline bool free_site(__u64 site)
{
	if (site < free_lo || site >= free_hi)
		return false;
#pragma unroll
	for (int i = 0; i < FSGT_FREE_RANGES; i++)
		if (site >= free_start[i] && site < free_end[i])
			return true;
	return false;
}

static __always_inline int on_alloc(__u64 site, const void *ptr)
{
	struct fsgt_event e;
	__u32 kind = alloc_site(site);

	if (hooks_only)
		return 0;
	if (!kind || !ptr || !(want_kinds & kind))
		return 0;
	if (tracee_pid && (bpf_get_current_pid_tgid() >> 32) != tracee_pid)
		return 0;
	__builtin_memset(&e, 0, sizeof(struct fsgt_event));
	e.ts = bpf_ktime_get_boot_ns();
	e.rec = FSGT_REC_ALLOC;
	e.kind = kind;
	e.ptr = (__u64)ptr;
	fill_proc(&e.proc);
	output(&e);
	return 0;
}

static __always_inline int on_free(__u64 site, const void *ptr)
{
	struct fsgt_event e;
	__u64 pid_tgid;
	__u32 tid;
	struct reading *r;

	if (hooks_only || !free_site(site) || !ptr)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	tid = (__u32)pid_tgid;
	__builtin_memset(&e, 0, sizeof(struct fsgt_event));
	r = bpf_map_lookup_elem(&reading, &tid);
	if (r) {
		e.rec = FSGT_REC_DELIVER;
		e.kind = r->kind;
		e.fd = r->fd;
		e.read_id = r->start;
		e.arg = r->frees++;
	} else {
		struct task_struct *task = bpf_get_current_task_btf();

		e.rec = FSGT_REC_DROP;
		/* A permission event's tracee killed while it waited frees the
		 * event itself, on its way out. */
		if (task->signal->flags & SIGNAL_GROUP_EXIT)
			e.flags |= FSGT_F_DYING;
	}
	e.ts = bpf_ktime_get_boot_ns();
	e.ptr = (__u64)ptr;
	e.proc.pid = pid_tgid >> 32;
	e.proc.tid = tid;
	output(&e);
	return 0;
}

SEC("tp_btf/kmalloc")
int BPF_PROG(tp_kmalloc, unsigned long call_site, const void *ptr)
{
	return on_alloc(call_site, ptr);
}

SEC("tp_btf/kmem_cache_alloc")
int BPF_PROG(tp_kmem_cache_alloc, unsigned long call_site, const void *ptr)
{
	return on_alloc(call_site, ptr);
}

SEC("tp_btf/kfree")
int BPF_PROG(tp_kfree, unsigned long call_site, const void *ptr)
{
	return on_free(call_site, ptr);
}

SEC("tp_btf/kmem_cache_free")
int BPF_PROG(tp_kmem_cache_free, unsigned long call_site, const void *ptr)
{
	return on_free(call_site, ptr);
}

static __always_inline struct fsgt_fd_val *lookup_fd(__u32 tgid, __s32 fd)
{
	struct fsgt_fd_key k = { .tgid = tgid, .fd = fd };

	return bpf_map_lookup_elem(&fds, &k);
}

/* Whether the tracer-side filters let this process's fd through. */
static __always_inline bool tracer_wanted(__u32 tgid, struct fsgt_fd_val *v)
{
	if (!(want_kinds & v->kind))
		return false;
	if (tracer_pid && tgid != tracer_pid)
		return false;
	/* An unknown group (0) passes: user space filters once it knows it. */
	if (tracer_group && v->group && v->group != tracer_group)
		return false;
	return true;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_sys_enter, struct pt_regs *regs, long id)
{
	__u64 pid_tgid;
	__u32 tgid, tid;
	struct fsgt_fd_val *v;

	if (hooks_only)
		return 0;
	if (id != NR_read && id != NR_write && id != NR_close && id != NR_readlink &&
	    id != NR_readlinkat)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	tgid = pid_tgid >> 32;
	tid = (__u32)pid_tgid;
	if (id == NR_readlink || id == NR_readlinkat) {
		/* How fanotify clients name an event fd: /proc/self/fd/N. */
		__u32 *kinds = bpf_map_lookup_elem(&holders, &tgid);
		struct linking l = {};

		if (!kinds || !(*kinds & FSGT_KIND_FANOTIFY) || !(want_kinds & FSGT_KIND_FANOTIFY))
			return 0;
		if (tracer_pid && tgid != tracer_pid)
			return 0;
		l.path = id == NR_readlink ? regs->di : regs->si;
		l.buf = id == NR_readlink ? regs->si : regs->dx;
		l.bufsiz = id == NR_readlink ? regs->dx : regs->r10;
		bpf_map_update_elem(&linking, &tid, &l, BPF_ANY);
		return 0;
	}
	__s32 fd = (__s32)regs->di;
	v = lookup_fd(tgid, fd);
	if (!v)
		return 0;
	if (id == NR_close) {
		struct fsgt_fd_key k = { .tgid = tgid, .fd = fd };
		bpf_map_delete_elem(&fds, &k);
		return 0;
	}
	if (!tracer_wanted(tgid, v))
		return 0;
	if (id == NR_read) {
		struct reading r = { .start = bpf_ktime_get_boot_ns(), .buf = regs->si, .group = v->group, .fd = fd, .kind = v->kind };
		if (bpf_map_update_elem(&reading, &tid, &r, BPF_ANY))
			count(FSGT_STAT_READING_FULL);
		return 0;
	}
	/* write(2): a fanotify permission answer. */
	if (v->kind != FSGT_KIND_FANOTIFY)
		return 0;
	struct fsgt_chunk *c = bpf_ringbuf_reserve(&events, sizeof(*c), 0);
	struct fsgt_event *e;
	if (!c) {
		count(FSGT_STAT_RINGBUF_DROPS);
		count(FSGT_STAT_WRITE_DROPS);
		return 0;
	}
	e = &c->hdr;
	__builtin_memset(e, 0, sizeof(struct fsgt_event));
	e->ts = bpf_ktime_get_boot_ns();
	e->rec = FSGT_REC_WRITE;
	e->kind = FSGT_KIND_FANOTIFY;
	e->fd = fd;
	e->group = v->group;
	e->read_id = 0;
	fill_proc(&e->proc);
	__u64 count_arg = regs->dx;
	e->total = count_arg > 0xffffffff ? 0xffffffff : count_arg;
	e->len = count_arg < FSGT_WRITE_MAX ? count_arg : FSGT_WRITE_MAX;
	if (bpf_probe_read_user(c->data, e->len & (FSGT_WRITE_MAX * 2 - 1), (void *)regs->si))
		e->flags |= FSGT_F_FAULT;
	bpf_ringbuf_submit(c, 0);
	return 0;
}

struct copy_ctx {
	struct reading r;
	struct fsg_proc proc;
	__u64 ts;
	__u32 total;
	__u32 chunks;
	__u32 tid;
};

static long copy_chunk(__u64 i, struct copy_ctx *c)
{
	__u64 off, len, total = c->total;
	struct fsgt_chunk *ch;
	struct fsgt_event *e;
	long err;

	if (i >= FSGT_MAX_CHUNKS)
		return 1;
	off = i * FSGT_CHUNK;
	if (off >= total)
		return 1;
	len = total - off;
	ch = bpf_ringbuf_reserve(&events, sizeof(*ch), 0);
	if (!ch) {
		count(FSGT_STAT_RINGBUF_DROPS);
		/* Nothing of this read reaches user space: count its events
		 * here. A later chunk's loss is counted there, from the first. */
		if (i == 0)
			__sync_fetch_and_add(&stats[FSGT_STAT_READ_LOST], c->r.frees);
		return 1;
	}
	e = &ch->hdr;
	e->ts = c->ts;
	e->ptr = 0;
	e->proc = c->proc;
	e->rec = FSGT_REC_READ;
	e->kind = c->r.kind;
	e->fd = c->r.fd;
	e->arg = c->r.frees;
	e->total = total;
	e->offset = off;
	e->group = c->r.group;
	e->read_id = c->r.start;
	e->flags = 0;
	if (len <= FSGT_CHUNK || i + 1 >= FSGT_MAX_CHUNKS)
		e->flags |= FSGT_F_LAST;
	if (len > FSGT_CHUNK && i + 1 >= FSGT_MAX_CHUNKS)
		e->flags |= FSGT_F_TRUNCATED;
	/* Two calls so the verifier sees a bounded size in each. */
	if (len >= FSGT_CHUNK) {
		e->len = FSGT_CHUNK;
		err = bpf_probe_read_user(ch->data, FSGT_CHUNK, (void *)(c->r.buf + off));
	} else {
		barrier_var(len);
		len &= FSGT_CHUNK - 1;
		e->len = len;
		err = bpf_probe_read_user(ch->data, len, (void *)(c->r.buf + off));
	}
	if (err)
		e->flags |= FSGT_F_FAULT;
	bpf_ringbuf_submit(ch, 0);
	return 0;
}

static __always_inline void learn_fd(__u32 tgid, __s32 fd, __u32 kind, __u64 group, __u32 dup_of, bool dup)
{
	struct fsgt_fd_key k = { .tgid = tgid, .fd = fd };
	struct fsgt_fd_val v = { .group = group, .kind = kind };
	__u32 *kinds, new_kinds = kind;
	struct fsgt_event e;

	if (bpf_map_update_elem(&fds, &k, &v, BPF_ANY)) {
		count(FSGT_STAT_FDS_FULL);
		return;
	}
	kinds = bpf_map_lookup_elem(&holders, &tgid);
	if (kinds)
		new_kinds |= *kinds;
	bpf_map_update_elem(&holders, &tgid, &new_kinds, BPF_ANY);
	__builtin_memset(&e, 0, sizeof(struct fsgt_event));
	e.ts = bpf_ktime_get_boot_ns();
	e.rec = FSGT_REC_NEWFD;
	e.kind = kind;
	e.fd = fd;
	e.group = group;
	e.arg = dup;
	e.total = dup_of;
	e.proc.pid = tgid;
	e.proc.tid = (__u32)bpf_get_current_pid_tgid();
	output(&e);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tp_sys_exit, struct pt_regs *regs, long ret)
{
	long id = regs->orig_ax;
	__u64 pid_tgid;
	__u32 tgid, tid;

	if (hooks_only)
		return 0;
	if (id != NR_read && id != NR_inotify_init && id != NR_inotify_init1 &&
	    id != NR_fanotify_init && id != NR_dup && id != NR_dup2 && id != NR_dup3 &&
	    id != NR_fcntl && id != NR_readlink && id != NR_readlinkat)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	tgid = pid_tgid >> 32;
	tid = (__u32)pid_tgid;

	if (id == NR_readlink || id == NR_readlinkat) {
		struct linking *l = bpf_map_lookup_elem(&linking, &tid);
		struct linking lv;
		struct fsgt_chunk *ch;
		__u64 len;
		long n;

		if (!l)
			return 0;
		lv = *l;
		bpf_map_delete_elem(&linking, &tid);
		if (ret <= 0)
			return 0;
		ch = bpf_ringbuf_reserve(&events, sizeof(*ch), 0);
		if (!ch) {
			count(FSGT_STAT_RINGBUF_DROPS);
			return 0;
		}
		__builtin_memset(&ch->hdr, 0, sizeof(ch->hdr));
		ch->hdr.ts = bpf_ktime_get_boot_ns();
		ch->hdr.rec = FSGT_REC_READLINK;
		ch->hdr.kind = FSGT_KIND_FANOTIFY;
		ch->hdr.proc.pid = tgid;
		ch->hdr.proc.tid = tid;
		n = bpf_probe_read_user_str(ch->data, FSGT_LINK_PATH, (void *)lv.path);
		ch->hdr.arg = n > 0 ? n - 1 : 0;
		len = ret;
		if (len > FSGT_CHUNK - FSGT_LINK_PATH)
			len = FSGT_CHUNK - FSGT_LINK_PATH;
		barrier_var(len);
		len &= FSGT_CHUNK - 1;
		if (len > FSGT_CHUNK - FSGT_LINK_PATH)
			len = 0;
		ch->hdr.len = len;
		/* readlink(2) cuts silently: a result that fills the caller's buffer
		 * may be cut (the caller retries with a larger one), and so is one
		 * longer than this record holds. */
		if ((__u64)ret >= lv.bufsiz || (__u64)ret > len)
			ch->hdr.flags |= FSGT_F_TRUNCATED;
		if (bpf_probe_read_user(ch->data + FSGT_LINK_PATH, len, (void *)lv.buf))
			ch->hdr.flags |= FSGT_F_FAULT;
		bpf_ringbuf_submit(ch, 0);
		return 0;
	}

	if (id == NR_read) {
		struct reading *r = bpf_map_lookup_elem(&reading, &tid);
		struct copy_ctx c = {};

		if (!r)
			return 0;
		c.r = *r;
		bpf_map_delete_elem(&reading, &tid);
		if (ret <= 0)
			return 0;
		c.total = ret > 0x7fffffff ? 0x7fffffff : ret;
		if (c.total > FSGT_CHUNK * FSGT_MAX_CHUNKS)
			count(FSGT_STAT_TRUNCATED);
		c.ts = bpf_ktime_get_boot_ns();
		c.tid = tid;
		fill_proc(&c.proc);
		bpf_loop(FSGT_MAX_CHUNKS, copy_chunk, &c, 0);
		return 0;
	}
	if (ret < 0)
		return 0;
	if (id == NR_inotify_init || id == NR_inotify_init1) {
		learn_fd(tgid, ret, FSGT_KIND_INOTIFY, 0, 0, false);
		return 0;
	}
	if (id == NR_fanotify_init) {
		learn_fd(tgid, ret, FSGT_KIND_FANOTIFY, 0, 0, false);
		return 0;
	}
	/* dup, dup2, dup3, fcntl(F_DUPFD*): the new fd is the same notify file. */
	if (id == NR_fcntl && regs->si != F_DUPFD && regs->si != F_DUPFD_CLOEXEC)
		return 0;
	__s32 old = (__s32)regs->di;
	if (old == (__s32)ret)
		return 0;
	struct fsgt_fd_val *v = lookup_fd(tgid, old);
	if (v) {
		__u32 kind = v->kind;
		__u64 group = v->group;
		learn_fd(tgid, ret, kind, group, old, true);
	}
	return 0;
}

static __always_inline void holder_event(__u32 rec, __u32 tgid, __u32 arg)
{
	struct fsgt_event e;

	__builtin_memset(&e, 0, sizeof(struct fsgt_event));
	e.ts = bpf_ktime_get_boot_ns();
	e.rec = rec;
	e.arg = arg;
	e.proc.pid = tgid;
	output(&e);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tp_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	__u32 *kinds, k;

	if (ptgid == ctgid)
		return 0;
	kinds = bpf_map_lookup_elem(&holders, &ptgid);
	if (!kinds)
		return 0;
	k = *kinds;
	bpf_map_update_elem(&holders, &ctgid, &k, BPF_ANY);
	holder_event(FSGT_REC_FORK, ptgid, ctgid);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tp_exec, struct task_struct *p)
{
	__u32 tgid = p->tgid;

	if (bpf_map_lookup_elem(&holders, &tgid))
		holder_event(FSGT_REC_EXEC, tgid, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_exit, struct task_struct *p)
{
	__u32 tgid = p->tgid, tid = p->pid;

	bpf_map_delete_elem(&reading, &tid);
	bpf_map_delete_elem(&linking, &tid);
	if (tid != tgid || !bpf_map_lookup_elem(&holders, &tgid))
		return 0;
	bpf_map_delete_elem(&holders, &tgid);
	holder_event(FSGT_REC_EXIT, tgid, 0);
	return 0;
}

/*
 * Run by user space on demand: for every tracked notify fd, the group address
 * (file->private_data), into the fds map and the iterator's output.
 */
SEC("iter/task_file")
int iter_notify_fds(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct fsgt_fd_val *v;
	struct fsgt_iter_rec rec = {};

	if (!task || !file)
		return 0;
	rec.tgid = task->tgid;
	rec.fd = ctx->fd;
	v = lookup_fd(rec.tgid, rec.fd);
	if (!v)
		return 0;
	rec.group = (__u64)file->private_data;
	rec.kind = v->kind;
	v->group = rec.group;
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}
