/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The records the tracepoint programs send to user space. build.rs turns
 * this header (through the object's BTF) into Rust types: it is the only
 * definition of this layout.
 *
 * No record is a whole event: user space joins them (see join.rs).
 */
#ifndef FSG_TRACEPOINT_EVENT_H
#define FSG_TRACEPOINT_EVENT_H

#include "proc_info.h"

/* Bytes of a read(2)/write(2) buffer one record carries. */
#define FSGT_CHUNK 4096
/* Chunks one read(2) may produce; the rest of the buffer is not copied. */
#define FSGT_MAX_CHUNKS 64
/* Bytes of a write(2) to a fanotify fd that are copied (the response). */
#define FSGT_WRITE_MAX 64
/* READLINK records: bytes of data[] for the link's path; the target follows. */
#define FSGT_LINK_PATH 64
/* Address ranges user space passes for the allocator call-site checks. */
#define FSGT_ALLOC_RANGES 8
#define FSGT_FREE_RANGES 16

enum fsgt_kind {
	FSGT_KIND_INOTIFY = 1,
	FSGT_KIND_FANOTIFY = 2,
};

enum fsgt_rec {
	FSGT_REC_ALLOC = 1,   /* an event was allocated (tracee context): ptr, proc */
	FSGT_REC_DELIVER = 2, /* an event was freed during a followed read: ptr, tid */
	FSGT_REC_DROP = 3,    /* an event was freed outside a followed read (merge, answer, flush) */
	FSGT_REC_READ = 4,    /* a chunk of what a read(2) of a notify fd returned */
	FSGT_REC_WRITE = 5,   /* the start of a write(2) to a fanotify fd */
	FSGT_REC_NEWFD = 6,   /* a notify fd appeared: fd (init syscall or dup) */
	FSGT_REC_FORK = 7,    /* a process holding notify fds forked: arg = child tgid */
	FSGT_REC_EXEC = 8,    /* a process holding notify fds exec'ed (close-on-exec) */
	FSGT_REC_EXIT = 9,    /* a process holding notify fds exited */
	FSGT_REC_READLINK = 10, /* a fanotify tracer's readlink(2): data = link path, then target */
};

enum fsgt_flags {
	FSGT_F_LAST = 1 << 0,      /* the last chunk of this read */
	FSGT_F_TRUNCATED = 1 << 1, /* READ: the read returned more than was copied;
				    * READLINK: the target may be cut */
	FSGT_F_FAULT = 1 << 2,     /* bpf_probe_read_user failed for this chunk */
	FSGT_F_DYING = 1 << 3,     /* DROP: the freeing process is being killed */
};

/* Indexes into the programs' stats[] counters. */
enum fsgt_stat {
	FSGT_STAT_RINGBUF_DROPS = 0, /* records of any kind lost: the ring buffer was full */
	FSGT_STAT_FDS_FULL = 1,      /* notify fds not tracked: the fds map was full */
	FSGT_STAT_READING_FULL = 2,  /* reads not followed: the reading map was full */
	FSGT_STAT_TRUNCATED = 3,     /* reads longer than FSGT_MAX_CHUNKS chunks */
	FSGT_STAT_WRITE_DROPS = 4,   /* WRITE records (permission answers) among the RINGBUF_DROPS */
	FSGT_STAT_READ_LOST = 5,     /* events freed during reads whose first READ record was lost */
	FSGT_STAT_MAX = 6,
};

/* Key of the fds map: a notify fd of a process. */
struct fsgt_fd_key {
	__u32 tgid;
	__s32 fd;
};

struct fsgt_fd_val {
	__u64 group; /* struct fsnotify_group address; 0 until user space learns it */
	__u32 kind;  /* enum fsgt_kind */
	__u32 _pad;
};

struct fsgt_event {
	__u64 ts;  /* CLOCK_BOOTTIME */
	__u64 ptr; /* ALLOC/DELIVER/DROP: the event's address */
	struct fsg_proc proc; /* ALLOC: the tracee; READ/WRITE: the tracer; else pid/tid only */
	__u32 rec;   /* enum fsgt_rec */
	__u32 kind;  /* enum fsgt_kind, 0 when unknown */
	__s32 fd;    /* READ/WRITE/NEWFD: the notify fd */
	__u32 arg;   /* FORK: the child's tgid; NEWFD: 1 when dup'ed from fd `total`;
		      * DELIVER: this free's index in its read (0, 1, ...);
		      * READ: how many events the read freed (DELIVERs sent or not) */
	__u32 total; /* READ: bytes the read returned; WRITE: bytes written */
	__u32 offset; /* READ: where this chunk starts in the buffer */
	__u32 len;    /* READ/WRITE: bytes in data[] */
	__u32 flags;  /* enum fsgt_flags */
	__u64 group;  /* READ/WRITE: the fd's group when known */
	__u64 read_id; /* READ/DELIVER: CLOCK_BOOTTIME at the read's entry: which read */
};

/* READ and WRITE records: the header, then `len` bytes of the buffer. */
struct fsgt_chunk {
	struct fsgt_event hdr;
	__u8 data[FSGT_CHUNK];
};

/* What the task_file iterator writes for every tracked notify fd it finds. */
struct fsgt_iter_rec {
	__u64 group;
	__u32 tgid;
	__s32 fd;
	__u32 kind;
	__u32 _pad;
};

#endif /* FSG_TRACEPOINT_EVENT_H */
