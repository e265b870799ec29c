// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fsnotify tracing with fentry/fexit or kprobes/kretprobes.
 *
 * An event is queued in the tracee's context (fsnotify_insert_event), taken
 * off the queue in the tracer's context (fsnotify_remove_first_event) and
 * always ends in fsnotify_destroy_event. The struct fsnotify_event pointer
 * joins the three: `pending` maps it to what the tracee side saw, the
 * dequeue builds one record, the destroy removes the entry and, for a
 * fanotify permission event, emits the answer.
 *
 * Dequeuing is not delivery: the read then copies the event out, and that can
 * fail (EFAULT; for fanotify, no fd for the event: EMFILE, an open error).
 * So the dequeued record is staged per thread and sent only once the copy is
 * known to have worked: inotify_read and fanotify_read peek at the queue
 * (fsnotify_peek_first_event) after each event they copied, and stop without
 * peeking at the first copy that fails. A record still staged when its
 * thread starts its next read, dequeues again or exits was never delivered,
 * and is counted apart. A queue emptied at close is counted apart too.
 *
 * Each hook has an fentry and a kprobe flavor sharing one body; user space
 * loads one family (see src/backend/kernel/mod.rs).
 */
#include "common.bpf.h"
#include <bpf/bpf_tracing.h>
#include "kernel_event.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

FSG_FILTER_GLOBALS;

/* See enum fsg_stat. */
FSG_COUNTERS(FSG_STAT_MAX);

/* Make the skeleton generator emit these types for user space. */
struct fsg_event _fsg_event_type = {};
enum fsg_type _fsg_type_type = 0;
enum fsg_flags _fsg_flags_type = 0;
enum fsg_stat _fsg_stat_type = 0;

/*
 * What a group's handler (inotify_handle_inode_event, fanotify_handle_event)
 * knew that fsnotify_insert_event, called from it, does not.
 */
struct handler_stash {
	__u64 group;
	__u64 ino;           /* inotify */
	__u64 dir_ino;       /* inotify */
	struct path *path;   /* fanotify: the object, when the hook passed a path */
	__u32 kind;
	__u32 _pad;
};

/* A path walked when the event was queued: fanotify FID events carry none. */
struct queued_path {
	__u32 len;
	__u32 flags;
	char name[FSG_NAME_BUF];
};

/* What the tracee side recorded, until the event is destroyed. */
struct pending {
	__u64 queued_ns;
	__u64 ino;
	__u64 dir_ino;
	struct fsg_proc tracee;
	struct fsg_proc tracer; /* set when a permission event is delivered */
	__u32 kind;
	__u32 flags;
	__u32 prio;
	__u32 _pad;
};

/*
 * Per thread, in the task's own storage: the handler and the insert run in
 * the same thread, one after the other, and a task-storage lookup costs a
 * fraction of a hash map's update, lookup and delete. Freed with the task;
 * an entry is spent (group 0) once the insert has read it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct handler_stash);
} handler_stash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64); /* struct fsnotify_event * */
	__type(value, struct queued_path);
} queued_paths SEC(".maps");

/* Entries in queued_paths: none but FID events' make one, and every destroy
 * would otherwise pay a failed delete (a bucket lock) for nothing. */
__s64 queued_path_entries = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct queued_path);
} path_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64); /* struct fsnotify_event * */
	__type(value, struct pending);
} pending SEC(".maps");

/* kretprobe only: the group argument of fsnotify_remove_first_event. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32); /* tid */
	__type(value, __u64);
} remove_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* user space may resize before load */
} events SEC(".maps");

/* A record dequeued by a thread, until its copy to the reader is known to have worked. */
struct staged {
	__u32 full; /* e holds a record not yet sent */
	__u32 _pad;
	struct fsg_event e;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32); /* tid of a reading thread; removed when it exits */
	__type(value, struct staged);
} staged SEC(".maps");

struct staged _fsg_staged_type = {};

/*
 * Threads with a record staged, machine-wide. A reader peeks at its queue
 * more often than it dequeues (at every turn of its read loop, at least once
 * more at its end), and a peek or a read's start with nothing staged anywhere
 * need not look its thread up. Changed only where a slot's `full` flips.
 */
__s64 staged_records = 0;

/* Builds the fa_resp records, and is the first value of a thread's staged entry. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct staged);
} scratch SEC(".maps");

/* Components plus mount crossings a path walk takes at most. */
#define PATH_STEPS_MAX 1024

