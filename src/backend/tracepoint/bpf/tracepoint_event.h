/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What user space tells the tracepoint programs about the kernel's text.
 * The records they send are struct fsg_event (kernel_event.h), the same as
 * the fentry/kprobe backends'.
 */
#ifndef FSG_TRACEPOINT_EVENT_H
#define FSG_TRACEPOINT_EVENT_H

/* Address ranges user space passes for the allocator call-site checks. */
#define FSGT_ALLOC_RANGES 8
#define FSGT_FREE_RANGES 24

/* What a free's call site says about the event freed. */
enum fsgt_free_class {
	FSGT_FREE_READ = 1,    /* the tracer's read copied it out (inotify_read, fanotify_read) */
	FSGT_FREE_HANDLER = 2, /* the tracee's handler: merged, dropped on overflow, or answered */
	FSGT_FREE_OTHER = 3,   /* a shared free path: a read only if the task reads a notify fd */
	FSGT_FREE_GROUP = 4,   /* where a group is torn down and freed: the group itself, or its queue flushed */
};

#endif /* FSG_TRACEPOINT_EVENT_H */
