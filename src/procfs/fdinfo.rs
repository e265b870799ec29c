//! The parser of `/proc/PID/fdinfo/FD` of inotify and fanotify files: the
//! group's flags and every watch or mark. Pure; garbage is skipped, never
//! fatal.

/// A file handle as fdinfo prints it (`fhandle-bytes:8 fhandle-type:1 f_handle:...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    pub handle_type: i32,
    pub bytes: Vec<u8>,
}

/// What a mark is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    /// An inode (every inotify watch; fanotify inode marks).
    Inode { ino: u64, sdev: u32, handle: Option<Handle> },
    /// A fanotify mount mark (`mnt_id` as in mountinfo).
    Mount { mnt_id: u32 },
    /// A fanotify filesystem mark.
    Filesystem { sdev: u32 },
    /// A fanotify mount-namespace mark (Linux 6.14+).
    MountNs { ns: u64 },
}

/// One inotify watch or fanotify mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The watch descriptor (inotify only).
    pub wd: Option<i32>,
    pub object: Object,
    /// fanotify: FAN_MARK_* flags the kernel shows (`mflags`).
    pub mflags: Option<u32>,
    pub mask: u64,
    pub ignored_mask: u64,
}

/// The parsed fdinfo of an inotify or fanotify file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdInfo {
    pub pos: Option<u64>,
    /// The file's open flags (octal in fdinfo).
    pub flags: Option<u32>,
    pub mnt_id: Option<u32>,
    /// The anonymous inode's number: the same for every inotify and fanotify file.
    pub ino: Option<u64>,
    /// fanotify: the fanotify_init flags and event_f_flags.
    pub fa_flags: Option<u32>,
    pub fa_f_flags: Option<u32>,
    pub marks: Vec<Mark>,
}

/// `key:value` pairs of one fdinfo line, in order.
fn pairs(s: &str) -> Vec<(&str, &str)> {
    s.split_ascii_whitespace().filter_map(|t| t.split_once(':')).collect()
}

fn get<'a>(p: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn hex64(p: &[(&str, &str)], key: &str) -> Option<u64> {
    u64::from_str_radix(get(p, key)?, 16).ok()
}

