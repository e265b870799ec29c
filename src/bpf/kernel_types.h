/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel types fsnotify-gadget's BPF programs touch, and nothing else.
 *
 * Instead of a multi-megabyte vmlinux.h generated from one kernel, every
 * struct here lists only the fields the programs read, and carries
 * preserve_access_index: clang records each access as a CO-RE relocation and
 * libbpf resolves the real offset against the running kernel's BTF at load
 * time. Field order and missing fields therefore do not matter; names and
 * kinds (int, enum, pointer, struct) do.
 *
 * To add a field: find its declaration on a kernel with BTF,
 *   bpftool btf dump file /sys/kernel/btf/vmlinux format c | grep -n 'struct NAME {' -A60
 * and copy that one field into the struct below. Where a field's name or type
 * differs between kernel versions, declare a "flavor" (struct NAME___suffix)
 * holding the variant and test it with bpf_core_field_exists(): see
 * fsnotify_group___prio_* and fanotify_perm_event.
 */
#ifndef FSG_KERNEL_TYPES_H
#define FSG_KERNEL_TYPES_H

/* Stands in for vmlinux.h: bpf_tracing.h then names pt_regs fields as the kernel does. */
#define __VMLINUX_H__

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
typedef int pid_t;
typedef unsigned int uid_t;
typedef unsigned int gid_t;
typedef unsigned long size_t;
typedef long ssize_t;
typedef long long loff_t;
enum { false = 0, true = 1 };

#define NULL ((void *)0)

/* BPF map types, flags and helper ids used by bpf_helpers.h. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
};
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};
enum {
	BPF_F_NO_PREALLOC = 1,
};
enum {
	BPF_LOCAL_STORAGE_GET_F_CREATE = 1,
};
enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};
enum {
	BPF_RB_AVAIL_DATA = 0,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct list_head {
	struct list_head *next;
	struct list_head *prev;
};

/* x86-64 registers, as bpf_tracing.h's PT_REGS_* macros read them. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

struct ns_common {
	unsigned int inum;
};

struct mnt_namespace {
	struct ns_common ns;
};

struct nsproxy {
	struct mnt_namespace *mnt_ns;
};

struct upid {
	int nr;
};

struct pid {
	struct upid numbers[1];
};

struct task_struct {
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	char comm[16];
	struct nsproxy *nsproxy;
	struct files_struct *files;
	struct signal_struct *signal;
	const struct cred *cred;
	unsigned int flags; /* PF_* */
	void *worker_private; /* an io_uring worker's struct io_worker */
	struct css_set *cgroups;
};

/* A task's cgroup v2 id: task->cgroups->dfl_cgrp->kn->id, as bpf_get_current_cgroup_id(). */
struct kernfs_node {
	u64 id;
};
struct cgroup {
	struct kernfs_node *kn;
};
struct css_set {
	struct cgroup *dfl_cgrp;
};
#define PF_IO_WORKER 0x00000010

typedef struct {
	uid_t val;
} kuid_t;
typedef struct {
	gid_t val;
} kgid_t;

struct cred {
	kuid_t uid;
	kgid_t gid;
};

struct qstr {
	union {
		struct {
			u32 hash;
			u32 len;
		};
		u64 hash_len;
	};
	const unsigned char *name;
};

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
};

struct inode {
	unsigned long i_ino;
};

struct vfsmount {
	struct dentry *mnt_root;
};

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct file {
	const struct file_operations *f_op;
	void *private_data;
	unsigned int f_flags;
};

/* fsnotify core */

struct fsnotify_event {
	struct list_head list;
};

/*
 * A wait queue and its entries. A task blocked in, or running, a read of a
 * notify file is an entry of its group's notification_waitq; a tracee waiting
 * for a permission answer is one of its group's access_waitq. Either way the
 * entry's private is the task.
 */
struct wait_queue_head {
	struct list_head head;
};
struct wait_queue_entry {
	void *private;
	struct list_head entry;
};

struct fanotify_group_private_data {
	struct wait_queue_head access_waitq;
	int flags;
	int f_flags;
};

struct fsnotify_group {
	const struct fsnotify_ops *ops;
	struct wait_queue_head notification_waitq;
	struct fsnotify_event *overflow_event;
	bool shutdown;
	unsigned int q_len;
	unsigned int max_events;
	union {
		void *private;
		struct fanotify_group_private_data fanotify_data;
	};
};

