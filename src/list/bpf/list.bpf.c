// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `fsnotify-gadget list`: a task_file iterator that writes, for every open
 * inotify or fanotify file, its holder (tgid, fd) and its fsnotify_group
 * address (file->private_data), the value the tracer prints.
 *
 * A file is recognised by its f_op->read, compared with the addresses of
 * inotify_read and fanotify_read that user space takes from /proc/kallsyms
 * (the f_op tables themselves are data symbols, absent without
 * CONFIG_KALLSYMS_ALL). When neither is known, every file is written and user
 * space matches (tgid, fd) with the notify fds it found in /proc.
 *
 * Only direct BTF pointer reads are used (no bpf_probe_read_kernel), so the
 * program loads under lockdown=confidentiality.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "list_rec.h"

/*
 * Local flavors (the ___fsgl suffix is ignored by CO-RE matching) of the
 * iterator context and of file_operations, so this object does not depend on
 * which of them kernel_types.h declares.
 */
struct seq_file;
struct bpf_iter_meta___fsgl {
	struct seq_file *seq;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file___fsgl {
	struct bpf_iter_meta___fsgl *meta;
	struct task_struct *task;
	u32 fd;
	struct file *file;
} __attribute__((preserve_access_index));

struct file_operations___fsgl {
	ssize_t (*read)(struct file *, char *, size_t, loff_t *);
} __attribute__((preserve_access_index));

/* Makes the record type reach Rust through the skeleton. */
struct fsgl_rec _fsgl_rec_type = {};

/* Set by user space before load; 0 when unknown. */
const volatile __u64 inotify_read_addr = 0;
const volatile __u64 fanotify_read_addr = 0;

SEC("iter/task_file")
int list_notify_fds(struct bpf_iter__task_file___fsgl *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	const struct file_operations___fsgl *ops;
	struct fsgl_rec rec = {};

	if (!task || !file)
		return 0;
	ops = (const struct file_operations___fsgl *)file->f_op;
	if (!ops)
		return 0;
	rec.f_op_read = (__u64)ops->read;
	if (inotify_read_addr && rec.f_op_read == inotify_read_addr)
		rec.kind = FSGL_KIND_INOTIFY;
	else if (fanotify_read_addr && rec.f_op_read == fanotify_read_addr)
		rec.kind = FSGL_KIND_FANOTIFY;
	else if (inotify_read_addr || fanotify_read_addr)
		return 0;
	rec.group = (__u64)file->private_data;
	rec.tgid = task->tgid;
	rec.fd = ctx->fd;
	rec.f_flags = file->f_flags;
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