fn hex32(p: &[(&str, &str)], key: &str) -> Option<u32> {
    u32::from_str_radix(get(p, key)?, 16).ok()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

fn handle(p: &[(&str, &str)]) -> Option<Handle> {
    let n = hex32(p, "fhandle-bytes")? as usize;
    let handle_type = u32::from_str_radix(get(p, "fhandle-type")?, 16).ok()? as i32;
    let bytes = unhex(get(p, "f_handle")?)?;
    (bytes.len() == n && n <= 128).then_some(Handle { handle_type, bytes })
}

fn mark(p: &[(&str, &str)], wd: Option<i32>) -> Option<Mark> {
    let mask = hex64(p, "mask")?;
    let ignored_mask = hex64(p, "ignored_mask").unwrap_or(0);
    let mflags = hex32(p, "mflags");
    let object = if let Some(ino) = hex64(p, "ino") {
        Object::Inode { ino, sdev: hex32(p, "sdev")?, handle: handle(p) }
    } else if let Some(mnt_id) = hex32(p, "mnt_id") {
        Object::Mount { mnt_id }
    } else if let Some(sdev) = hex32(p, "sdev") {
        Object::Filesystem { sdev }
    } else if let Some(ns) = get(p, "mnt_ns").and_then(|v| v.parse().ok()) {
        Object::MountNs { ns }
    } else {
        return None;
    };
    Some(Mark { wd, object, mflags, mask, ignored_mask })
}

/// Parses `/proc/PID/fdinfo/FD`. Lines it does not know are skipped.
pub fn parse_fdinfo(text: &str) -> FdInfo {
    let mut info = FdInfo::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("inotify ") {
            let p = pairs(rest);
            let Some(wd) = hex32(&p, "wd") else { continue };
            if let Some(m) = mark(&p, Some(wd as i32)) {
                info.marks.push(m);
            }
        } else if let Some(rest) = line.strip_prefix("fanotify ") {
            let p = pairs(rest);
            if get(&p, "flags").is_some() && get(&p, "event-flags").is_some() {
                info.fa_flags = hex32(&p, "flags");
                info.fa_f_flags = hex32(&p, "event-flags");
            } else if let Some(m) = mark(&p, None) {
                info.marks.push(m);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            let v = v.trim();
            match k {
                "pos" => info.pos = v.parse().ok(),
                "flags" => info.flags = u32::from_str_radix(v, 8).ok(),
                "mnt_id" => info.mnt_id = v.parse().ok(),
                "ino" => info.ino = v.parse().ok(),
                _ => {}
            }
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::mountinfo::dev_of_sdev;

    const INOTIFY: &str = "pos:\t0\nflags:\t00\nmnt_id:\t17\nino:\t1039\n\
inotify wd:3 ino:99405b sdev:fe00000 mask:fff ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:5b409900d4563ba2\n\
inotify wd:2 ino:99405d sdev:fe00000 mask:fff ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:5d409900b8ca7da8\n\
inotify wd:1f ino:1 sdev:15 mask:2 ignored_mask:0 \n";

    #[test]
    fn inotify_watches_parse() {
        let i = parse_fdinfo(INOTIFY);
        assert_eq!(i.flags, Some(0));
        assert_eq!(i.mnt_id, Some(17));
        assert_eq!(i.ino, Some(1039));
        assert_eq!(i.fa_flags, None);
        assert_eq!(i.marks.len(), 3);
        assert_eq!(
            i.marks[0],
            Mark {
                wd: Some(3),
                object: Object::Inode {
                    ino: 0x99405b,
                    sdev: 0xfe00000,
                    handle: Some(Handle { handle_type: 1, bytes: vec![0x5b, 0x40, 0x99, 0x00, 0xd4, 0x56, 0x3b, 0xa2] }),
                },
                mflags: None,
                mask: 0xfff,
                ignored_mask: 0,
            }
        );
        // A filesystem that cannot encode handles: no handle, still a watch.
        assert_eq!(i.marks[2].wd, Some(0x1f));
        assert_eq!(i.marks[2].object, Object::Inode { ino: 1, sdev: 0x15, handle: None });
        assert_eq!(dev_of_sdev(0xfe00000), (254, 0));
        assert_eq!(dev_of_sdev(0x15), (0, 0x15));
    }

    #[test]
    fn fanotify_marks_parse() {
        let text = "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1039\n\
fanotify flags:200 event-flags:8000\n\
fanotify sdev:fe00000 mflags:0 mask:400003fb ignored_mask:0\n\
fanotify mnt_id:1b mflags:0 mask:3b ignored_mask:0\n\
fanotify ino:99405b sdev:fe00000 mflags:1 mask:8 ignored_mask:20 fhandle-bytes:8 fhandle-type:1 f_handle:5b409900d4563ba2\n\
fanotify mnt_ns:4026531841 mflags:0 mask:1000000 ignored_mask:0\n";
        let i = parse_fdinfo(text);
        assert_eq!(i.flags, Some(2));
        assert_eq!((i.fa_flags, i.fa_f_flags), (Some(0x200), Some(0x8000)));
        assert_eq!(i.marks.len(), 4);
        assert_eq!(i.marks[0].object, Object::Filesystem { sdev: 0xfe00000 });
        assert_eq!(i.marks[0].mask, 0x400003fb);
        assert_eq!(i.marks[1].object, Object::Mount { mnt_id: 0x1b });
        assert!(matches!(i.marks[2].object, Object::Inode { ino: 0x99405b, handle: Some(_), .. }));
        assert_eq!((i.marks[2].mflags, i.marks[2].ignored_mask), (Some(1), 0x20));
        assert_eq!(i.marks[3].object, Object::MountNs { ns: 4026531841 });
        assert!(i.marks.iter().all(|m| m.wd.is_none()));
    }

    #[test]
    fn garbage_never_panics() {
        let samples = [
            "",
            "inotify\n",
            "inotify wd:zz ino:1 sdev:1 mask:1\n",
            "inotify wd:1 ino:1 sdev:1\n",
            "inotify wd:1 ino:1 sdev:1 mask:1 fhandle-bytes:ffffffff fhandle-type:1 f_handle:abc\n",
            "inotify wd:1 ino:1 sdev:1 mask:1 fhandle-bytes:2 fhandle-type:1 f_handle:é1\n",
            "fanotify flags:\nfanotify :::: \nfanotify mask:1\n",
            "flags:\t9\npos: -1\n::::\n\u{0}\u{ff}",
        ];
        for s in samples {
            let i = parse_fdinfo(s);
            for m in &i.marks {
                if let Object::Inode { handle: Some(h), .. } = &m.object {
                    assert!(h.bytes.len() <= 128);
                }
            }
        }
        let i = parse_fdinfo(samples[4]);
        assert_eq!(i.marks.len(), 1);
        assert!(matches!(i.marks[0].object, Object::Inode { handle: None, .. }));
        assert!(parse_fdinfo(samples[2]).marks.is_empty());
        assert!(parse_fdinfo(samples[3]).marks.is_empty());
        assert_eq!(parse_fdinfo(samples[7]).flags, None);
    }
}