static __always_inline void count(enum fsg_stat stat)
{
	fsg_count(stat);
}

static __always_inline __u32 group_prio(struct fsnotify_group *group)
{
	if (bpf_core_field_exists(struct fsnotify_group___prio_enum, priority))
		return BPF_CORE_READ((struct fsnotify_group___prio_enum *)group, priority);
	return BPF_CORE_READ((struct fsnotify_group___prio_uint *)group, priority);
}

static __always_inline __u32 fanotify_type(struct fanotify_event *fe)
{
	return BPF_CORE_READ_BITFIELD_PROBED(fe, type);
}

static __always_inline bool is_perm_type(__u32 type)
{
	return type == bpf_core_enum_value(enum fanotify_event_type, FANOTIFY_EVENT_TYPE_PATH_PERM);
}

/* State of one path walk, shared with the bpf_loop callback. */
struct path_walk {
	char *buf; /* FSG_NAME_BUF bytes */
	struct dentry *dentry;
	struct mount *mnt;
	struct mount *mnt_parent;
	struct dentry *mnt_root; /* mnt's root, read once per mount */
	__u32 off;
	bool done;
};

/* A mount's root dentry. */
static __always_inline struct dentry *mount_root(struct mount *mnt)
{
	struct vfsmount *vfsmnt = (void *)mnt + bpf_core_field_offset(struct mount, mnt);

	return BPF_CORE_READ(vfsmnt, mnt_root);
}

/*
 * A dentry's parent and name: one probe read of the span from d_parent to
 * d_name.name where CO-RE says it is short (it is 24 bytes on every kernel
 * so far), two reads otherwise. The test is constant once relocated.
 */
static __always_inline void parent_and_name(struct dentry *dentry, struct dentry **parent,
					    const unsigned char **name)
{
	__u32 at = bpf_core_field_offset(struct dentry, d_parent);
	__u32 name_at = bpf_core_field_offset(struct dentry, d_name) + bpf_core_field_offset(struct qstr, name);
	__u64 span[4] = {};

	if (name_at > at && name_at - at < sizeof(span) && (name_at - at) % 8 == 0) {
		bpf_probe_read_kernel(span, sizeof(span), (void *)dentry + at);
		*parent = (struct dentry *)span[0];
		*name = (const unsigned char *)span[((name_at - at) / 8) & 3];
	} else {
		*parent = BPF_CORE_READ(dentry, d_parent);
		*name = BPF_CORE_READ(dentry, d_name.name);
	}
}

/*
 * One step up: a component of the name, or a hop to the parent mount.
 * Fields of *w are copied to locals first: inside BPF_CORE_READ they would
 * become CO-RE relocations against a type the kernel does not have.
 */
static long path_step(__u64 index, struct path_walk *w)
{
	struct dentry *dentry = w->dentry;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root = w->mnt_root;
	struct dentry *parent;
	char *buf = w->buf;
	const unsigned char *name;
	__u32 off = w->off;
	long n;

	parent_and_name(dentry, &parent, &name);
	if (dentry == mnt_root || dentry == parent) {
		if (dentry != mnt_root || mnt == w->mnt_parent) {
			w->done = true; /* the root, or a dentry of no mount */
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		mnt = w->mnt_parent;
		w->mnt = mnt;
		w->mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
		w->mnt_root = mount_root(mnt);
		return 0;
	}
	if (off >= FSG_PATH_MAX)
		return 1; /* not done: truncated */
	n = bpf_probe_read_kernel_str(&buf[off & (FSG_PATH_MAX - 1)], FSG_NAME_MAX + 1, name);
	if (n <= 0) {
		w->done = true;
		return 1;
	}
	w->off = off + n;
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
	struct vfsmount *vfsmnt = BPF_CORE_READ(path, mnt);
	struct mount *mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);

	w.buf = buf;
	w.dentry = BPF_CORE_READ(path, dentry);
	w.mnt = mnt;
	w.mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
	w.mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	*flags |= FSG_F_PATH_COMPONENTS;
	bpf_loop(PATH_STEPS_MAX, path_step, &w, 0);
	if (!w.done)
		*flags |= FSG_F_NAME_TRUNCATED;
	return w.off;
}

