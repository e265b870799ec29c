//! Turns the fentry/kprobe programs' raw `struct fsg_event` bytes into a
//! [`Record`]. Pure: the bytes are untrusted and any length is handled.

use std::mem::{offset_of, size_of};

// Public so benchmarks and tests can build records the way the kernel programs do.
pub use super::skel::types::{fsg_event, fsg_flags, fsg_proc, fsg_type};
use crate::backend::{proc_of, Clock};
use crate::model::{c_bytes, path_from_components, EventType, FaResponse, Record};

#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    Short(usize),
    BadType(u32),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Short(n) => write!(f, "record of {n} bytes is shorter than its header"),
            DecodeError::BadType(t) => write!(f, "unknown record type {t}"),
        }
    }
}

pub const HEADER_LEN: usize = offset_of!(fsg_event, name);

/// The `N` bytes at `at` of a raw record, read in place without decoding it;
/// None when the record is too short for them. For the header fields a step
/// after [`decode`] still needs: `raw_field::<4>(raw, offset_of!(fsg_event, flags))`.
pub fn raw_field<const N: usize>(raw: &[u8], at: usize) -> Option<[u8; N]> {
    raw.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Decodes one ring-buffer record.
pub fn decode(raw: &[u8], clock: Clock) -> Result<Record, DecodeError> {
    if raw.len() < HEADER_LEN {
        return Err(DecodeError::Short(raw.len()));
    }
    // Only the header is copied, into a buffer kept per thread: zeroing a whole
    // fsg_event (4 KiB of name) per record cost more than the rest of decoding.
    // The name is read from `raw` itself.
    thread_local! {
        static HEADER: std::cell::RefCell<Box<fsg_event>> = std::cell::RefCell::new(Box::default());
    }
    HEADER.with_borrow_mut(|ev| {
        crate::boundary::copy_prefix(raw, HEADER_LEN, &mut **ev);
        decode_header(ev, raw, clock)
    })
}

/// Decodes a record whose header was copied to `ev`; its name is in `raw`.
fn decode_header(ev: &fsg_event, raw: &[u8], clock: Clock) -> Result<Record, DecodeError> {
    let n = raw.len().min(size_of::<fsg_event>());

    let has = |f: fsg_flags| ev.flags & f.0 != 0;
    let event_type = match fsg_type(ev.r#type) {
        fsg_type::FSG_TYPE_INOTIFY => EventType::Inotify,
        fsg_type::FSG_TYPE_FANOTIFY => EventType::Fanotify,
        fsg_type::FSG_TYPE_FA_RESP => EventType::FaResp,
        other => return Err(DecodeError::BadType(other.0)),
    };
    let mut r = Record::new(event_type, clock.to_epoch_ns(ev.timestamp_ns));
    // 0: the backend could not tell (a tracepoint-backend read it cannot attribute).
    r.fsnotify_group = (ev.group != 0).then_some(ev.group);
    if has(fsg_flags::FSG_F_TRACER) {
        r.tracer = Some(proc_of!(&ev.tracer));
    }
    if has(fsg_flags::FSG_F_TRACEE) {
        r.tracee = Some(proc_of!(&ev.tracee));
        r.latency_ns = Some(ev.timestamp_ns.saturating_sub(ev.queued_ns));
    }
    if has(fsg_flags::FSG_F_PRIO) {
        r.prio = Some(ev.prio);
    }
    let name_len = (ev.name_len as usize).min(n - HEADER_LEN).min(ev.name.len());
    let raw_name = &raw[HEADER_LEN..HEADER_LEN + name_len];
    r.name = if has(fsg_flags::FSG_F_PATH_COMPONENTS) { path_from_components(raw_name) } else { c_bytes(raw_name) };
    r.name_truncated = has(fsg_flags::FSG_F_NAME_TRUNCATED) || (ev.name_len as usize) > name_len;

    match event_type {
        EventType::Inotify => {
            r.i_wd = Some(ev.i_wd);
            r.i_mask = Some(ev.i_mask);
            r.i_cookie = Some(ev.i_cookie);
            if has(fsg_flags::FSG_F_INODES) {
                r.i_ino = Some(ev.i_ino);
                r.i_ino_dir = Some(ev.i_ino_dir);
            }
        }
        EventType::Fanotify | EventType::FaResp => {
            r.fa_type = Some(ev.fa_type);
            r.fa_mask = Some(ev.fa_mask.into());
            r.fa_pid = Some(ev.fa_pid);
            r.fa_flags = Some(ev.fa_flags);
            r.fa_f_flags = Some(ev.fa_f_flags);
            if event_type == EventType::FaResp {
                r.fa_response = FaResponse::from_kernel(ev.fa_response);
            }
        }
    }
    Ok(r)
}

/// Encodes a record the way the kernel programs lay it out: for tests and
/// benchmarks that feed the decoder without a kernel.
pub fn encode(ev: &fsg_event) -> Vec<u8> {
    let len = HEADER_LEN + (ev.name_len as usize).min(ev.name.len());
    crate::boundary::as_bytes(ev)[..len].to_vec()
}

/// Sets a C string field from bytes (truncating to the field).
pub fn set_c(dst: &mut [i8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src.iter().chain(std::iter::repeat(&0))) {
        *d = *s as i8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inotify_event() -> fsg_event {
        let mut ev = fsg_event { r#type: fsg_type::FSG_TYPE_INOTIFY.0, ..Default::default() };
        ev.flags = fsg_flags::FSG_F_TRACER.0 | fsg_flags::FSG_F_TRACEE.0 | fsg_flags::FSG_F_INODES.0;
        ev.timestamp_ns = 2_000;
        ev.queued_ns = 1_500;
        ev.group = 0xffff_8880_1234_5678;
        set_c(&mut ev.tracer.comm, b"inotifywatch");
        set_c(&mut ev.tracee.comm, b"touch");
        ev.tracee.pid = 42;
        ev.i_mask = 0x0800_0020;
        ev.i_wd = 1;
        ev.i_ino = 77;
        ev.i_ino_dir = 7;
        set_c(&mut ev.name, b"ABCDE");
        ev.name_len = 5;
        ev
    }

    #[test]
    fn inotify_record_round_trips() {
        let r = decode(&encode(&inotify_event()), Clock::with_offset(1_000)).unwrap();
        assert_eq!(r.event_type, EventType::Inotify);
        assert_eq!(r.timestamp_ns, 3_000);
        assert_eq!(r.latency_ns, Some(500));
        assert_eq!(r.tracer.as_ref().unwrap().comm, b"inotifywatch");
        assert_eq!(r.tracee.as_ref().unwrap().pid, 42);
        assert_eq!(r.i_mask, Some(0x0800_0020));
        assert_eq!((r.i_ino, r.i_ino_dir), (Some(77), Some(7)));
        assert_eq!(r.name, b"ABCDE");
        assert_eq!(r.fsnotify_group, Some(0xffff_8880_1234_5678));
        assert!(r.fa_mask.is_none());
        assert!(r.prio.is_none());
    }

    #[test]
    fn fanotify_paths_and_answers_decode() {
        let mut ev = inotify_event();
        ev.r#type = fsg_type::FSG_TYPE_FA_RESP.0;
        ev.flags |= fsg_flags::FSG_F_PATH_COMPONENTS.0;
        ev.fa_response = 2;
        ev.fa_mask = 0x10000;
        let comps = b"secret\0tmp\0";
        set_c(&mut ev.name, comps);
        ev.name_len = comps.len() as u32;
        let r = decode(&encode(&ev), Clock::with_offset(0)).unwrap();
        assert_eq!(r.event_type, EventType::FaResp);
        assert_eq!(r.name, b"/tmp/secret");
        assert_eq!(r.fa_response, FaResponse::Deny);
        assert!(r.i_mask.is_none());
    }

    #[test]
    fn hostile_bytes_never_panic() {
        assert_eq!(decode(&[0u8; 3], Clock::with_offset(0)), Err(DecodeError::Short(3)));
        let mut raw = encode(&inotify_event());
        raw[offset_of!(fsg_event, name_len)..][..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let r = decode(&raw, Clock::with_offset(0)).unwrap();
        assert!(r.name_truncated);
        raw[offset_of!(fsg_event, r#type)..][..4].copy_from_slice(&9u32.to_le_bytes());
        assert_eq!(decode(&raw, Clock::with_offset(0)), Err(DecodeError::BadType(9)));
    }
}
