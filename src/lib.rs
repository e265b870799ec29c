//! fsnotify-gadget: inotify and fanotify, made visible with eBPF.
//!
//! - [`cli`]: the command line, the only module that knows clap.
//! - [`model`]: the one record type every backend fills.
//! - [`backend`]: the kernel side (fentry, kprobe, tracepoint).
//! - [`boundary`]: the typed kernel/user boundary (BPF bytes as skeleton types).
//! - [`procfs`]: processes and their inotify/fanotify fds, for `list` and the tracers.
//! - [`masks`], [`fields`], [`output`]: decoding and formatting, pure.
//! - [`trace`]: the loop that ties them together; [`list`]: `fsnotify-gadget list`;
//!   [`top`]: `fsnotify-gadget top`, a live summary from the same loop.

pub mod backend;
pub mod boundary;
pub mod cli;
pub mod containers;
pub mod fields;
pub mod filter;
pub mod kallsyms;
pub mod list;
pub mod masks;
pub mod metrics;
pub mod model;
pub mod names;
pub mod output;
pub mod privileges;
pub mod procfs;
pub mod top;
pub mod trace;
