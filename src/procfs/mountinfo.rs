//! `/proc/PID/mountinfo`, and the device numbers fdinfo prints. Pure.

/// `major:minor` of a kernel dev_t as fdinfo prints it (`sdev`: major << 20 | minor).
pub fn dev_of_sdev(sdev: u32) -> (u32, u32) {
    (sdev >> 20, sdev & 0xf_ffff)
}

/// One mountinfo line's fields `list` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mnt_id: u32,
    pub dev: (u32, u32),
    /// The root of the mount within its filesystem (`/` unless a bind mount of a subtree).
    pub root: Vec<u8>,
    pub mount_point: Vec<u8>,
    /// The filesystem type, after the `-` that ends the optional fields (empty if none).
    pub fstype: Vec<u8>,
}

/// Undoes mountinfo's octal escapes (`\040` for a space): a backslash and
/// three octal digits, nothing else (`from_str_radix` alone would take `\+12`).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 4]).ok().and_then(|o| u8::from_str_radix(o, 8).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 5 {
            continue;
        }
        let Ok(mnt_id) = f[0].parse() else { continue };
        let Some((maj, min)) = f[2].split_once(':') else { continue };
        let (Ok(maj), Ok(min)) = (maj.parse(), min.parse()) else { continue };
        let fstype = f.iter().skip(5).skip_while(|&&t| t != "-").nth(1).map_or_else(Vec::new, |t| unescape(t));
        out.push(MountEntry { mnt_id, dev: (maj, min), root: unescape(f[3]), mount_point: unescape(f[4]), fstype });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_parses() {
        let m = parse_mountinfo(
            "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
             99 27 254:0 /srv/a\\040b /mnt/x\\040y rw - ext4 /dev/vda rw\n\
             bad line\n\
             1 2 x:y / / -\n\
             5 1 0:5 / /t\\ rw\n\
             6 1 0:5 /a\\+12\\400 /b\\134 rw\n",
        );
        assert_eq!(m.len(), 4);
        assert_eq!(m[0], MountEntry { mnt_id: 27, dev: (254, 0), root: b"/".to_vec(), mount_point: b"/".to_vec(), fstype: b"ext4".to_vec() });
        assert_eq!(m[1].root, b"/srv/a b".to_vec());
        assert_eq!(m[1].mount_point, b"/mnt/x y".to_vec());
        assert_eq!(m[2].mount_point, b"/t\\".to_vec());
        assert_eq!(m[2].fstype, b"", "no `-`, no type");
        assert_eq!(m[3].root, b"/a\\+12\\400".to_vec(), "only three octal digits up to \\377 are an escape");
        assert_eq!(m[3].mount_point, b"/b\\".to_vec());
    }
}