/* The current thread's handler stash; created with BPF_LOCAL_STORAGE_GET_F_CREATE. */
static __always_inline struct handler_stash *stash_of_current(__u64 flags)
{
	return bpf_task_storage_get(&handler_stash, bpf_get_current_task_btf(), 0, flags);
}

/* Tracee side, inotify: remember the inode numbers for the insert. */
static __always_inline int on_inotify_handle(struct fsnotify_mark *mark, struct inode *inode,
					     struct inode *dir)
{
	struct handler_stash *s;
	__u64 group;

	if (!(want_kinds & FSG_KIND_INOTIFY))
		return 0;
	if (!wanted_tracee())
		return 0;
	group = (__u64)BPF_CORE_READ(mark, group);
	if (tracer_group && group != tracer_group)
		return 0;
	s = stash_of_current(BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		count(FSG_STAT_STASH_FULL);
		return 0;
	}
	s->group = group;
	s->kind = FSG_KIND_INOTIFY;
	s->path = NULL;
	s->ino = inode ? BPF_CORE_READ(inode, i_ino) : 0;
	s->dir_ino = dir ? BPF_CORE_READ(dir, i_ino) : 0;
	return 0;
}

/* fsnotify's data_type for a struct path (FSNOTIFY_EVENT_PATH). */
#define FSNOTIFY_EVENT_PATH 1

/* Tracee side, fanotify: remember the object's path for FID events. */
static __always_inline int on_fanotify_handle(struct fsnotify_group *group, const void *data,
					      int data_type)
{
	struct handler_stash *s;

	if (!(want_kinds & FSG_KIND_FANOTIFY))
		return 0;
	if (!wanted_tracee())
		return 0;
	if (tracer_group && (__u64)group != tracer_group)
		return 0;
	s = stash_of_current(BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		count(FSG_STAT_STASH_FULL);
		return 0;
	}
	s->group = (__u64)group;
	s->kind = FSG_KIND_FANOTIFY;
	s->path = data_type == FSNOTIFY_EVENT_PATH ? (struct path *)data : NULL;
	s->ino = 0;
	s->dir_ino = 0;
	return 0;
}

/* Tracee side: the event enters the group's queue. */
static __always_inline int on_insert(struct fsnotify_group *group, struct fsnotify_event *event)
{
	struct handler_stash *s = stash_of_current(0);
	struct path *fid_path = NULL;
	struct pending p = {};
	__u64 key = (__u64)event;

	/* Only inotify and fanotify queue events; without a stash (filtered
	 * handler, full map) an event is taken to be fanotify's. */
	p.kind = FSG_KIND_FANOTIFY;
	if (s && s->group) {
		if (s->group == (__u64)group) {
			p.kind = s->kind;
			p.ino = s->ino;
			p.dir_ino = s->dir_ino;
			fid_path = s->path;
			if (p.kind == FSG_KIND_INOTIFY)
				p.flags |= FSG_F_INODES;
		}
		s->group = 0;
	}
	if (!(want_kinds & p.kind))
		return 0;
	if (!wanted_tracee())
		return 0;
	if (tracer_group && (__u64)group != tracer_group)
		return 0;
	if (p.kind == FSG_KIND_FANOTIFY) {
		__u32 type = fanotify_type((struct fanotify_event *)event);

		if (is_perm_type(type))
			p.flags |= FSG_F_PERM;
		/* FID events hold a file handle, not a path: walk it now, while the
		 * handler's path is alive. */
		if (fid_path &&
		    (type == bpf_core_enum_value(enum fanotify_event_type, FANOTIFY_EVENT_TYPE_FID) ||
		     type == bpf_core_enum_value(enum fanotify_event_type, FANOTIFY_EVENT_TYPE_FID_NAME))) {
			__u32 zero = 0;
			struct queued_path *qp = bpf_map_lookup_elem(&path_scratch, &zero);

			if (qp) {
				qp->flags = 0;
				qp->len = read_path(qp->name, fid_path, &qp->flags);
				if (bpf_map_update_elem(&queued_paths, &key, qp, BPF_ANY))
					count(FSG_STAT_PENDING_FULL);
				else
					__sync_fetch_and_add(&queued_path_entries, 1);
			}
		}
	}
	p.queued_ns = bpf_ktime_get_boot_ns();
	p.prio = group_prio(group);
	p.flags |= FSG_F_TRACEE | FSG_F_PRIO;
	fill_proc_of(&p.tracee, bpf_get_current_task_btf());
	if (bpf_map_update_elem(&pending, &key, &p, BPF_ANY))
		count(FSG_STAT_PENDING_FULL);
	return 0;
}

