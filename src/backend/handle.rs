//! fanotify events reported by file handle (`FAN_REPORT_FID`, `_DFID_NAME`
//! and the rest) carry no path: both backends send the handle (and the
//! entry's name) flagged `FSG_F_HANDLE`, and this module opens the handle to
//! name the file, the same way for every backend.

use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use super::kernel::decode::{self, fsg_flags};
use super::Clock;
use crate::model::Record;

/// Mount points by filesystem id, to open FID-reporting groups' file handles.
#[derive(Default)]
pub struct Mounts {
    by_fsid: std::collections::HashMap<u64, std::fs::File>,
    scanned_at: Option<std::time::Instant>,
}

impl Mounts {
    fn fsid_of(path: &std::ffi::CStr) -> Option<u64> {
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: path is a C string, st a valid statfs buffer.
        if unsafe { libc::statfs(path.as_ptr(), &mut st) } != 0 {
            return None;
        }
        // SAFETY: fsid_t is two ints; the kernel reports the same 8 bytes in FID records.
        Some(unsafe { std::mem::transmute::<libc::fsid_t, u64>(st.f_fsid) })
    }

    /// A directory on the filesystem `fsid`; mountinfo is rescanned at most once a second.
    fn get(&mut self, fsid: u64) -> Option<&std::fs::File> {
        let stale = self.scanned_at.is_none_or(|t| t.elapsed() > Duration::from_secs(1));
        if !self.by_fsid.contains_key(&fsid) && stale {
            self.scanned_at = Some(std::time::Instant::now());
            let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            for m in crate::procfs::mountinfo::parse_mountinfo(&text) {
                let Ok(c) = std::ffi::CString::new(m.mount_point) else { continue };
                if let Some(id) = Self::fsid_of(&c) {
                    if let std::collections::hash_map::Entry::Vacant(e) = self.by_fsid.entry(id) {
                        if let Ok(f) = std::fs::File::open(std::ffi::OsStr::from_bytes(c.as_bytes())) {
                            e.insert(f);
                        }
                    }
                }
            }
        }
        self.by_fsid.get(&fsid)
    }

    /// The path of a file handle, through open_by_handle_at (needs CAP_DAC_READ_SEARCH).
    fn path_of(&mut self, fsid: u64, handle_type: i32, handle: &[u8]) -> Option<Vec<u8>> {
        use std::os::fd::{AsFd, AsRawFd};
        let fd = crate::procfs::resolve::open_by_handle(self.get(fsid)?.as_fd(), handle_type, handle).ok()?;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok();
        let bytes = link?.into_os_string().into_encoded_bytes();
        bytes.starts_with(b"/").then_some(bytes)
    }
}

/// Decodes one record; a FID event's file handle becomes its path.
pub fn decode_record(raw: &[u8], clock: Clock, mounts: &mut Mounts) -> Result<Record, decode::DecodeError> {
    let mut r = decode::decode(raw, clock)?;
    let flags = decode::raw_field::<4>(raw, std::mem::offset_of!(decode::fsg_event, flags)).map_or(0, u32::from_ne_bytes);
    if flags & fsg_flags::FSG_F_HANDLE.0 != 0 {
        let len = decode::raw_field::<4>(raw, std::mem::offset_of!(decode::fsg_event, name_len)).map_or(0, u32::from_ne_bytes) as usize;
        let name = raw.get(decode::HEADER_LEN..).map_or(&[][..], |n| &n[..len.min(n.len())]);
        r.name_truncated = false;
        match HandleName::parse(name).and_then(|h| mounts.path_of(h.fsid, h.handle_type, h.handle).map(|dir| h.join(dir))) {
            Some(path) => r.name = path,
            None => {
                r.name.clear();
                r.name_unknown = Some(HANDLE_UNRESOLVED);
            }
        }
    }
    Ok(r)
}

/// `name_unknown` of a file handle that no longer opens.
pub const HANDLE_UNRESOLVED: &str = "file handle did not open: the file is gone, or its filesystem is not mounted where the tool runs";

/// What a `FSG_F_HANDLE` record's name[] holds (kernel_event.h).
#[derive(Debug, PartialEq)]
struct HandleName<'a> {
    fsid: u64,
    handle_type: i32,
    handle: &'a [u8],
    /// The entry in the handle's directory (FID_NAME events), or empty.
    entry: &'a [u8],
}

impl<'a> HandleName<'a> {
    fn parse(b: &'a [u8]) -> Option<Self> {
        let header = b.get(..16)?;
        let fsid = u64::from_ne_bytes(header[..8].try_into().ok()?);
        let handle_type = i32::from_ne_bytes(header[8..12].try_into().ok()?);
        let len = u32::from_ne_bytes(header[12..16].try_into().ok()?) as usize;
        let handle = b.get(16..16 + len)?;
        Some(HandleName { fsid, handle_type, handle, entry: &b[16 + len..] })
    }

    /// The path: the handle's, with the entry appended when there is one.
    fn join(&self, mut path: Vec<u8>) -> Vec<u8> {
        if !self.entry.is_empty() {
            if !path.ends_with(b"/") {
                path.push(b'/');
            }
            path.extend_from_slice(self.entry);
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::HandleName;

    fn handle_record(handle: &[u8], entry: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0x1122_3344_5566_7788u64.to_ne_bytes());
        b.extend_from_slice(&1i32.to_ne_bytes());
        b.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
        b.extend_from_slice(handle);
        b.extend_from_slice(entry);
        b
    }

    #[test]
    fn a_directory_handle_and_an_entry_make_one_path() {
        let b = handle_record(&[9; 8], b"created.txt");
        let h = HandleName::parse(&b).unwrap();
        assert_eq!((h.fsid, h.handle_type, h.handle, h.entry), (0x1122_3344_5566_7788, 1, &[9u8; 8][..], &b"created.txt"[..]));
        assert_eq!(h.join(b"/srv/data".to_vec()), b"/srv/data/created.txt");
        assert_eq!(h.join(b"/".to_vec()), b"/created.txt");
    }

    #[test]
    fn a_handle_without_an_entry_is_the_object_itself() {
        let b = handle_record(&[7; 12], b"");
        let h = HandleName::parse(&b).unwrap();
        assert!(h.entry.is_empty());
        assert_eq!(h.join(b"/srv/file".to_vec()), b"/srv/file");
    }

    #[test]
    fn a_short_or_inconsistent_handle_is_refused() {
        assert_eq!(HandleName::parse(&[0; 15]), None);
        let mut b = handle_record(&[1; 8], b"");
        b.truncate(20); // says 8 bytes of handle, holds 4
        assert_eq!(HandleName::parse(&b), None);
    }
}
