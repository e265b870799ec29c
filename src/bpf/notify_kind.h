/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kind of a notify group, as every record that names one carries it.
 * The values are also bits: the tracers' want_kinds filter ORs them. Rust
 * reads them through the skeletons (procfs::NotifyKind): this is their only
 * definition.
 */
#ifndef FSG_NOTIFY_KIND_H
#define FSG_NOTIFY_KIND_H

enum fsg_kind {
	FSG_KIND_OTHER = 0,    /* not a notify file, or not known which */
	FSG_KIND_INOTIFY = 1,
	FSG_KIND_FANOTIFY = 2,
};

#endif /* FSG_NOTIFY_KIND_H */