static __always_inline void read_inotify(struct fsg_event *e, struct fsnotify_event *event)
{
	struct inotify_event_info *ie = (struct inotify_event_info *)event;
	const char *name = (const char *)ie + bpf_core_field_offset(struct inotify_event_info, name);
	__u32 at = bpf_core_field_offset(struct inotify_event_info, mask);
	__u32 fields[4] = {};
	int name_len;
	long n;

	/* mask, wd, sync_cookie and name_len follow one another on every kernel
	 * so far: one read for the four. The test is constant once relocated. */
	if (bpf_core_field_offset(struct inotify_event_info, wd) == at + 4 &&
	    bpf_core_field_offset(struct inotify_event_info, sync_cookie) == at + 8 &&
	    bpf_core_field_offset(struct inotify_event_info, name_len) == at + 12) {
		bpf_probe_read_kernel(fields, sizeof(fields), (void *)ie + at);
	} else {
		fields[0] = BPF_CORE_READ(ie, mask);
		fields[1] = BPF_CORE_READ(ie, wd);
		fields[2] = BPF_CORE_READ(ie, sync_cookie);
		fields[3] = BPF_CORE_READ(ie, name_len);
	}
	e->i_mask = fields[0];
	e->i_wd = (__s32)fields[1];
	e->i_cookie = fields[2];
	name_len = (int)fields[3];
	e->name_len = 0;
	if (name_len > 0) {
		n = bpf_probe_read_kernel_str(e->name, FSG_NAME_MAX + 1, name);
		if (n > 1)
			e->name_len = n - 1;
		if (name_len > FSG_NAME_MAX)
			e->flags |= FSG_F_NAME_TRUNCATED;
	}
}

/* How fanotify_fid.bpf.h reads kernel memory here: bpf_probe_read_kernel. */
#define KP(T, p) ((T *)(__u64)(p))
#define K(p, field) BPF_CORE_READ(p, field)
static __always_inline void copy_name(char *dst, __u64 src, __u32 len)
{
	if (len > FSG_NAME_MAX)
		len = FSG_NAME_MAX;
	barrier_var(len);
	len &= FSG_NAME_MAX;
	bpf_probe_read_kernel(dst, len, (const void *)src);
	dst[len] = 0;
}
#include "fanotify_fid.bpf.h"

/* The fanotify fields but the path; returns the event's type. */
static __always_inline __u32 read_fanotify_fields(struct fsg_event *e, struct fsnotify_group *group,
						  struct fsnotify_event *event)
{
	struct fanotify_event *fe = (struct fanotify_event *)event;
	__u32 type = fanotify_type(fe);
	struct pid *pid = BPF_CORE_READ(fe, pid);

	e->fa_type = type;
	e->fa_mask = BPF_CORE_READ(fe, mask);
	if (pid)
		e->fa_pid = BPF_CORE_READ(pid, numbers[0].nr);
	e->fa_flags = BPF_CORE_READ(group, fanotify_data.flags);
	e->fa_f_flags = BPF_CORE_READ(group, fanotify_data.f_flags);
	e->name_len = 0;
	return type;
}

static __always_inline void read_fanotify(struct fsg_event *e, struct fsnotify_group *group,
					  struct fsnotify_event *event)
{
	__u32 type = read_fanotify_fields(e, group, event);

	if (type == bpf_core_enum_value(enum fanotify_event_type, FANOTIFY_EVENT_TYPE_PATH)) {
		struct fanotify_path_event *pe = (struct fanotify_path_event *)event;
		e->name_len = read_path(e->name, &pe->path, &e->flags);
	} else if (is_perm_type(type)) {
		struct fanotify_perm_event *pe = (struct fanotify_perm_event *)event;
		e->flags |= FSG_F_PERM;
		e->name_len = read_path(e->name, &pe->path, &e->flags);
	} else {
		__u64 key = (__u64)event;
		struct queued_path *qp = bpf_map_lookup_elem(&queued_paths, &key);
		if (qp) {
			__u32 len = qp->len;
			if (len > sizeof(e->name))
				len = sizeof(e->name);
			bpf_probe_read_kernel(e->name, len, qp->name);
			e->name_len = len;
			e->flags |= qp->flags;
		} else {
			/* No path at queueing (a create, a delete: the handler had
			 * an inode, not a path): the handle and name, for user space. */
			read_fid(e, (__u64)event, type);
		}
	}
}

