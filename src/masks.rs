//! Names for the bits of inotify and fanotify event masks and for fanotify
//! event types. Pure functions: no kernel, no root.
//!
//! User-visible bits get their `IN_*`/`FAN_*` names; bits only the kernel
//! sets (visible to the kernel backends, which read the kernel's own mask)
//! get their kernel `FS_*` names; anything else is printed in hex.

/// inotify event bits (`<sys/inotify.h>`) and kernel-internal `FS_*` bits.
const INOTIFY_BITS: &[(u32, &str)] = &[
    (0x0000_0001, "IN_ACCESS"),
    (0x0000_0002, "IN_MODIFY"),
    (0x0000_0004, "IN_ATTRIB"),
    (0x0000_0008, "IN_CLOSE_WRITE"),
    (0x0000_0010, "IN_CLOSE_NOWRITE"),
    (0x0000_0020, "IN_OPEN"),
    (0x0000_0040, "IN_MOVED_FROM"),
    (0x0000_0080, "IN_MOVED_TO"),
    (0x0000_0100, "IN_CREATE"),
    (0x0000_0200, "IN_DELETE"),
    (0x0000_0400, "IN_DELETE_SELF"),
    (0x0000_0800, "IN_MOVE_SELF"),
    (0x0000_1000, "FS_OPEN_EXEC"),
    (0x0000_2000, "IN_UNMOUNT"),
    (0x0000_4000, "IN_Q_OVERFLOW"),
    (0x0000_8000, "IN_IGNORED"),
    (0x0001_0000, "FS_OPEN_PERM"),
    (0x0002_0000, "FS_ACCESS_PERM"),
    (0x0004_0000, "FS_OPEN_EXEC_PERM"),
    (0x0100_0000, "IN_ONLYDIR"),
    (0x0200_0000, "IN_DONT_FOLLOW"),
    (0x0400_0000, "IN_EXCL_UNLINK"),
    (0x0800_0000, "FS_EVENT_ON_CHILD"),
    (0x1000_0000, "IN_MASK_CREATE"),
    (0x2000_0000, "IN_MASK_ADD"),
    (0x4000_0000, "IN_ISDIR"),
    (0x8000_0000, "IN_ONESHOT"),
];

/// fanotify event bits (`<linux/fanotify.h>`) and kernel-internal `FS_*` bits.
const FANOTIFY_BITS: &[(u64, &str)] = &[
    (0x0000_0001, "FAN_ACCESS"),
    (0x0000_0002, "FAN_MODIFY"),
    (0x0000_0004, "FAN_ATTRIB"),
    (0x0000_0008, "FAN_CLOSE_WRITE"),
    (0x0000_0010, "FAN_CLOSE_NOWRITE"),
    (0x0000_0020, "FAN_OPEN"),
    (0x0000_0040, "FAN_MOVED_FROM"),
    (0x0000_0080, "FAN_MOVED_TO"),
    (0x0000_0100, "FAN_CREATE"),
    (0x0000_0200, "FAN_DELETE"),
    (0x0000_0400, "FAN_DELETE_SELF"),
    (0x0000_0800, "FAN_MOVE_SELF"),
    (0x0000_1000, "FAN_OPEN_EXEC"),
    (0x0000_4000, "FAN_Q_OVERFLOW"),
    (0x0000_8000, "FAN_FS_ERROR"),
    (0x0001_0000, "FAN_OPEN_PERM"),
    (0x0002_0000, "FAN_ACCESS_PERM"),
    (0x0004_0000, "FAN_OPEN_EXEC_PERM"),
    (0x0008_0000, "FAN_PRE_ACCESS"),
    (0x0100_0000, "FAN_MNT_ATTACH"),
    (0x0200_0000, "FAN_MNT_DETACH"),
    (0x0800_0000, "FS_EVENT_ON_CHILD"),
    (0x1000_0000, "FAN_RENAME"),
    (0x4000_0000, "FAN_ONDIR"),
];

fn decode<T>(mask: T, table: &[(T, &str)]) -> String
where
    T: Copy + PartialEq + std::ops::BitAnd<Output = T> + std::ops::BitAndAssign + std::ops::Not<Output = T> + Default + std::fmt::LowerHex,
{
    let zero = T::default();
    let mut rest = mask;
    let mut out = String::new();
    for &(bit, name) in table {
        if mask & bit != zero {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            rest &= !bit;
        }
    }
    if rest != zero {
        if !out.is_empty() {
            out.push('|');
        }
        out.push_str(&format!("{rest:#x}"));
    }
    out
}

