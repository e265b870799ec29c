//! Reads `/proc/kallsyms`: which kernel functions exist (to pick attach
//! targets) and the address range each one spans (for call-site checks).

use std::io::BufRead;

/// A function's text: from its address to the next symbol's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

/// What a backend needs from the kernel's text symbols (built-in and
/// modules): the symbols it asked for by name, and every symbol's address
/// (one of them ends each function). The whole table is never held: kept as
/// text and strings it took 40 MiB, most of this tool's peak memory.
#[derive(Debug, Default)]
pub struct Kallsyms {
    /// The wanted names and their split-off parts (`name.cold`, ...), with
    /// their addresses, sorted by address.
    found: Vec<(u64, String)>,
    /// Every text symbol's non-zero address, sorted and unique.
    addrs: Vec<u64>,
}

/// Whether `sym` is `name` or one of the compiler's split-off parts of it.
fn is_part_of(sym: &str, name: &str) -> bool {
    sym.strip_prefix(name).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

impl Kallsyms {
    /// Parses kallsyms text, keeping the symbols named in `wanted` (and their
    /// split-off parts). Malformed lines are skipped, never fatal.
    pub fn parse(text: &str, wanted: &[&str]) -> Kallsyms {
        let mut k = Kallsyms::default();
        for line in text.lines() {
            k.add_line(line.as_bytes(), wanted);
        }
        k.finish()
    }

    /// Reads `/proc/kallsyms` a line at a time, keeping what [`parse`](Self::parse) keeps.
    pub fn read(wanted: &[&str]) -> std::io::Result<Kallsyms> {
        let mut reader = std::io::BufReader::new(std::fs::File::open("/proc/kallsyms")?);
        let mut k = Kallsyms::default();
        let mut line = Vec::with_capacity(128);
        while reader.read_until(b'\n', &mut line)? > 0 {
            k.add_line(&line, wanted);
            line.clear();
        }
        Ok(k.finish())
    }

    fn add_line(&mut self, line: &[u8], wanted: &[&str]) {
        let Ok(line) = std::str::from_utf8(line) else { return };
        let mut parts = line.split_ascii_whitespace();
        let (Some(addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            return;
        };
        let Ok(addr) = u64::from_str_radix(addr, 16) else { return };
        if !matches!(kind, "t" | "T" | "w" | "W") || name.len() > 512 {
            return;
        }
        if addr != 0 {
            self.addrs.push(addr);
        }
        if wanted.iter().any(|w| is_part_of(name, w)) {
            self.found.push((addr, name.to_string()));
        }
    }

    fn finish(mut self) -> Kallsyms {
        self.addrs.sort_unstable();
        self.addrs.dedup();
        self.addrs.shrink_to_fit();
        self.found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        self
    }

    /// Whether the function exists (under this exact name); only names
    /// asked for when reading are known.
    pub fn has(&self, name: &str) -> bool {
        self.found.iter().any(|(_, sym)| sym == name)
    }

    /// True when addresses are hidden (all zero: not root, or kptr_restrict).
    pub fn addresses_hidden(&self) -> bool {
        self.addrs.is_empty()
    }

    /// Every range the function occupies: each copy of the name, and the
    /// compiler's split-off parts (`name.cold`, `name.part.0`, ...). Each ends
    /// at the next symbol's address.
    pub fn ranges(&self, name: &str) -> Vec<Range> {
        let mut out = Vec::new();
        for &(start, ref sym) in &self.found {
            if start == 0 || !is_part_of(sym, name) {
                continue;
            }
            let next = self.addrs.partition_point(|&a| a <= start);
            if let Some(&end) = self.addrs.get(next) {
                out.push(Range { start, end });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
ffffffff8121760e t inotify_handle_inode_event.cold
ffffffff81217700 t something_else
ffffffff817298a0 T inotify_handle_inode_event
ffffffff8172a400 t inotify_read
ffffffff8172a400 t inotify_read_alias
ffffffff8172a900 t inotify_ioctl
ffffffff81800000 d some_data
garbage line
ffffffffzz T bad_address
";

    #[test]
    fn ranges_include_cold_parts_and_end_at_the_next_symbol() {
        let k = Kallsyms::parse(SAMPLE, &["inotify_read", "some_data", "inotify_handle_inode_event", "inotify_ioctl"]);
        assert!(k.has("inotify_read"));
        assert!(!k.has("some_data"));
        assert!(!k.has("something_else"), "only the names asked for are kept");
        assert_eq!(
            k.ranges("inotify_handle_inode_event"),
            vec![
                Range { start: 0xffffffff8121760e, end: 0xffffffff81217700 },
                Range { start: 0xffffffff817298a0, end: 0xffffffff8172a400 },
            ]
        );
        assert_eq!(k.ranges("inotify_read"), vec![Range { start: 0xffffffff8172a400, end: 0xffffffff8172a900 }]);
        assert!(k.ranges("inotify_ioctl").is_empty(), "the last symbol has no known end");
        assert!(!k.addresses_hidden());
    }

    #[test]
    fn hidden_addresses_are_detected() {
        let k = Kallsyms::parse("0000000000000000 T a\n0000000000000000 T b\n", &["a", "b"]);
        assert!(k.addresses_hidden());
        assert!(k.ranges("a").is_empty());
    }
}