/*
 * The reader is woken only once this much waits in the ring. Waking it for
 * every record (the ring's default when the reader has caught up, so on a
 * quiet machine at every event) costs the traced process an interrupt and a
 * wake-up per event, more than building the record; user space polls the
 * ring at least every 100 ms anyway, which bounds how late a record shows.
 */
#define RING_WAKE_BYTES (256 << 10)

/* Sends the record; false when the ring buffer had no room (counted). */
static __always_inline bool submit(struct fsg_event *e)
{
	__u64 size = offsetof(struct fsg_event, name) + e->name_len;
	__u64 wake = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= RING_WAKE_BYTES ? BPF_RB_FORCE_WAKEUP
										       : BPF_RB_NO_WAKEUP;

	if (size > sizeof(*e))
		size = sizeof(*e);
	if (bpf_ringbuf_output(&events, e, size, wake)) {
		count(FSG_STAT_RINGBUF_DROPS);
		fsg_count_lost_for(e->group);
		return false;
	}
	return true;
}

static __always_inline void start_event(struct fsg_event *e, __u32 type, struct pending *p, __u64 key,
					struct fsnotify_group *group)
{
	fsg_event_start(e, type, (__u64)group, key);
	if (p) {
		e->queued_ns = p->queued_ns;
		e->tracee = p->tracee;
		e->i_ino = p->ino;
		e->i_ino_dir = p->dir_ino;
		e->prio = p->prio;
		e->flags = p->flags & (FSG_F_TRACEE | FSG_F_INODES | FSG_F_PRIO | FSG_F_PERM);
	}
}

/* The calling thread's staged entry, created empty on its first dequeue. */
static __always_inline struct staged *staged_slot(__u32 tid)
{
	struct staged *slot = bpf_map_lookup_elem(&staged, &tid);
	__u32 zero = 0;
	struct staged *init;

	if (slot)
		return slot;
	init = bpf_map_lookup_elem(&scratch, &zero);
	if (!init)
		return NULL;
	init->full = 0;
	if (bpf_map_update_elem(&staged, &tid, init, BPF_NOEXIST))
		return NULL;
	return bpf_map_lookup_elem(&staged, &tid);
}

/* The staged record, if any, was never delivered: count it and forget it. */
static __always_inline void discard_staged(__u32 tid)
{
	struct staged *slot = bpf_map_lookup_elem(&staged, &tid);

	if (slot && slot->full) {
		slot->full = 0;
		__sync_fetch_and_add(&staged_records, -1);
		count(FSG_STAT_DISCARDED_COPY);
	}
}

/* Tracer side: the event leaves the queue towards the reader. */
static __always_inline int on_remove(struct fsnotify_group *group, struct fsnotify_event *event)
{
	__u64 key = (__u64)event;
	struct staged *slot;
	struct pending *p;
	struct fsg_event *e;
	__u32 kind, tid;

	if (!event)
		return 0;
	if (tracer_pid && (bpf_get_current_pid_tgid() >> 32) != tracer_pid)
		return 0;
	if (!fsg_comm_is(tracer_comm) || !fsg_cgroup_is(tracer_cgroup))
		return 0;
	p = bpf_map_lookup_elem(&pending, &key);
	/* The group is being torn down: its queue is flushed, not read. */
	if (BPF_CORE_READ(group, shutdown)) {
		if (p)
			count(FSG_STAT_DISCARDED_CLOSE);
		return 0;
	}
	if (p) {
		kind = p->kind;
	} else {
		/* Untracked (filtered, or queued before we started) unless it is
		 * the group's overflow event, which is never inserted as itself. */
		if (event != BPF_CORE_READ(group, overflow_event))
			return 0;
		if (tracer_group && (__u64)group != tracer_group)
			return 0;
		/* inotify's overflow event is an inotify_event_info whose wd is -1. */
		kind = BPF_CORE_READ((struct inotify_event_info *)event, wd) == -1 ? FSG_KIND_INOTIFY
										    : FSG_KIND_FANOTIFY;
		if (!(want_kinds & kind))
			return 0;
	}
	tid = (__u32)bpf_get_current_pid_tgid();
	slot = staged_slot(tid);
	if (!slot) {
		count(FSG_STAT_STAGED_FULL);
		return 0;
	}
	/* A record staged by this read and never followed by a peek: its copy failed. */
	if (slot->full)
		count(FSG_STAT_DISCARDED_COPY);
	else
		__sync_fetch_and_add(&staged_records, 1);
	slot->full = 0;
	e = &slot->e;
	start_event(e, kind == FSG_KIND_INOTIFY ? FSG_TYPE_INOTIFY : FSG_TYPE_FANOTIFY, p, key, group);
	if (!p) {
		e->flags |= FSG_F_OVERFLOW | FSG_F_PRIO;
		e->prio = group_prio(group);
	}
	fill_proc_of(&e->tracer, bpf_get_current_task_btf());
	e->flags |= FSG_F_TRACER;
	if (kind == FSG_KIND_INOTIFY)
		read_inotify(e, event);
	else
		read_fanotify(e, group, event);
	slot->full = 1;

	/* A permission event is kept until the answer: the destroy hook reports
	 * it, with the tracer once the delivery is confirmed. */
	if (p && !(p->flags & FSG_F_PERM))
		bpf_map_delete_elem(&pending, &key);
	return 0;
}

