//! A fanotify permission answer taking its delivery's path (`PermPaths::join`),
//! over a sequence of ring records as the fentry and kprobe backends read
//! them: each decoded, then joined.
//!
//! The input is a list of records, each a 5-byte header and its name:
//! type (low 2 bits; 0 is a type no backend sends), whether the record is cut
//! (bit 2), flags (`FLAGS`, one bit each), the event's address (one of 8, so
//! deliveries and answers meet), the name's length, and the length of name[]
//! kept when cut.
//!
//! Checked against a plain model of the rule: a permission delivery seen by
//! its tracer is kept by its event's address; an answer that says its path
//! was sent (`FSG_F_PATH_SENT`) takes the path of its event's delivery, or
//! says it was not seen; every answer forgets its event's delivery; no other
//! record is touched, nor any other field. Deliveries waiting never exceed
//! the bound (a small one here, so that the fuzzer reaches it).
#![no_main]

use std::collections::HashMap;

use fsnotify_gadget::backend::kernel::decode::{decode, encode, fsg_event, fsg_flags, set_c, HEADER_LEN};
use fsnotify_gadget::backend::kernel::perm_paths::{PermPaths, PATH_NOT_SEEN};
use fsnotify_gadget::backend::Clock;
use fsnotify_gadget::model::EventType;
use libfuzzer_sys::fuzz_target;

/// Deliveries kept at most.
const BOUND: usize = 4;

/// The flags a header's second byte sets, bit 0 first.
const FLAGS: [fsg_flags; 8] = [
    fsg_flags::FSG_F_TRACER,
    fsg_flags::FSG_F_PERM,
    fsg_flags::FSG_F_PATH_SENT,
    fsg_flags::FSG_F_NAME_TRUNCATED,
    fsg_flags::FSG_F_PATH_COMPONENTS,
    fsg_flags::FSG_F_TRACEE,
    fsg_flags::FSG_F_HANDLE,
    fsg_flags::FSG_F_OVERFLOW,
];

fuzz_target!(|data: &[u8]| {
    let clock = Clock::with_offset(0);
    let mut paths = PermPaths::with_max_waiting(BOUND);
    let mut model: HashMap<u64, (Vec<u8>, bool)> = HashMap::new();
    let mut rest = data;
    while let [kind, flag_bits, slot, len, kept, tail @ ..] = rest {
        let name = &tail[..(*len as usize).min(tail.len())];
        rest = &tail[name.len()..];

        let mut ev = fsg_event { r#type: u32::from(kind & 3), ..Default::default() };
        ev.flags = FLAGS.iter().enumerate().filter(|(i, _)| flag_bits & (1 << i) != 0).fold(0, |f, (_, b)| f | b.0);
        ev.event_ptr = 0xffff_8880_0000_0000 | u64::from(slot & 7) << 12;
        ev.tracer.pid = 100;
        set_c(&mut ev.name, name);
        ev.name_len = name.len() as u32;
        let mut raw = encode(&ev);
        if kind & 4 != 0 {
            raw.truncate(HEADER_LEN + usize::from(*kept));
        }
        // As the ring's reader does: a record that does not decode goes no further.
        let Ok(mut r) = decode(&raw, clock) else { continue };
        let before = r.clone();
        paths.join(&raw, &mut r);

        let has = |f: fsg_flags| ev.flags & f.0 != 0;
        let mut want = before.clone();
        match before.event_type {
            EventType::Fanotify if has(fsg_flags::FSG_F_PERM) && before.tracer.is_some() => {
                if model.len() >= BOUND {
                    model.clear();
                }
                model.insert(ev.event_ptr, (before.name.clone(), before.name_truncated));
            }
            EventType::FaResp => {
                let delivered = model.remove(&ev.event_ptr);
                if has(fsg_flags::FSG_F_PATH_SENT) {
                    match delivered {
                        Some((name, truncated)) => (want.name, want.name_truncated) = (name, truncated),
                        None => want.name_unknown = Some(PATH_NOT_SEEN),
                    }
                }
            }
            _ => {}
        }
        assert_eq!(r, want, "after {:?}", before.event_type);
        assert_eq!(paths.waiting(), model.len());
        assert!(paths.waiting() <= BOUND, "{} deliveries waiting", paths.waiting());
    }
});
