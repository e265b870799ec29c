//! A fanotify permission event's answer record (`fa_resp`) comes without its
//! path when the delivered record of the same event already carried it
//! (`FSG_F_PATH_SENT`: the kernel programs then skip a second path walk, as
//! costly as the rest of the record). This copies the path across, by the
//! event's address, which both records carry. The ring buffer keeps their
//! order: a delivery is sent before the reader can answer it.

use std::collections::HashMap;
use std::mem::offset_of;

use super::decode::{fsg_event, fsg_flags, raw_field};
use crate::model::{EventType, Record};

/// What a missing delivery leaves in the answer's `name_unknown`.
pub const PATH_NOT_SEEN: &str = "the path went with the delivered event's record, which was not seen";

/// Deliveries not answered yet. A permission event blocks the process that
/// caused it until its answer, so few are ever waiting; an answer lost to a
/// full ring buffer leaves its delivery behind, hence the bound.
pub const MAX_WAITING: usize = 65_536;

pub struct PermPaths {
    waiting: HashMap<u64, (Vec<u8>, bool)>,
    max_waiting: usize,
}

impl Default for PermPaths {
    fn default() -> PermPaths {
        PermPaths::with_max_waiting(MAX_WAITING)
    }
}

impl PermPaths {
    /// Keeps at most `max` deliveries waiting (the tool keeps [`MAX_WAITING`];
    /// a smaller bound lets a test or fuzz target reach it).
    pub fn with_max_waiting(max: usize) -> PermPaths {
        PermPaths { waiting: HashMap::new(), max_waiting: max }
    }

    /// Keeps a delivered permission event's path, or gives an answer the
    /// path of its delivery; `raw` is the record `r` was decoded from.
    pub fn join(&mut self, raw: &[u8], r: &mut Record) {
        let Some(flags) = raw_field::<4>(raw, offset_of!(fsg_event, flags)).map(u32::from_ne_bytes) else { return };
        let Some(event) = raw_field::<8>(raw, offset_of!(fsg_event, event_ptr)).map(u64::from_ne_bytes) else { return };
        match r.event_type {
            EventType::Fanotify if flags & fsg_flags::FSG_F_PERM.0 != 0 && r.tracer.is_some() => {
                if self.waiting.len() >= self.max_waiting {
                    self.waiting.clear();
                }
                self.waiting.insert(event, (r.name.clone(), r.name_truncated));
            }
            EventType::FaResp => {
                let kept = self.waiting.remove(&event);
                if flags & fsg_flags::FSG_F_PATH_SENT.0 == 0 {
                    return;
                }
                match kept {
                    Some((name, truncated)) => {
                        r.name = name;
                        r.name_truncated = truncated;
                    }
                    None => r.name_unknown = Some(PATH_NOT_SEEN),
                }
            }
            _ => {}
        }
    }

    /// Deliveries kept, waiting for their answers.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode::{decode, encode, fsg_type, set_c};
    use super::*;
    use crate::backend::Clock;

    fn record(t: fsg_type, flags: fsg_flags, event_ptr: u64, path: &[u8]) -> (Vec<u8>, Record) {
        let mut ev = fsg_event::default();
        ev.r#type = t.0;
        ev.flags = flags.0 | fsg_flags::FSG_F_TRACER.0 | fsg_flags::FSG_F_PERM.0;
        ev.event_ptr = event_ptr;
        set_c(&mut ev.name, path);
        ev.name_len = path.len() as u32;
        let raw = encode(&ev);
        let r = decode(&raw, Clock::with_offset(0)).unwrap();
        (raw, r)
    }

    #[test]
    fn an_answer_takes_its_deliverys_path() {
        let mut paths = PermPaths::default();
        let (raw, mut delivered) = record(fsg_type::FSG_TYPE_FANOTIFY, fsg_flags(0), 0xffff_8880_0000_1000, b"/srv/a");
        paths.join(&raw, &mut delivered);
        let (raw, mut other) = record(fsg_type::FSG_TYPE_FANOTIFY, fsg_flags(0), 0xffff_8880_0000_2000, b"/srv/b");
        paths.join(&raw, &mut other);
        assert_eq!(paths.waiting(), 2);
        let (raw, mut answer) = record(fsg_type::FSG_TYPE_FA_RESP, fsg_flags::FSG_F_PATH_SENT, 0xffff_8880_0000_1000, b"");
        assert!(answer.name.is_empty());
        paths.join(&raw, &mut answer);
        assert_eq!((answer.name.as_slice(), answer.name_unknown), (&b"/srv/a"[..], None));
        assert_eq!(paths.waiting(), 1);
        // An answer that carries its own path (its delivery was not sent) keeps it, and
        // the delivery kept for that event is forgotten.
        let (raw, mut answer) = record(fsg_type::FSG_TYPE_FA_RESP, fsg_flags(0), 0xffff_8880_0000_2000, b"/srv/b2");
        paths.join(&raw, &mut answer);
        assert_eq!(answer.name, b"/srv/b2");
        assert_eq!(paths.waiting(), 0);
    }

    #[test]
    fn an_answer_whose_delivery_was_not_seen_says_so() {
        let mut paths = PermPaths::default();
        let (raw, mut answer) = record(fsg_type::FSG_TYPE_FA_RESP, fsg_flags::FSG_F_PATH_SENT, 0x1000, b"");
        paths.join(&raw, &mut answer);
        assert_eq!((answer.name.as_slice(), answer.name_unknown), (&b""[..], Some(PATH_NOT_SEEN)));
    }

    #[test]
    fn waiting_deliveries_are_bounded() {
        let mut paths = PermPaths::default();
        for ptr in 0..(MAX_WAITING as u64 + 10) {
            let (raw, mut r) = record(fsg_type::FSG_TYPE_FANOTIFY, fsg_flags(0), ptr, b"/x");
            paths.join(&raw, &mut r);
        }
        assert!(paths.waiting() <= MAX_WAITING);
    }
}