/* The reading thread peeks at the queue: the event it dequeued before reached it. */
static __always_inline int on_peek(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct staged *slot;
	struct pending *p;
	__u64 key;
	bool sent;

	if (!staged_records)
		return 0;
	slot = bpf_map_lookup_elem(&staged, &tid);
	if (!slot || !slot->full)
		return 0;
	slot->full = 0;
	__sync_fetch_and_add(&staged_records, -1);
	sent = submit(&slot->e);
	if (slot->e.flags & FSG_F_PERM) {
		key = slot->e.event_ptr;
		p = bpf_map_lookup_elem(&pending, &key);
		if (p) {
			p->tracer = slot->e.tracer;
			p->flags |= FSG_F_TRACER;
			/* The answer's record need not walk the path again. */
			if (sent)
				p->flags |= FSG_F_PATH_SENT;
		}
	}
	return 0;
}

/* A read starts: what the thread's last read left staged was not delivered. */
static __always_inline int on_read_start(void)
{
	if (!staged_records)
		return 0;
	discard_staged((__u32)bpf_get_current_pid_tgid());
	return 0;
}

/* Every event ends here: forget it, and report a permission event's answer. */
static __always_inline int on_destroy(struct fsnotify_group *group, struct fsnotify_event *event)
{
	__u64 key = (__u64)event;
	struct pending *p = bpf_map_lookup_elem(&pending, &key);
	struct fanotify_perm_event *pe = (struct fanotify_perm_event *)event;
	struct staged *s;
	struct fsg_event *e;
	__u32 zero = 0;

	if (queued_path_entries && !bpf_map_delete_elem(&queued_paths, &key))
		__sync_fetch_and_add(&queued_path_entries, -1);
	if (!p)
		return 0;
	if ((p->flags & FSG_F_PERM) && !((tracer_pid || tracer_comm[0] || tracer_cgroup) && !(p->flags & FSG_F_TRACER))) {
		s = bpf_map_lookup_elem(&scratch, &zero);
		if (s) {
			e = &s->e;
			start_event(e, FSG_TYPE_FA_RESP, p, key, group);
			if (p->flags & FSG_F_TRACER) {
				e->tracer = p->tracer;
				e->flags |= FSG_F_TRACER;
			}
			if (p->flags & FSG_F_PATH_SENT) {
				read_fanotify_fields(e, group, event);
				e->flags |= FSG_F_PATH_SENT;
			} else {
				read_fanotify(e, group, event);
			}
			e->fa_response = BPF_CORE_READ_BITFIELD_PROBED(pe, response);
			e->fa_state = BPF_CORE_READ_BITFIELD_PROBED(pe, state);
			submit(e);
		}
	}
	bpf_map_delete_elem(&pending, &key);
	return 0;
}

/* fentry/fexit family. User space retargets these where a kernel uses older names. */

SEC("fentry/inotify_handle_inode_event")
int BPF_PROG(fentry_inotify_handle, struct fsnotify_mark *mark, __u32 mask, struct inode *inode,
	     struct inode *dir)
{
	return on_inotify_handle(mark, inode, dir);
}

