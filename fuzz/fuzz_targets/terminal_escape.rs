//! The columns output's escaping of untrusted bytes (`escape_terminal`), of
//! the input as bytes and of it read as code points, checked on its output
//! rather than against itself:
//! - nothing hidden is shown raw: no char of the output is Cc, Cf, Zl, Zp,
//!   Co or Cn (the Unicode data, asked directly), nor a raw ESC, newline or
//!   DEL byte;
//! - every escape is one of the documented forms, and only where needed:
//!   `\xNN` for C0, DEL and bytes that are not UTF-8, `\u{NNNN}` only for a
//!   hidden char, never for a visible one;
//! - nothing is lost: unescaping the output gives back the input bytes;
//! - it is what the plain oracle in testkit prints;
//! - the columns printer's name column is exactly that text.
#![no_main]

use fsg_testkit::reference;
use fsnotify_gadget::fields;
use fsnotify_gadget::model::{EventType, Record};
use fsnotify_gadget::output::{escape_terminal, Columns};
use libfuzzer_sys::fuzz_target;

// For `hidden`, the property asked of the Unicode data.
#[path = "../output_check.rs"]
#[allow(dead_code)]
mod output_check;
use output_check::hidden;

/// Lowercase hex digits only, as the escaper writes them.
fn hex(s: &str) -> u32 {
    assert!(!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "bad hex {s:?}");
    u32::from_str_radix(s, 16).unwrap()
}

/// The escaped text back to bytes, strict about every form.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        if c != '\\' {
            assert!(!hidden(c) && !c.is_control(), "U+{:04X} shown raw in {s:?}", c as u32);
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            continue;
        }
        let kind = rest.chars().next().unwrap_or_else(|| panic!("a lone backslash ends {s:?}"));
        rest = &rest[kind.len_utf8()..];
        match kind {
            '\\' => out.push(b'\\'),
            'n' => out.push(b'\n'),
            't' => out.push(b'\t'),
            'r' => out.push(b'\r'),
            'x' => {
                let b = u8::try_from(hex(rest.get(..2).expect("two hex digits after \\x"))).unwrap();
                assert!(b < 0x20 && !b"\n\t\r".contains(&b) || b == 0x7f || b >= 0x80, "\\x{b:02x} for a byte shown as itself");
                out.push(b);
                rest = &rest[2..];
            }
            'u' => {
                let body = rest.strip_prefix('{').expect("\\u{");
                let end = body.find('}').expect("\\u{ without }");
                let digits = &body[..end];
                assert!((4..=6).contains(&digits.len()) && (digits.len() == 4 || !digits.starts_with('0')), "\\u{{{digits}}}");
                let c = char::from_u32(hex(digits)).expect("\\u{} of a char");
                assert!(c as u32 >= 0x80, "\\u{{{digits}}} for a C0 char or ASCII");
                assert!(hidden(c), "\\u{{{digits}}} for a visible char");
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                rest = &body[end + 1..];
            }
            k => panic!("unknown escape \\{k} in {s:?}"),
        }
    }
    out
}

/// The input read as code points, three bytes each (little-endian), as
/// UTF-8: reaches every char at once, where raw bytes need the right UTF-8
/// sequence first.
fn code_points(data: &[u8]) -> Vec<u8> {
    data.chunks_exact(3)
        .filter_map(|b| char::from_u32(u32::from_le_bytes([b[0], b[1], b[2], 0])))
        .collect::<String>()
        .into_bytes()
}

fuzz_target!(|data: &[u8]| {
    check(data);
    check(&code_points(data));
});

fn check(data: &[u8]) {
    let mut s = String::new();
    escape_terminal(data, &mut s);
    assert!(!s.bytes().any(|b| b < 0x20 || b == 0x7f), "a control byte in {s:?}");
    assert_eq!(unescape(&s), data, "{s:?}");
    let mut plain = String::new();
    reference::escape_terminal(data, &mut plain);
    assert_eq!(s, plain);
    // Appending is appending: what was in the buffer stays.
    let mut more = String::from("x\\");
    escape_terminal(data, &mut more);
    assert_eq!(more, format!("x\\{s}"));
    // The columns printer shows exactly that. (Only the name column: the
    // whole record's checks, output_check::check, cost a hundred times the
    // escaping, and kernel_ring runs them.)
    let name = fields::find("name").expect("the name field");
    let mut r = Record::new(EventType::Inotify, 0);
    r.name = data.to_vec();
    let mut cols = Vec::new();
    Columns::new(vec![name]).write(&r, &mut cols).unwrap();
    assert_eq!(String::from_utf8(cols).expect("columns are UTF-8"), format!("{}\n{s}\n", fields::header(name)));
}
