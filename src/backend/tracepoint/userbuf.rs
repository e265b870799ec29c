//! Parsers of the bytes a tracer got from read(2) on an inotify or fanotify
//! fd, and of what it wrote back to a fanotify fd. Pure: the bytes are
//! untrusted (copied from user memory, possibly truncated); every length is
//! checked and errors are returned, never panics.

/// `IN_Q_OVERFLOW`: the queue overflowed; no event of a tracee.
pub const IN_Q_OVERFLOW: u32 = 0x0000_4000;
/// `FAN_Q_OVERFLOW`.
pub const FAN_Q_OVERFLOW: u64 = 0x0000_4000;
/// The fanotify permission event bits (`FAN_*_PERM`, `FAN_PRE_ACCESS`).
pub const FAN_PERM_MASK: u64 = 0x0001_0000 | 0x0002_0000 | 0x0004_0000 | 0x0010_0000;
/// `FAN_NOFD`: the event carries no file descriptor (FID reporting, overflow).
pub const FAN_NOFD: i32 = -1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The buffer ends inside a record header.
    ShortHeader { offset: usize },
    /// A record's length field points past the buffer (or below its header).
    BadLength { offset: usize, len: usize },
    /// A fanotify record of a metadata version this parser does not know.
    BadVersion { offset: usize, version: u8 },
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::ShortHeader { offset } => write!(f, "buffer ends inside a record header at {offset}"),
            ParseError::BadLength { offset, len } => write!(f, "record at {offset} claims {len} bytes"),
            ParseError::BadVersion { offset, version } => write!(f, "record at {offset} has metadata version {version}"),
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_ne_bytes([s[0], s[1]]))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).map(|s| u64::from_ne_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]))
}

/// One `struct inotify_event` and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InotifyEvent {
    pub wd: i32,
    pub mask: u32,
    pub cookie: u32,
    /// Up to the first NUL of the padded name field; empty when there is none.
    pub name: Vec<u8>,
}

impl InotifyEvent {
    /// The queue-overflow event, which no tracee caused.
    pub fn is_overflow(&self) -> bool {
        self.wd == -1 && self.mask & IN_Q_OVERFLOW != 0
    }
}

const INOTIFY_HEADER: usize = 16;

/// Parses a read(2) result of an inotify fd. On an error, the records
/// before it are returned with it.
pub fn parse_inotify(buf: &[u8]) -> (Vec<InotifyEvent>, Option<ParseError>) {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let (Some(wd), Some(mask), Some(cookie), Some(len)) =
            (u32_at(buf, at), u32_at(buf, at + 4), u32_at(buf, at + 8), u32_at(buf, at + 12))
        else {
            return (out, Some(ParseError::ShortHeader { offset: at }));
        };
        let len = len as usize;
        let Some(name) = buf.get(at + INOTIFY_HEADER..).and_then(|rest| rest.get(..len)) else {
            return (out, Some(ParseError::BadLength { offset: at, len }));
        };
        out.push(InotifyEvent { wd: wd as i32, mask, cookie, name: crate::model::c_bytes(name) });
        at += INOTIFY_HEADER + len;
    }
    (out, None)
}

/// One `struct fanotify_event_metadata` with what its info records say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanotifyEvent {
    pub mask: u64,
    pub fd: i32,
    pub pid: i32,
    /// The file name of a `FAN_EVENT_INFO_TYPE_DFID_NAME` (or old/new
    /// DFID_NAME) record, when the group reports names.
    pub info_name: Option<Vec<u8>>,
    /// The directory (or object) file handle of the first FID record:
    /// `(fsid, handle_type, handle bytes)`, to resolve with open_by_handle_at.
    pub fid: Option<(u64, i32, Vec<u8>)>,
}

impl FanotifyEvent {
    pub fn is_overflow(&self) -> bool {
        self.mask & FAN_Q_OVERFLOW != 0
    }
    pub fn is_perm(&self) -> bool {
        self.mask & FAN_PERM_MASK != 0
    }
}

const FANOTIFY_METADATA_VERSION: u8 = 3;
const FAN_METADATA_LEN: usize = 24;
const FAN_EVENT_INFO_TYPE_FID: u8 = 1;
const FAN_EVENT_INFO_TYPE_DFID_NAME: u8 = 2;
const FAN_EVENT_INFO_TYPE_DFID: u8 = 3;
const FAN_EVENT_INFO_TYPE_OLD_DFID_NAME: u8 = 10;
const FAN_EVENT_INFO_TYPE_NEW_DFID_NAME: u8 = 12;

/// Parses a fanotify FID-kind info record: header(4), fsid(8), file_handle
/// {u32 handle_bytes; i32 handle_type; handle}, then a NUL-terminated name for
/// the *_NAME kinds.
fn parse_fid_info(rec: &[u8], with_name: bool, ev: &mut FanotifyEvent) {
    let (Some(fsid), Some(hbytes), Some(htype)) = (u64_at(rec, 4), u32_at(rec, 12), u32_at(rec, 16)) else {
        return;
    };
    let hbytes = hbytes as usize;
    let Some(handle) = rec.get(20..).and_then(|r| r.get(..hbytes)) else { return };
    if ev.fid.is_none() {
        ev.fid = Some((fsid, htype as i32, handle.to_vec()));
    }
    if with_name && ev.info_name.is_none() {
        let name = crate::model::c_bytes(&rec[20 + hbytes..]);
        if !name.is_empty() {
            ev.info_name = Some(name);
        }
    }
}