/*
 * fentry may only dereference struct pointer arguments, and `data` is a
 * `const void *`: read the raw arguments instead.
 */
SEC("fentry/fanotify_handle_event")
int fentry_fanotify_handle(__u64 *ctx)
{
	__u64 group = 0, data = 0, data_type = 0;

	bpf_get_func_arg(ctx, 0, &group);
	bpf_get_func_arg(ctx, 2, &data);
	bpf_get_func_arg(ctx, 3, &data_type);
	return on_fanotify_handle((struct fsnotify_group *)group, (const void *)data, (int)data_type);
}

SEC("fentry/fsnotify_insert_event")
int BPF_PROG(fentry_insert, struct fsnotify_group *group, struct fsnotify_event *event)
{
	return on_insert(group, event);
}

SEC("fexit/fsnotify_remove_first_event")
int BPF_PROG(fexit_remove, struct fsnotify_group *group, struct fsnotify_event *ret)
{
	return on_remove(group, ret);
}

SEC("fentry/fsnotify_peek_first_event")
int BPF_PROG(fentry_peek)
{
	return on_peek();
}

SEC("fentry/inotify_read")
int BPF_PROG(fentry_inotify_read)
{
	return on_read_start();
}

SEC("fentry/fanotify_read")
int BPF_PROG(fentry_fanotify_read)
{
	return on_read_start();
}

SEC("fentry/fsnotify_destroy_event")
int BPF_PROG(fentry_destroy, struct fsnotify_group *group, struct fsnotify_event *event)
{
	return on_destroy(group, event);
}

/* kprobe family: attached by name from user space. */

SEC("kprobe")
int BPF_KPROBE(kprobe_inotify_handle, struct fsnotify_mark *mark, __u32 mask, struct inode *inode,
	       struct inode *dir)
{
	return on_inotify_handle(mark, inode, dir);
}

SEC("kprobe")
int BPF_KPROBE(kprobe_fanotify_handle, struct fsnotify_group *group, __u32 mask, const void *data,
	       int data_type)
{
	return on_fanotify_handle(group, data, data_type);
}

SEC("kprobe")
int BPF_KPROBE(kprobe_insert, struct fsnotify_group *group, struct fsnotify_event *event)
{
	return on_insert(group, event);
}

SEC("kprobe")
int BPF_KPROBE(kprobe_remove, struct fsnotify_group *group)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 g = (__u64)group;

	bpf_map_update_elem(&remove_args, &tid, &g, BPF_ANY);
	return 0;
}

SEC("kretprobe")
int BPF_KRETPROBE(kretprobe_remove, struct fsnotify_event *ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *g = bpf_map_lookup_elem(&remove_args, &tid);
	struct fsnotify_group *group;

	if (!g)
		return 0;
	group = (struct fsnotify_group *)*g;
	bpf_map_delete_elem(&remove_args, &tid);
	return on_remove(group, ret);
}

SEC("kprobe")
int BPF_KPROBE(kprobe_peek)
{
	return on_peek();
}

SEC("kprobe")
int BPF_KPROBE(kprobe_read_start)
{
	return on_read_start();
}

/* A group torn down (its last fd closed): its address may soon be another's. */
SEC("fentry/fsnotify_destroy_group")
int BPF_PROG(fentry_group_gone, struct fsnotify_group *group)
{
	fsg_group_gone((__u64)group);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(kprobe_group_gone, struct fsnotify_group *group)
{
	fsg_group_gone((__u64)group);
	return 0;
}

SEC("kprobe")
int BPF_KPROBE(kprobe_destroy, struct fsnotify_group *group, struct fsnotify_event *event)
{
	return on_destroy(group, event);
}

/*
 * Both families: a thread's entries in the per-thread maps end with it (a
 * record it still had staged was never delivered; its handler stash, in
 * task storage, goes with the task). A handler that returns without
 * queueing (fanotify's ignore masks, a mark being torn down) leaves its
 * stash set until the thread's next event; a kretprobe that missed its
 * return leaves remove_args behind.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(thread_exit, struct task_struct *task)
{
	__u32 tid = task->pid;

	discard_staged(tid);
	bpf_map_delete_elem(&staged, &tid);
	bpf_map_delete_elem(&remove_args, &tid);
	return 0;
}
