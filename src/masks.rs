//! Names for the bits of inotify and fanotify event masks and for fanotify
//! event types. Pure functions: no kernel, no root.
//!
//! User-visible bits get their `IN_*`/`FAN_*` names; bits only the kernel
//! sets (visible to the kernel backends, which read the kernel's own mask)
//! get their kernel `FS_*` names; anything else is printed in hex.

/// inotify event bits (`<sys/inotify.h>`) and kernel-internal `FS_*` bits.
pub const INOTIFY_BITS: &[(u32, &str)] = &[
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
pub const FANOTIFY_BITS: &[(u64, &str)] = &[
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
    // 0x80000 is reserved (the old FAN_DIR_MODIFY); Linux 6.14 put FAN_PRE_ACCESS above it.
    (0x0010_0000, "FAN_PRE_ACCESS"),
    (0x0100_0000, "FAN_MNT_ATTACH"),
    (0x0200_0000, "FAN_MNT_DETACH"),
    (0x0800_0000, "FS_EVENT_ON_CHILD"),
    (0x1000_0000, "FAN_RENAME"),
    (0x4000_0000, "FAN_ONDIR"),
];

/// Appends `0x` and `n` in lowercase hex, as `format!("{n:#x}")` would.
pub fn push_hex(n: u64, out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = DIGITS[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(b"0x");
    out.extend_from_slice(&buf[i..]);
}

/// Appends the names of the bits of `mask` that `table` names, `|`-separated,
/// then the other bits in hex. Only ASCII letters, digits, `_`, `|` and `0x`:
/// nothing any output has to escape.
fn write_bits<T: Copy + Into<u64>>(mask: u64, table: &[(T, &str)], out: &mut Vec<u8>) {
    let start = out.len();
    let mut rest = mask;
    for &(bit, name) in table {
        let bit: u64 = bit.into();
        if mask & bit != 0 {
            if out.len() != start {
                out.push(b'|');
            }
            out.extend_from_slice(name.as_bytes());
            rest &= !bit;
        }
    }
    if rest != 0 {
        if out.len() != start {
            out.push(b'|');
        }
        push_hex(rest, out);
    }
}

fn to_string(write: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    write(&mut out);
    String::from_utf8(out).expect("mask names are ASCII")
}

/// Appends [`inotify_mask`]'s text without making a String.
pub fn write_inotify_mask(mask: u32, out: &mut Vec<u8>) {
    if mask == 0 {
        out.push(b'0');
    } else {
        write_bits(mask.into(), INOTIFY_BITS, out);
    }
}

/// Appends [`fanotify_mask`]'s text without making a String.
pub fn write_fanotify_mask(mask: u64, out: &mut Vec<u8>) {
    if mask == 0 {
        out.push(b'0');
    } else {
        write_bits(mask, FANOTIFY_BITS, out);
    }
}

/// Appends [`fanotify_event_type`]'s text without making a String.
pub fn write_fanotify_event_type(t: u32, out: &mut Vec<u8>) {
    const NAMES: &[&str] = &["FID", "FID_NAME", "PATH", "PATH_PERM", "OVERFLOW", "FS_ERROR", "MNT"];
    out.extend_from_slice(b"FANOTIFY_EVENT_TYPE_");
    match NAMES.get(t as usize) {
        Some(n) => out.extend_from_slice(n.as_bytes()),
        None => out.extend_from_slice(itoa::Buffer::new().format(t).as_bytes()),
    }
}

/// `IN_OPEN|FS_EVENT_ON_CHILD`, or `0` for an empty mask.
pub fn inotify_mask(mask: u32) -> String {
    to_string(|out| write_inotify_mask(mask, out))
}

/// `FAN_OPEN_PERM|FAN_ONDIR`, or `0` for an empty mask.
pub fn fanotify_mask(mask: u64) -> String {
    to_string(|out| write_fanotify_mask(mask, out))
}

/// The kernel's `enum fanotify_event_type` names, in the order Linux 5.13 to
/// 6.18 number them.
pub fn fanotify_event_type(t: u32) -> String {
    to_string(|out| write_fanotify_event_type(t, out))
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
    let names = to_string(|out| write_bits(flags.into(), FANOTIFY_INIT_BITS, out));
    if flags & 0x0c == 0 {
        return if flags == 0 { "FAN_CLASS_NOTIF".into() } else { format!("FAN_CLASS_NOTIF|{names}") };
    }
    names
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
    fn names_need_no_escaping() {
        // The outputs write this text as is, between quotes in JSON.
        let plain = |s: &str| s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        assert!(INOTIFY_BITS.iter().all(|(_, n)| plain(n)));
        assert!(FANOTIFY_BITS.iter().all(|(_, n)| plain(n)));
        assert!((0..10).all(|t| plain(&fanotify_event_type(t))));
    }

    #[test]
    fn hex_is_like_format() {
        for n in [0, 1, 0xf, 0x10, 0xdead_beef, 0xffff_8880_1234_5678, u64::MAX] {
            let mut out = Vec::new();
            push_hex(n, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{n:#x}"));
        }
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