/* fsnotify_group.priority: unsigned int before Linux 6.10, an enum since. */
enum fsnotify_group_prio {
	FSNOTIFY_PRIO_NORMAL = 0,
};
struct fsnotify_group___prio_uint {
	unsigned int priority;
};
struct fsnotify_group___prio_enum {
	enum fsnotify_group_prio priority;
};

struct fsnotify_mark {
	struct fsnotify_group *group;
};

/* inotify */

struct inotify_inode_mark {
	struct fsnotify_mark fsn_mark;
	int wd;
};

struct inotify_event_info {
	struct fsnotify_event fse;
	u32 mask;
	int wd;
	u32 sync_cookie;
	int name_len;
	char name[];
};

/* fanotify */

/* Values differ between kernels: read them with bpf_core_enum_value(). */
enum fanotify_event_type {
	FANOTIFY_EVENT_TYPE_FID,
	FANOTIFY_EVENT_TYPE_FID_NAME,
	FANOTIFY_EVENT_TYPE_PATH,
	FANOTIFY_EVENT_TYPE_PATH_PERM,
	FANOTIFY_EVENT_TYPE_OVERFLOW,
};

struct fanotify_event {
	struct fsnotify_event fse;
	u32 mask;
	/* A 3-bit field since Linux 5.13 (an enum before). */
	unsigned int type : 3;
	unsigned int hash : 29;
	struct pid *pid;
};

struct fanotify_path_event {
	struct fanotify_event fae;
	struct path path;
};

/*
 * response: unsigned short before Linux 6.3, u32 since; both are read with
 * BPF_CORE_READ_BITFIELD_PROBED, which uses the running kernel's size.
 */
struct fanotify_perm_event {
	struct fanotify_event fae;
	struct path path;
	u32 response;
	unsigned short state;
	int fd;
};

#pragma clang attribute pop

/* Appended for the tracepoint backend (src/backend/tracepoint). */
#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct seq_file;

/* The context of iter/task_file programs. */
struct bpf_iter_meta {
	struct seq_file *seq;
	u64 session_id;
	u64 seq_num;
};

/* task_struct.signal->flags: SIGNAL_GROUP_EXIT once a fatal signal is on its way. */
struct signal_struct {
	unsigned int flags;
};
#define SIGNAL_GROUP_EXIT 0x00000004

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	u32 fd;
	struct file *file;
};

/* fanotify events that report a file handle (FAN_REPORT_FID). */
typedef struct {
	int val[2];
} __kernel_fsid_t;

struct fanotify_fh {
	u8 type;
	u8 len;
	u8 flags; /* FANOTIFY_FH_FLAG_EXT_BUF: buf holds a pointer to the handle */
	u8 pad;
	/* the handle follows (buf[], in kernels that declare it) */
};
#define FANOTIFY_FH_FLAG_EXT_BUF 1

struct fanotify_fid_event {
	struct fanotify_event fae;
	__kernel_fsid_t fsid;
	struct fanotify_fh object_fh;
};

/*
 * A FID_NAME event: the handles and the name, packed in info.buf (dir_fh at
 * buf[0], then dir2_fh, then file_fh, then the name).
 */
struct fanotify_info {
	u8 dir_fh_totlen; /* each with its 4-byte struct fanotify_fh header */
	u8 dir2_fh_totlen; /* Linux 5.17 */
	u8 file_fh_totlen;
	u8 name_len;
	unsigned char buf[];
};

struct fanotify_name_event {
	struct fanotify_event fae;
	__kernel_fsid_t fsid;
	struct fanotify_info info;
};

/* The fd array's slot, viewed as fd_array[0] of a files_struct. */
struct files_struct___arr {
	struct file *fd_array[64];
};

/* The reading task's fd table: which file a syscall's fd argument names. */
struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

/*
 * An io_uring request an io-wq worker runs (io_uring/io-wq.c, io_uring_types.h):
 * the read of a notify fd that io_uring punts to a worker frees its events there.
 */
struct io_wq_work {
	unsigned int flags;
};

struct io_worker {
	struct io_wq_work *cur_work;
};

struct io_kiocb {
	struct file *file;
	u8 opcode; /* IORING_OP_* */
	struct io_wq_work work;
};

/* f_op->read tells an inotify or fanotify file from any other. */
struct file_operations {
	ssize_t (*read)(struct file *, char *, size_t, loff_t *);
};

/* The group's queue, to see that its overflow event is next. */
struct fsnotify_group___queue {
	struct list_head notification_list;
	struct fsnotify_event *overflow_event;
};

#pragma clang attribute pop

/* The context of raw_tp programs: the tracepoint's arguments. */
struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

#endif /* FSG_KERNEL_TYPES_H */
