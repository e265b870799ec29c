/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The record the task_file iterator writes for every inotify or fanotify
 * file it finds. build.rs turns this header (through the object's BTF) into
 * Rust types: it is the only definition of this layout.
 */
#ifndef FSG_TASK_FILE_REC_H
#define FSG_TASK_FILE_REC_H

#include "notify_kind.h"

struct fsg_task_file {
	__u64 group;     /* file->private_data: the struct fsnotify_group */
	__u64 f_op_read; /* file->f_op->read */
	__u32 tgid;
	__u32 fd;
	__u32 kind;      /* enum fsg_kind; FSG_KIND_OTHER when no target is known */
	__u32 f_flags;   /* file->f_flags */
};

/*
 * What the task iterator writes for every task: the struct ucounts its
 * credentials are accounted to, and that object's counts, the kernel's own
 * per-user totals that fs.inotify.max_user_* limit (-1: this kernel has no
 * such count).
 */
struct fsg_user_counts {
	__u64 ucounts; /* the struct ucounts address: one per (user namespace, uid) */
	__u32 uid;     /* ucounts->uid */
	__u32 pad;
	__s64 inotify_instances;
	__s64 inotify_watches;
	__s64 fanotify_groups;
	__s64 fanotify_marks;
};

#endif /* FSG_TASK_FILE_REC_H */
