// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A task_file iterator that writes, for every open inotify or fanotify file,
 * its holder (tgid, fd) and its fsnotify_group address (file->private_data),
 * the value the tracers print.
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
#include "common.bpf.h"
#include "task_file_rec.h"

/* Makes the record and kind types reach Rust through the skeleton. */
struct fsg_task_file _fsg_task_file_type = {};
enum fsg_kind _fsg_kind_type = FSG_KIND_OTHER;

/* Set by user space before load; 0 when unknown. */
const volatile __u64 inotify_read_addr = 0;
const volatile __u64 fanotify_read_addr = 0;

SEC("iter/task_file")
int task_notify_files(struct bpf_iter__task_file___fsg *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	const struct file_operations___fsg *ops;
	struct fsg_task_file rec = {};

	if (!task || !file)
		return 0;
	ops = (const struct file_operations___fsg *)file->f_op;
	if (!ops)
		return 0;
	rec.f_op_read = (__u64)ops->read;
	if (inotify_read_addr && rec.f_op_read == inotify_read_addr)
		rec.kind = FSG_KIND_INOTIFY;
	else if (fanotify_read_addr && rec.f_op_read == fanotify_read_addr)
		rec.kind = FSG_KIND_FANOTIFY;
	else if (inotify_read_addr || fanotify_read_addr)
		return 0;
	rec.group = (__u64)file->private_data;
	rec.tgid = task->tgid;
	rec.fd = ctx->fd;
	rec.f_flags = file->f_flags;
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

struct fsg_user_counts _fsg_user_counts_type = {};

struct bpf_iter__task___fsg {
	struct bpf_iter_meta___fsg *meta;
	struct task_struct *task;
} __attribute__((preserve_access_index));

/* The kernel's per-user counters (include/linux/user_namespace.h). */
enum ucount_type___fsg {
	UCOUNT_INOTIFY_INSTANCES___fsg,
	UCOUNT_INOTIFY_WATCHES___fsg,
	UCOUNT_FANOTIFY_GROUPS___fsg,
	UCOUNT_FANOTIFY_MARKS___fsg,
};

struct atomic_long___fsg {
	long counter;
};

struct ucounts___fsg {
	kuid_t uid;
	struct atomic_long___fsg ucount[16]; /* atomic_long_t[UCOUNT_COUNTS] */
} __attribute__((preserve_access_index));

struct cred___fsg {
	struct ucounts___fsg *ucounts;
} __attribute__((preserve_access_index));

/*
 * ucounts->ucount[UCOUNT_name].counter, -1 when this kernel has no such count.
 * The element is found by offset: its type (atomic_long_t) is anonymous, which
 * CO-RE cannot relocate a field access through.
 */
#define UCOUNT(uc, name)                                                                        \
	(bpf_core_enum_value_exists(enum ucount_type___fsg, name##___fsg)                       \
		 ? *(long *)((void *)(uc) + bpf_core_field_offset(struct ucounts___fsg, ucount) + \
			     8 * (bpf_core_enum_value(enum ucount_type___fsg, name##___fsg) & 15)) \
		 : -1)

SEC("iter/task")
int task_user_counts(struct bpf_iter__task___fsg *ctx)
{
	struct task_struct *task = ctx->task;
	struct fsg_user_counts rec = {};
	struct ucounts___fsg *uc;

	if (!task)
		return 0;
	uc = ((struct cred___fsg *)task->cred)->ucounts;
	if (!uc)
		return 0;
	rec.ucounts = (__u64)uc;
	rec.uid = uc->uid.val;
	rec.inotify_instances = UCOUNT(uc, UCOUNT_INOTIFY_INSTANCES);
	rec.inotify_watches = UCOUNT(uc, UCOUNT_INOTIFY_WATCHES);
	rec.fanotify_groups = UCOUNT(uc, UCOUNT_FANOTIFY_GROUPS);
	rec.fanotify_marks = UCOUNT(uc, UCOUNT_FANOTIFY_MARKS);
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
