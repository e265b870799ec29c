/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The process fields every record carries for its tracee and its tracer,
 * shared by all backends' event headers.
 */
#ifndef FSG_PROC_INFO_H
#define FSG_PROC_INFO_H

#define FSG_COMM_LEN 16

struct fsg_proc {
	__u64 mntns_id;
	__u64 cgroup_id; /* cgroup v2 id, what bpf_get_current_cgroup_id() gives */
	__u32 pid;  /* thread group id, what ps calls the pid */
	__u32 tid;
	__u32 ppid; /* real parent's thread group id */
	__u32 uid;
	__u32 gid;
	__u32 _pad;
	char comm[FSG_COMM_LEN];
	char pcomm[FSG_COMM_LEN];
};

#endif /* FSG_PROC_INFO_H */
