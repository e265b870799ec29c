//! Reads `/proc/kallsyms`: which kernel functions exist (to pick attach
//! targets) and the address range each one spans (for call-site checks).

use std::collections::HashMap;

/// A function's text: from its address to the next symbol's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

/// Text symbols of the running kernel (built-in and modules).
#[derive(Debug, Default)]
pub struct Kallsyms {
    /// Sorted by address.
    syms: Vec<(u64, String)>,
    by_name: HashMap<String, Vec<usize>>,
}

impl Kallsyms {
    /// Parses kallsyms text. Malformed lines are skipped, never fatal.
    pub fn parse(text: &str) -> Kallsyms {
        let mut syms: Vec<(u64, String)> = Vec::new();
        for line in text.lines() {
            let mut parts = line.split_ascii_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Ok(addr) = u64::from_str_radix(addr, 16) else { continue };
            if !matches!(kind, "t" | "T" | "w" | "W") || name.len() > 512 {
                continue;
            }
            syms.push((addr, name.to_string()));
        }
        syms.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, (_, name)) in syms.iter().enumerate() {
            by_name.entry(name.clone()).or_default().push(i);
        }
        Kallsyms { syms, by_name }
    }

    pub fn read() -> std::io::Result<Kallsyms> {
        Ok(Kallsyms::parse(&std::fs::read_to_string("/proc/kallsyms")?))
    }

    /// Whether the function exists (under this exact name).
    pub fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// True when addresses are hidden (all zero: not root, or kptr_restrict).
    pub fn addresses_hidden(&self) -> bool {
        self.syms.iter().all(|(a, _)| *a == 0)
    }

    /// Every range the function occupies: each copy of the name, and the
    /// compiler's split-off parts (`name.cold`, `name.part.0`, ...).
    pub fn ranges(&self, name: &str) -> Vec<Range> {
        let mut out = Vec::new();
        for (i, (addr, sym)) in self.syms.iter().enumerate() {
            let split_part = sym.strip_prefix(name).is_some_and(|rest| rest.starts_with('.'));
            if *addr == 0 || !(sym == name || split_part) {
                continue;
            }
            let end = self.syms[i + 1..].iter().map(|(a, _)| *a).find(|a| a > addr);
            if let Some(end) = end {
                out.push(Range { start: *addr, end });
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
        let k = Kallsyms::parse(SAMPLE);
        assert!(k.has("inotify_read"));
        assert!(!k.has("some_data"));
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
        let k = Kallsyms::parse("0000000000000000 T a\n0000000000000000 T b\n");
        assert!(k.addresses_hidden());
        assert!(k.ranges("a").is_empty());
    }
}