/// Parses a read(2) result of a fanotify fd. On an error, the records
/// before it are returned with it.
pub fn parse_fanotify(buf: &[u8]) -> (Vec<FanotifyEvent>, Option<ParseError>) {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let (Some(event_len), Some(&vers), Some(metadata_len), Some(mask), Some(fd), Some(pid)) = (
            u32_at(buf, at),
            buf.get(at + 4),
            u16_at(buf, at + 6),
            u64_at(buf, at + 8),
            u32_at(buf, at + 16),
            u32_at(buf, at + 20),
        ) else {
            return (out, Some(ParseError::ShortHeader { offset: at }));
        };
        if vers != FANOTIFY_METADATA_VERSION {
            return (out, Some(ParseError::BadVersion { offset: at, version: vers }));
        }
        let (event_len, metadata_len) = (event_len as usize, metadata_len as usize);
        if event_len < FAN_METADATA_LEN || metadata_len < FAN_METADATA_LEN || metadata_len > event_len {
            return (out, Some(ParseError::BadLength { offset: at, len: event_len }));
        }
        let Some(record) = buf.get(at..).and_then(|r| r.get(..event_len)) else {
            return (out, Some(ParseError::BadLength { offset: at, len: event_len }));
        };
        let mut ev = FanotifyEvent { mask, fd: fd as i32, pid: pid as i32, info_name: None, fid: None };
        // Info records follow the metadata up to event_len; a bad one ends them.
        let mut info = metadata_len;
        while info + 4 <= record.len() {
            let (kind, Some(ilen)) = (record[info], u16_at(record, info + 2)) else { break };
            let ilen = ilen as usize;
            let Some(rec) = record.get(info..).and_then(|r| r.get(..ilen)).filter(|_| ilen >= 4) else { break };
            match kind {
                FAN_EVENT_INFO_TYPE_FID | FAN_EVENT_INFO_TYPE_DFID => parse_fid_info(rec, false, &mut ev),
                FAN_EVENT_INFO_TYPE_DFID_NAME | FAN_EVENT_INFO_TYPE_OLD_DFID_NAME | FAN_EVENT_INFO_TYPE_NEW_DFID_NAME => {
                    parse_fid_info(rec, true, &mut ev)
                }
                _ => {}
            }
            info += ilen;
        }
        out.push(ev);
        at += event_len;
    }
    (out, None)
}

/// A `struct fanotify_response` a tracer wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanotifyResponse {
    pub fd: i32,
    pub response: u32,
}

