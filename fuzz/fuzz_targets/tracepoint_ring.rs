//! The tracepoint backend's ring-buffer decoder and the join behind it (which
//! parses the inotify/fanotify buffers the tracer read). The input is a
//! stream of records, each `[u16 LE length][bytes]`.
#![no_main]

use fsnotify_gadget::backend::tracepoint::join::{JoinFilters, Joiner};
use fsnotify_gadget::backend::tracepoint::{decode, Msg};
use fsnotify_gadget::backend::Clock;
use libfuzzer_sys::fuzz_target;

#[path = "../output_check.rs"]
mod output_check;

fuzz_target!(|data: &[u8]| {
    let clock = Clock::with_offset(0);
    let mut joiner = Joiner::new(JoinFilters::default());
    let mut out = Vec::new();
    let mut resolve = |_: u32, _: &_| None;
    let mut rest = data;
    while rest.len() >= 2 {
        let len = (u16::from_le_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        let rec = &rest[2..2 + len];
        rest = &rest[2 + len..];
        if let Ok(Msg::Raw(raw)) = decode(rec, clock) {
            joiner.push(raw, &mut resolve, &mut out);
        }
    }
    joiner.tick(u64::MAX, true, &mut out);
    for r in &out {
        output_check::check(r);
    }
});
