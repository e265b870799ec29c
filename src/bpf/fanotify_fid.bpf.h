/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fanotify events reported by file handle (FID) and by directory handle and
 * name (FID_NAME) carry no path: their handle (and name) go to user space in
 * name[], flagged FSG_F_HANDLE (kernel_event.h), and user space opens the
 * handle. Shared by both backends: the includer defines how kernel memory is
 * read, KP(T, p) (a pointer of type T), K(p, field) (a field's value) and
 * copy_name(dst, src, len) (len bytes of kernel memory, NUL-ended).
 */
#ifndef FSG_FANOTIFY_FID_BPF_H
#define FSG_FANOTIFY_FID_BPF_H

/*
 * Puts a file handle in name[]: the handle's len bytes at src. False, and
 * nothing put, when the handle is larger than any the kernel makes.
 */
static __always_inline bool put_handle(struct fsg_event *e, __s32 fsid0, __s32 fsid1, __s32 type, __u32 len, __u64 src)
{
	__s32 *w = (__s32 *)e->name;

	if (len > FSG_HANDLE_MAX)
		return false;
	w[0] = fsid0;
	w[1] = fsid1;
	w[2] = type;
	w[3] = len;
	copy_name(&e->name[FSG_HANDLE_HEADER], src, len);
	e->name_len = FSG_HANDLE_HEADER + len;
	e->flags |= FSG_F_HANDLE;
	return true;
}

/* The handle (and name) of the FID or FID_NAME event at ptr; others untouched. */
static __always_inline void read_fid(struct fsg_event *e, __u64 ptr, __u32 type)
{
	if (type == bpf_core_enum_value(enum fanotify_event_type, FANOTIFY_EVENT_TYPE_FID)) {
		struct fanotify_fid_event *fe = KP(struct fanotify_fid_event, ptr);
		/* The handle follows the 4-byte header (buf[] is gone in newer kernels). */
		__u64 src = ptr + bpf_core_field_offset(struct fanotify_fid_event, object_fh) + 4;

		if (K(fe, object_fh.flags) & FANOTIFY_FH_FLAG_EXT_BUF) {
			copy_name(&e->name[FSG_HANDLE_HEADER], src, 8);
			src = *(__u64 *)&e->name[FSG_HANDLE_HEADER];
		}
		put_handle(e, K(fe, fsid.val[0]), K(fe, fsid.val[1]), K(fe, object_fh.type), K(fe, object_fh.len), src);
	} else if (type == bpf_core_enum_value(enum fanotify_event_type, FANOTIFY_EVENT_TYPE_FID_NAME)) {
		/* The directory's handle and the entry's name (or the object's own handle). */
		struct fanotify_name_event *ne = KP(struct fanotify_name_event, ptr);
		__u64 buf = ptr + bpf_core_field_offset(struct fanotify_name_event, info.buf);
		__u32 dir = K(ne, info.dir_fh_totlen), dir2 = 0, file = K(ne, info.file_fh_totlen);
		__u32 name_len = K(ne, info.name_len), at;
		__u64 fh_at = buf;
		struct fanotify_fh *fh;

		if (bpf_core_field_exists(ne->info.dir2_fh_totlen))
			dir2 = K(ne, info.dir2_fh_totlen);
		if (!dir) {
			fh_at = buf + dir2; /* no directory: the object's own handle */
			name_len = 0;
			if (!file)
				return;
		}
		fh = KP(struct fanotify_fh, fh_at);
		if (!put_handle(e, K(ne, fsid.val[0]), K(ne, fsid.val[1]), K(fh, type), K(fh, len), fh_at + 4))
			return;
		if (!name_len)
			return;
		at = e->name_len;
		barrier_var(at);
		if (at > FSG_HANDLE_HEADER + FSG_HANDLE_MAX)
			return;
		copy_name(&e->name[at], buf + ((dir + dir2 + file) & 0x3ff), name_len);
		e->name_len = at + (name_len > FSG_NAME_MAX ? FSG_NAME_MAX : name_len);
	}
}

#endif /* FSG_FANOTIFY_FID_BPF_H */
