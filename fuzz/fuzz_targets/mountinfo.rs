//! `/proc/PID/mountinfo` (`parse_mountinfo`), which path resolution reads for
//! every holder of a watch (its mount namespace, its mounts), and the
//! cgroup2 mount found in it (`cgroups::cgroup2_mount`); the device numbers
//! of fdinfo's `sdev` (`dev_of_sdev`).
//!
//! Checked: each entry is what a plain reading of its line gives (only
//! `\` and three octal digits is an escape, as the kernel's `show_mountinfo`
//! writes them); the entries printed back the kernel's way parse to the same
//! entries; the cgroup2 mount is the first entry of type cgroup2 showing its
//! whole filesystem; `sdev` splits into 12 and 20 bits and back.
#![no_main]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use fsnotify_gadget::procfs::cgroups::cgroup2_mount;
use fsnotify_gadget::procfs::mountinfo::{dev_of_sdev, parse_mountinfo, MountEntry};
use libfuzzer_sys::fuzz_target;

/// `\ooo` (three octal digits, at most `\377`) is a byte; any other backslash is itself.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let o = b.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)) && d[0] <= b'3');
        match o {
            Some(d) if b[i] == b'\\' => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// The kernel's escaping of a mountinfo field (`mangle`): space, tab, newline and backslash,
/// and here every other byte that is not printable ASCII too.
fn escape(b: &[u8]) -> String {
    b.iter()
        .map(|&c| if c.is_ascii_graphic() && c != b'\\' { char::from(c).to_string() } else { format!("\\{c:03o}") })
        .collect()
}

/// One line read plainly: `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL…] - TYPE …`.
fn entry(line: &str) -> Option<MountEntry> {
    let f: Vec<&str> = line.split(' ').collect();
    if f.len() < 5 {
        return None;
    }
    let (maj, min) = f[2].split_once(':')?;
    let fstype = f[5..].iter().position(|&t| t == "-").and_then(|dash| f.get(6 + dash)).map_or_else(Vec::new, |t| unescape(t));
    Some(MountEntry { mnt_id: f[0].parse().ok()?, dev: (maj.parse().ok()?, min.parse().ok()?), root: unescape(f[3]), mount_point: unescape(f[4]), fstype })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mounts = parse_mountinfo(&text);
    let plain: Vec<MountEntry> = text.lines().filter_map(entry).collect();
    assert_eq!(mounts, plain);

    let printed: String = mounts
        .iter()
        .map(|m| {
            let fstype = if m.fstype.is_empty() { String::new() } else { format!(" - {}", escape(&m.fstype)) };
            format!("{} 1 {}:{} {} {} rw shared:1{fstype} /dev/x rw\n", m.mnt_id, m.dev.0, m.dev.1, escape(&m.root), escape(&m.mount_point))
        })
        .collect();
    assert_eq!(parse_mountinfo(&printed), mounts, "printed back:\n{printed}");

    let cgroup2 = mounts.iter().find(|m| m.fstype == b"cgroup2" && m.root == b"/");
    assert_eq!(cgroup2_mount(&text).as_deref(), cgroup2.map(|m| Path::new(OsStr::from_bytes(&m.mount_point))));

    if let Some(b) = data.get(..4) {
        let sdev = u32::from_ne_bytes(b.try_into().unwrap());
        let (major, minor) = dev_of_sdev(sdev);
        assert!(major < 1 << 12 && minor < 1 << 20);
        assert_eq!(major << 20 | minor, sdev);
    }
});
