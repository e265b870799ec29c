//! The fentry/kprobe ring-buffer record decoder, then both output formats:
//! no input panics, and whatever decodes prints as one safe row and one
//! valid JSON line.
#![no_main]

use fsnotify_gadget::backend::kernel::decode::decode;
use fsnotify_gadget::backend::Clock;
use libfuzzer_sys::fuzz_target;

#[path = "../output_check.rs"]
mod output_check;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = decode(data, Clock::with_offset(0)) {
        output_check::check(&r);
    }
});
