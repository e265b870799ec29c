//! fsnotify-gadget: inotify and fanotify, made visible with eBPF.
//!
//! - [`model`]: the one record type every backend fills.
//! - [`backend`]: the kernel side (fentry, kprobe, tracepoint).
//! - [`masks`], [`fields`], [`output`]: decoding and formatting, pure.
//! - [`trace`]: the loop that ties them together.

pub mod backend;
pub mod cli;
pub mod fields;
#[cfg(test)]
mod fuzz_seeds;
pub mod kallsyms;
pub mod list;
pub mod masks;
pub mod metrics;
pub mod model;
pub mod names;
pub mod output;
pub mod privileges;
pub mod trace;
