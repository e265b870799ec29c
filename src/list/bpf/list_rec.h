/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The record the `list` task_file iterator writes for every inotify or
 * fanotify file it finds. build.rs turns this header (through the object's
 * BTF) into Rust types: it is the only definition of this layout.
 */
#ifndef FSG_LIST_REC_H
#define FSG_LIST_REC_H

enum fsgl_kind {
	FSGL_KIND_OTHER = 0,    /* no target known: every file is written */
	FSGL_KIND_INOTIFY = 1,
	FSGL_KIND_FANOTIFY = 2,
};

struct fsgl_rec {
	__u64 group;   /* file->private_data: the struct fsnotify_group */
	__u64 f_op_read; /* file->f_op->read */
	__u32 tgid;
	__u32 fd;
	__u32 kind;    /* enum fsgl_kind */
	__u32 f_flags; /* file->f_flags */
};

#endif /* FSG_LIST_REC_H */