/// `IN_OPEN|FS_EVENT_ON_CHILD`, or `0` for an empty mask.
pub fn inotify_mask(mask: u32) -> String {
    if mask == 0 {
        return "0".to_string();
    }
    decode(mask, INOTIFY_BITS)
}

/// `FAN_OPEN_PERM|FAN_ONDIR`, or `0` for an empty mask.
pub fn fanotify_mask(mask: u64) -> String {
    if mask == 0 {
        return "0".to_string();
    }
    decode(mask, FANOTIFY_BITS)
}

/// The kernel's `enum fanotify_event_type` names, in the order Linux 5.13 to
/// 6.18 number them.
pub fn fanotify_event_type(t: u32) -> String {
    const NAMES: &[&str] = &["FID", "FID_NAME", "PATH", "PATH_PERM", "OVERFLOW", "FS_ERROR", "MNT"];
    match NAMES.get(t as usize) {
        Some(n) => format!("FANOTIFY_EVENT_TYPE_{n}"),
        None => format!("FANOTIFY_EVENT_TYPE_{t}"),
    }
}

/// Bits of `fanotify_init(2)`'s `flags`, by name.
const FANOTIFY_INIT_BITS: &[(u32, &str)] = &[
    (0x0000_0001, "FAN_CLOEXEC"),
    (0x0000_0002, "FAN_NONBLOCK"),
    (0x0000_0004, "FAN_CLASS_CONTENT"),
    (0x0000_0008, "FAN_CLASS_PRE_CONTENT"),
    (0x0000_0010, "FAN_UNLIMITED_QUEUE"),
    (0x0000_0020, "FAN_UNLIMITED_MARKS"),
    (0x0000_0040, "FAN_ENABLE_AUDIT"),
    (0x0000_0080, "FAN_REPORT_PIDFD"),
    (0x0000_0100, "FAN_REPORT_TID"),
    (0x0000_0200, "FAN_REPORT_FID"),
    (0x0000_0400, "FAN_REPORT_DIR_FID"),
    (0x0000_0800, "FAN_REPORT_NAME"),
    (0x0000_1000, "FAN_REPORT_TARGET_FID"),
    (0x0000_2000, "FAN_REPORT_FD_ERROR"),
    (0x0000_4000, "FAN_REPORT_MNT"),
];

/// `FAN_CLASS_NOTIF` for 0, else the set bits: `FAN_CLOEXEC|FAN_CLASS_CONTENT`.
pub fn fanotify_init_flags(flags: u32) -> String {
    if flags & 0x0c == 0 {
        let rest = decode(flags, FANOTIFY_INIT_BITS);
        return if flags == 0 { "FAN_CLASS_NOTIF".into() } else { format!("FAN_CLASS_NOTIF|{rest}") };
    }
    decode(flags, FANOTIFY_INIT_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inotify_bits_have_names() {
        assert_eq!(inotify_mask(0x20), "IN_OPEN");
        assert_eq!(inotify_mask(0x0800_0020), "IN_OPEN|FS_EVENT_ON_CHILD");
        assert_eq!(inotify_mask(0x4000_0100), "IN_CREATE|IN_ISDIR");
        assert_eq!(inotify_mask(0), "0");
    }

    #[test]
    fn unknown_bits_are_hex() {
        assert_eq!(inotify_mask(0x0008_0001), "IN_ACCESS|0x80000");
        assert_eq!(fanotify_mask(0x1_0000_0000), "0x100000000");
    }

    #[test]
    fn fanotify_bits_have_names() {
        assert_eq!(fanotify_mask(0x0001_0000), "FAN_OPEN_PERM");
        assert_eq!(fanotify_mask(0x4000_0008), "FAN_CLOSE_WRITE|FAN_ONDIR");
    }

    #[test]
    fn fanotify_types_and_init_flags() {
        assert_eq!(fanotify_event_type(3), "FANOTIFY_EVENT_TYPE_PATH_PERM");
        assert_eq!(fanotify_event_type(42), "FANOTIFY_EVENT_TYPE_42");
        assert_eq!(fanotify_init_flags(0), "FAN_CLASS_NOTIF");
        assert_eq!(fanotify_init_flags(0x5), "FAN_CLOEXEC|FAN_CLASS_CONTENT");
        assert_eq!(fanotify_init_flags(0x1), "FAN_CLASS_NOTIF|FAN_CLOEXEC");
    }
}