/// Parses the start of a write(2) to a fanotify fd (one response per write;
/// info records after it are ignored).
pub fn parse_response(buf: &[u8]) -> Result<FanotifyResponse, ParseError> {
    match (u32_at(buf, 0), u32_at(buf, 4)) {
        (Some(fd), Some(response)) => Ok(FanotifyResponse { fd: fd as i32, response }),
        _ => Err(ParseError::ShortHeader { offset: 0 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inotify_rec(wd: i32, mask: u32, cookie: u32, name: &[u8], padded: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&wd.to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&cookie.to_ne_bytes());
        v.extend_from_slice(&(padded as u32).to_ne_bytes());
        let mut n = name.to_vec();
        n.resize(padded, 0);
        v.extend_from_slice(&n);
        v
    }

    #[test]
    fn inotify_events_with_padded_names() {
        let mut buf = inotify_rec(1, 0x20, 0, b"file-a", 16);
        buf.extend(inotify_rec(1, 0x4, 0, b"", 0));
        buf.extend(inotify_rec(2, 0x40, 77, b"sixteen-bytes-xx", 32));
        let (evs, err) = parse_inotify(&buf);
        assert_eq!(err, None);
        assert_eq!(evs.len(), 3);
        assert_eq!(evs[0], InotifyEvent { wd: 1, mask: 0x20, cookie: 0, name: b"file-a".to_vec() });
        assert_eq!(evs[1].name, b"");
        assert_eq!(evs[2].name, b"sixteen-bytes-xx");
        assert_eq!(evs[2].cookie, 77);
    }

    #[test]
    fn inotify_truncated_and_lying_lengths() {
        let mut buf = inotify_rec(1, 0x20, 0, b"ok", 16);
        let good = buf.len();
        buf.extend(inotify_rec(1, 0x20, 0, b"cut", 16));
        let (evs, err) = parse_inotify(&buf[..buf.len() - 3]);
        assert_eq!(evs.len(), 1);
        assert_eq!(err, Some(ParseError::BadLength { offset: good, len: 16 }));
        let (evs, err) = parse_inotify(&buf[..good + 10]);
        assert_eq!(evs.len(), 1);
        assert_eq!(err, Some(ParseError::ShortHeader { offset: good }));
        // A len near u32::MAX must not overflow anything.
        let mut evil = inotify_rec(1, 0x20, 0, b"", 0);
        evil[12..16].copy_from_slice(&u32::MAX.to_ne_bytes());
        let (evs, err) = parse_inotify(&evil);
        assert!(evs.is_empty());
        assert!(matches!(err, Some(ParseError::BadLength { .. })));
        assert_eq!(parse_inotify(&[]), (vec![], None));
    }

    #[test]
    fn inotify_overflow_is_recognized() {
        let (evs, _) = parse_inotify(&inotify_rec(-1, IN_Q_OVERFLOW, 0, b"", 0));
        assert!(evs[0].is_overflow());
    }

    fn fan_rec(mask: u64, fd: i32, pid: i32, info: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((24 + info.len()) as u32).to_ne_bytes());
        v.push(3);
        v.push(0);
        v.extend_from_slice(&24u16.to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&fd.to_ne_bytes());
        v.extend_from_slice(&pid.to_ne_bytes());
        v.extend_from_slice(info);
        v
    }

    fn dfid_name(name: &[u8]) -> Vec<u8> {
        let handle = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let mut body = Vec::new();
        body.extend_from_slice(&0x1234u64.to_ne_bytes());
        body.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
        body.extend_from_slice(&1i32.to_ne_bytes());
        body.extend_from_slice(&handle);
        body.extend_from_slice(name);
        body.push(0);
        while (body.len() + 4) % 4 != 0 {
            body.push(0);
        }
        let mut v = vec![FAN_EVENT_INFO_TYPE_DFID_NAME, 0];
        v.extend_from_slice(&((body.len() + 4) as u16).to_ne_bytes());
        v.extend(body);
        v
    }

    #[test]
    fn fanotify_metadata_and_info_records() {
        let mut buf = fan_rec(0x20, 5, 100, &[]);
        buf.extend(fan_rec(0x10000, 6, 101, &[]));
        buf.extend(fan_rec(0x100, FAN_NOFD, 102, &dfid_name(b"new-file")));
        buf.extend(fan_rec(FAN_Q_OVERFLOW, FAN_NOFD, 0, &[]));
        let (evs, err) = parse_fanotify(&buf);
        assert_eq!(err, None);
        assert_eq!(evs.len(), 4);
        assert_eq!((evs[0].mask, evs[0].fd, evs[0].pid), (0x20, 5, 100));
        assert!(!evs[0].is_perm() && evs[1].is_perm());
        assert_eq!(evs[2].info_name.as_deref(), Some(&b"new-file"[..]));
        assert_eq!(evs[2].fid, Some((0x1234, 1, vec![1, 2, 3, 4, 5, 6, 7, 8])));
        assert!(evs[3].is_overflow());
    }

    #[test]
    fn fanotify_bad_records() {
        let good = fan_rec(0x20, 5, 100, &[]);
        // event_len past the buffer
        let mut long = good.clone();
        long[0..4].copy_from_slice(&4096u32.to_ne_bytes());
        assert!(matches!(parse_fanotify(&long), (v, Some(ParseError::BadLength { .. })) if v.is_empty()));
        // event_len below the header: no infinite loop
        let mut zero = good.clone();
        zero[0..4].copy_from_slice(&0u32.to_ne_bytes());
        assert!(matches!(parse_fanotify(&zero).1, Some(ParseError::BadLength { .. })));
        // unknown version
        let mut v2 = good.clone();
        v2[4] = 2;
        assert_eq!(parse_fanotify(&v2).1, Some(ParseError::BadVersion { offset: 0, version: 2 }));
        // truncated header after a good record
        let mut buf = good.clone();
        buf.extend_from_slice(&good[..10]);
        let (evs, err) = parse_fanotify(&buf);
        assert_eq!(evs.len(), 1);
        assert_eq!(err, Some(ParseError::ShortHeader { offset: 24 }));
        // an info record whose len lies is ignored, the event kept
        let mut info = dfid_name(b"x");
        info[2..4].copy_from_slice(&200u16.to_ne_bytes());
        let (evs, err) = parse_fanotify(&fan_rec(0x100, -1, 1, &info));
        assert_eq!(err, None);
        assert_eq!(evs[0].info_name, None);
        // handle_bytes pointing past the record
        let mut info = dfid_name(b"x");
        info[12..16].copy_from_slice(&1000u32.to_ne_bytes());
        let (evs, _) = parse_fanotify(&fan_rec(0x100, -1, 1, &info));
        assert_eq!((evs[0].fid.clone(), evs[0].info_name.clone()), (None, None));
    }

    #[test]
    fn responses() {
        let mut b = 7i32.to_ne_bytes().to_vec();
        b.extend_from_slice(&2u32.to_ne_bytes());
        assert_eq!(parse_response(&b), Ok(FanotifyResponse { fd: 7, response: 2 }));
        assert!(parse_response(&b[..7]).is_err());
    }
}
