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
    if let Some(name) = handle_bytes(raw) {
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

/// The name[] bytes of a record flagged `FSG_F_HANDLE` (what
/// [`HandleName::parse`] reads): the `name_len` bytes the header claims, cut to
/// what the record holds and to the size of name[], as [`decode::decode`] cuts
/// a name. None for a record without a handle.
pub fn handle_bytes(raw: &[u8]) -> Option<&[u8]> {
    let flags = decode::raw_field::<4>(raw, std::mem::offset_of!(decode::fsg_event, flags)).map_or(0, u32::from_ne_bytes);
    if flags & fsg_flags::FSG_F_HANDLE.0 == 0 {
        return None;
    }
    let len = decode::raw_field::<4>(raw, std::mem::offset_of!(decode::fsg_event, name_len)).map_or(0, u32::from_ne_bytes) as usize;
    let name = raw.get(decode::HEADER_LEN..raw.len().min(std::mem::size_of::<decode::fsg_event>())).unwrap_or_default();
    Some(&name[..len.min(name.len())])
}

/// `name_unknown` of a file handle that no longer opens.
pub const HANDLE_UNRESOLVED: &str = "file handle did not open: the file is gone, or its filesystem is not mounted where the tool runs";

/// What a `FSG_F_HANDLE` record's name[] holds (kernel_event.h): the
/// filesystem id, the handle's type and bytes (`struct file_handle`'s), then
/// the entry's name.
#[derive(Debug, PartialEq)]
pub struct HandleName<'a> {
    pub fsid: u64,
    pub handle_type: i32,
    pub handle: &'a [u8],
    /// The entry in the handle's directory (FID_NAME events), or empty.
    pub entry: &'a [u8],
}

impl<'a> HandleName<'a> {
    /// Reads name[]; None when it is shorter than its header or than the handle length it claims.
    pub fn parse(b: &'a [u8]) -> Option<Self> {
        let header = b.get(..16)?;
        let fsid = u64::from_ne_bytes(header[..8].try_into().ok()?);
        let handle_type = i32::from_ne_bytes(header[8..12].try_into().ok()?);
        let len = u32::from_ne_bytes(header[12..16].try_into().ok()?) as usize;
        let handle = b.get(16..16 + len)?;
        Some(HandleName { fsid, handle_type, handle, entry: &b[16 + len..] })
    }

    /// The path: the handle's, with the entry appended when there is one.
    pub fn join(&self, mut path: Vec<u8>) -> Vec<u8> {
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
    fn handle_bytes_are_the_claimed_part_of_name() {
        use super::{decode, fsg_flags, handle_bytes};
        let mut ev = decode::fsg_event { r#type: decode::fsg_type::FSG_TYPE_FANOTIFY.0, ..Default::default() };
        assert_eq!(std::mem::size_of::<decode::fsg_event>() - decode::HEADER_LEN, ev.name.len(), "name[] ends the record");
        let b = handle_record(&[9; 8], b"f");
        decode::set_c(&mut ev.name, &b);
        ev.name_len = b.len() as u32;
        assert_eq!(handle_bytes(&decode::encode(&ev)), None, "not flagged: no handle");
        ev.flags = fsg_flags::FSG_F_HANDLE.0;
        let mut raw = decode::encode(&ev);
        assert_eq!(handle_bytes(&raw), Some(&b[..]));
        raw.truncate(raw.len() - 1);
        assert_eq!(handle_bytes(&raw), Some(&b[..b.len() - 1]), "cut to what the record holds");
        // A record longer than fsg_event, claiming more than name[]: only name[] is read.
        ev.name_len = u32::MAX;
        let mut raw = crate::boundary::as_bytes(&ev).to_vec();
        raw.extend_from_slice(b"past the end");
        assert_eq!(handle_bytes(&raw).map(<[u8]>::len), Some(ev.name.len()));
    }

    #[test]
    fn a_short_or_inconsistent_handle_is_refused() {
        assert_eq!(HandleName::parse(&[0; 15]), None);
        let mut b = handle_record(&[1; 8], b"");
        b.truncate(20); // says 8 bytes of handle, holds 4
        assert_eq!(HandleName::parse(&b), None);
    }
}
