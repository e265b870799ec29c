/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The record the fentry/kprobe programs send to user space, one per event
 * the tracer dequeues and one per fanotify permission answer. build.rs turns
 * this header (through the object's BTF) into Rust types: it is the only
 * definition of this layout.
 */
#ifndef FSG_KERNEL_EVENT_H
#define FSG_KERNEL_EVENT_H

#include "notify_kind.h"
#include "proc_info.h"

#define FSG_NAME_MAX 255
#define FSG_PATH_MAX 4096
/* A path of up to FSG_PATH_MAX bytes plus room for one more component. */
#define FSG_NAME_BUF (FSG_PATH_MAX + FSG_NAME_MAX + 1)

enum fsg_type {
	FSG_TYPE_INOTIFY = 1,
	FSG_TYPE_FANOTIFY = 2,
	FSG_TYPE_FA_RESP = 3,
};

enum fsg_flags {
	FSG_F_TRACEE = 1 << 0,          /* tracee and queued_ns are valid */
	FSG_F_TRACER = 1 << 1,          /* tracer is valid */
	FSG_F_NAME_TRUNCATED = 1 << 2,  /* name holds less than the kernel had */
	FSG_F_PATH_COMPONENTS = 1 << 3, /* name is path components, leaf first, each NUL-terminated */
	FSG_F_INODES = 1 << 4,          /* i_ino and i_ino_dir are valid */
	FSG_F_PERM = 1 << 5,            /* a fanotify permission event */
	FSG_F_OVERFLOW = 1 << 6,        /* the group's queue-overflow event */
	FSG_F_PRIO = 1 << 7,            /* prio is valid */
	/* name[] holds a file handle, not a name (fanotify FID and FID_NAME
	 * events): the filesystem id (two __s32), the handle type (__s32), the
	 * handle's length (__u32), its bytes, then the entry's name when the
	 * event has one (FID_NAME: the handle is then its directory's). User
	 * space opens the handle. */
	FSG_F_HANDLE = 1 << 8,
	/* An fa_resp whose path is not in name[]: it went with the fanotify
	 * record of the same event_ptr, sent when the event was delivered
	 * (walking it again at the answer cost as much as the rest of the
	 * record). User space copies it from there. */
	FSG_F_PATH_SENT = 1 << 9,
};

#define FSG_HANDLE_HEADER 16
/* MAX_HANDLE_SZ */
#define FSG_HANDLE_MAX 128

/* Indexes into the programs' stats[] counters. */
enum fsg_stat {
	FSG_STAT_RINGBUF_DROPS = 0, /* records lost: the ring buffer was full */
	FSG_STAT_PENDING_FULL = 1,  /* queued events not tracked: the pending map was full */
	FSG_STAT_STASH_FULL = 2,    /* inotify inode numbers lost: the stash map was full */
	FSG_STAT_STAGED_FULL = 3,   /* records lost: the staged map was full */
	/* Dequeued, never delivered: the queue was emptied at close (group shutdown). */
	FSG_STAT_DISCARDED_CLOSE = 4,
	/* Dequeued, never delivered: the read failed to copy it out (EFAULT;
	 * fanotify: the event's fd could not be made, EMFILE, ENFILE, an open error). */
	FSG_STAT_DISCARDED_COPY = 5,
	FSG_STAT_MAX = 8,
};

struct fsg_event {
	__u64 timestamp_ns; /* CLOCK_BOOTTIME when the tracer dequeued it (or it was answered) */
	__u64 queued_ns;    /* CLOCK_BOOTTIME when the tracee queued it */
	__u64 group;        /* struct fsnotify_group address */
	__u64 event_ptr;    /* struct fsnotify_event address */
	__u64 i_ino;
	__u64 i_ino_dir;
	struct fsg_proc tracee;
	struct fsg_proc tracer;
	__u32 type;  /* enum fsg_type */
	__u32 flags; /* enum fsg_flags */
	__u32 prio;
	__u32 i_mask;
	__s32 i_wd;
	__u32 i_cookie;
	__u32 fa_type;
	__u32 fa_mask;
	__u32 fa_pid;
	__u32 fa_flags;
	__u32 fa_f_flags;
	__u32 fa_response; /* the permission answer as the kernel stored it; 0: none */
	__u32 fa_state;    /* the permission event's state (FAN_EVENT_*) */
	__u32 name_len;    /* bytes used in name[] */
	char name[FSG_NAME_BUF];
};

/*
 * Starts a record in a reused scratch slot (a per-CPU map value): the header
 * fields set, every other field zero. The name is left as it is: only its
 * first name_len bytes are sent.
 */
static __always_inline void fsg_event_start(struct fsg_event *e, __u32 type, __u64 group, __u64 event_ptr)
{
	e->timestamp_ns = bpf_ktime_get_boot_ns();
	e->type = type;
	e->group = group;
	e->event_ptr = event_ptr;
	e->flags = 0;
	e->i_ino = 0;
	e->i_ino_dir = 0;
	e->i_mask = 0;
	e->i_wd = 0;
	e->i_cookie = 0;
	e->fa_type = 0;
	e->fa_mask = 0;
	e->fa_pid = 0;
	e->fa_flags = 0;
	e->fa_f_flags = 0;
	e->fa_response = 0;
	e->fa_state = 0;
	e->prio = 0;
	e->name_len = 0;
	e->queued_ns = 0;
	__builtin_memset(&e->tracee, 0, sizeof(e->tracee));
	__builtin_memset(&e->tracer, 0, sizeof(e->tracer));
}

#endif /* FSG_KERNEL_EVENT_H */
