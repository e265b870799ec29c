//! Untrusted bytes for a terminal: one line, no escape sequence, nothing
//! invisible (see the output module's docs for the rules).

use std::io::Write;
use std::sync::OnceLock;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The Unicode version whose data decides [`is_escaped_char`]: a code point
/// assigned only in a later version is unassigned (Cn) here, so escaped.
pub const UNICODE_VERSION: (u64, u64, u64) = unicode_properties::UNICODE_VERSION;

/// Whether the columns output shows `c` as `\u{NNNN}` (or `\xNN`) rather than
/// raw: every control (Cc), format (Cf), line separator (Zl), paragraph
/// separator (Zp), private-use (Co) and unassigned (Cn, which includes the
/// noncharacters) code point. Those are the characters a terminal does not
/// show as themselves: they move the cursor, reorder or hide text, break the
/// line, or show as whatever the font has. Surrogates (Cs) cannot be chars;
/// their UTF-8 encodings are invalid and shown as `\xNN` bytes.
pub fn is_escaped_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    let c = c as u32;
    let bits = BLOCKS[(c >> 8) as usize].get_or_init(|| block(c >> 8));
    bits[(c >> 6 & 3) as usize] >> (c & 63) & 1 != 0
}

/// [`is_escaped_char`] asked of the Unicode tables: a binary search over
/// some 3000 ranges, about 35 ns a char, where a name's ASCII takes 1.
fn by_category(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
            | GeneralCategory::Surrogate
    )
}

/// [`by_category`]'s answers as bits, 256 code points a block, each block
/// worked out the first time one of its code points is looked up (about
/// 10 µs): the names of a session use few blocks, and a lookup is then a bit
/// test. Untouched blocks cost no memory (zeroed static).
static BLOCKS: [OnceLock<[u64; 4]>; 0x1100] = [const { OnceLock::new() }; 0x1100];

fn block(hi: u32) -> [u64; 4] {
    let mut bits = [0u64; 4];
    for lo in 0..256 {
        // The surrogates' block has no chars; it is never looked up.
        let escaped = char::from_u32(hi << 8 | lo).is_none_or(by_category);
        bits[(lo >> 6) as usize] |= u64::from(escaped) << (lo & 63);
    }
    bits
}

/// Escapes untrusted bytes for a terminal, on one line. See the module docs.
pub fn escape_terminal(bytes: &[u8], out: &mut String) {
    let mut v = Vec::with_capacity(bytes.len());
    escape_terminal_into(bytes, &mut v);
    out.push_str(std::str::from_utf8(&v).expect("escaped text is UTF-8"));
}

/// [`escape_terminal`], appended to a byte buffer (always valid UTF-8).
pub(super) fn escape_terminal_into(bytes: &[u8], out: &mut Vec<u8>) {
    // Most names are printable ASCII without a backslash: nothing to escape.
    if bytes.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\') {
        out.extend_from_slice(bytes);
        return;
    }
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\r' => out.extend_from_slice(b"\\r"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if is_escaped_char(c) => {
                    let _ = write!(out, "\\u{{{:04x}}}", c as u32);
                }
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(b: &[u8]) -> String {
        let mut s = String::new();
        escape_terminal(b, &mut s);
        s
    }

    fn escaped_char(c: char) -> String {
        escaped(c.to_string().as_bytes())
    }

    /// The inverse of the escaping, strict about its forms: a test-only
    /// oracle that the escaped text loses nothing.
    fn unescape(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            rest = &rest[c.len_utf8()..];
            if c != '\\' {
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            let kind = rest.as_bytes()[0];
            rest = &rest[1..];
            match kind {
                b'\\' => out.push(b'\\'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'r' => out.push(b'\r'),
                b'x' => {
                    out.push(u8::from_str_radix(&rest[..2], 16).unwrap());
                    rest = &rest[2..];
                }
                b'u' => {
                    let end = rest.find('}').unwrap();
                    let c = char::from_u32(u32::from_str_radix(&rest[1..end], 16).unwrap()).unwrap();
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    rest = &rest[end + 1..];
                }
                k => panic!("unknown escape \\{}", k as char),
            }
        }
        out
    }

    #[test]
    fn terminal_escapes_control_and_invalid_bytes() {
        assert_eq!(escaped(b"a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(escaped(b"x\ny\tz\r"), "x\\ny\\tz\\r");
        assert_eq!(escaped(b"\xff\xfe"), "\\xff\\xfe");
        assert_eq!(escaped(b"back\\slash"), "back\\\\slash");
        assert_eq!(escaped(b"del\x7f\x00"), "del\\x7f\\x00");
        assert_eq!(escaped("rtl\u{202e}txt".as_bytes()), "rtl\\u{202e}txt");
        assert_eq!(escaped("\u{9b}".as_bytes()), "\\u{009b}");
        assert_eq!(escaped("héllo | \"q\"".as_bytes()), "héllo | \"q\"");
        // An encoded surrogate is not UTF-8: its bytes, one by one.
        assert_eq!(escaped(b"\xed\xa0\x80"), "\\xed\\xa0\\x80");
    }

    #[test]
    fn invisible_and_bidi_characters_are_escaped_by_category() {
        // The ones the old hand-kept list missed (issue 18) ...
        let missed = [
            ('\u{2028}', "\\u{2028}"),   // LINE SEPARATOR, Zl
            ('\u{2029}', "\\u{2029}"),   // PARAGRAPH SEPARATOR, Zp
            ('\u{ad}', "\\u{00ad}"),     // SOFT HYPHEN, Cf
            ('\u{2060}', "\\u{2060}"),   // WORD JOINER, Cf
            ('\u{180e}', "\\u{180e}"),   // MONGOLIAN VOWEL SEPARATOR, Cf
            ('\u{fff9}', "\\u{fff9}"),   // INTERLINEAR ANNOTATION ANCHOR, Cf
            ('\u{fffa}', "\\u{fffa}"),   // INTERLINEAR ANNOTATION SEPARATOR, Cf
            ('\u{fffb}', "\\u{fffb}"),   // INTERLINEAR ANNOTATION TERMINATOR, Cf
            ('\u{e0001}', "\\u{e0001}"), // LANGUAGE TAG, Cf
            ('\u{600}', "\\u{0600}"),    // ARABIC NUMBER SIGN, Cf
            ('\u{e000}', "\\u{e000}"),   // private use, Co
            ('\u{f0000}', "\\u{f0000}"), // supplementary private use A, Co
            ('\u{10fffd}', "\\u{10fffd}"), // supplementary private use B, Co
            ('\u{378}', "\\u{0378}"),    // unassigned, Cn
            ('\u{fffe}', "\\u{fffe}"),   // noncharacter, Cn
            ('\u{ffff}', "\\u{ffff}"),   // noncharacter, Cn
            ('\u{fdd0}', "\\u{fdd0}"),   // noncharacter, Cn
            ('\u{10ffff}', "\\u{10ffff}"), // noncharacter, Cn
        ];
        for (c, want) in missed {
            assert_eq!(escaped_char(c), want, "U+{:04X}", c as u32);
        }
        // ... the whole tag block ...
        for c in (0xe0020..=0xe007f).filter_map(char::from_u32) {
            assert_eq!(escaped_char(c), format!("\\u{{{:x}}}", c as u32));
        }
        // ... and the ones it had.
        let old = (0x200b..=0x200f).chain(0x202a..=0x202e).chain(0x2066..=0x2069).chain([0xfeff, 0x061c]);
        for c in old.filter_map(char::from_u32) {
            assert_eq!(escaped_char(c), format!("\\u{{{:04x}}}", c as u32));
        }
        // C1 controls (Cc) stay \u{NNNN}; C0 and DEL stay \xNN.
        for c in '\u{80}'..='\u{9f}' {
            assert_eq!(escaped_char(c), format!("\\u{{{:04x}}}", c as u32));
        }
        for b in (0u8..0x20).chain([0x7f]).filter(|b| !b"\n\t\r".contains(b)) {
            assert_eq!(escaped(&[b]), format!("\\x{b:02x}"));
        }
        assert_eq!(escaped("a\u{2028}b\u{e0041}\u{e007f}c".as_bytes()), "a\\u{2028}b\\u{e0041}\\u{e007f}c");
    }

    #[test]
    fn visible_text_is_unchanged() {
        for s in [
            "é",
            "naïve café",
            "日本語のファイル",
            "한국어",
            "😀👍🏽",
            "👨\u{200d}👩\u{200d}👧", // ZWJ (Cf) is escaped, the emoji are not
            "e\u{301}",               // COMBINING ACUTE ACCENT, Mn: shown on the e
            "\u{a0}nbsp",             // NO-BREAK SPACE, Zs
            "\u{fffc}\u{fffd}",       // OBJECT REPLACEMENT, REPLACEMENT: So, visible
            "Ωμέγα ∑ € ½",
            "עברית العربية",          // right-to-left letters, no override
        ] {
            let want = s.replace('\u{200d}', "\\u{200d}");
            assert_eq!(escaped(s.as_bytes()), want);
        }
    }

    #[test]
    fn the_rule_is_general_category() {
        use GeneralCategory::*;
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let hidden = matches!(
                c.general_category(),
                Control | Format | LineSeparator | ParagraphSeparator | PrivateUse | Unassigned
            );
            assert_eq!(is_escaped_char(c), hidden, "U+{:04X}", c as u32);
            let s = escaped_char(c);
            let raw = s == c.to_string();
            assert_eq!(raw, !hidden && c != '\\', "U+{:04X} gave {s:?}", c as u32);
        }
    }

    #[test]
    fn escaped_text_round_trips_and_shows_nothing_hidden() {
        let mut rng = fsg_test_helpers::Rng(18);
        let mut inputs = fsg_test_helpers::hostile_bytes();
        inputs.extend((0..2000).map(|_| rng.bytes(40)));
        // Every code point once, in runs, with stray bytes between.
        let all: Vec<char> = (0..=0x10ffff).filter_map(char::from_u32).collect();
        for run in all.chunks(997) {
            let mut b = run.iter().collect::<String>().into_bytes();
            b.extend_from_slice(b"\xff\\\xe2\x80");
            inputs.push(b);
        }
        for b in inputs {
            let s = escaped(&b);
            assert_eq!(unescape(&s), b, "{s:?}");
            assert!(!s.contains(['\n', '\x1b', '\x7f']), "{s:?}");
            assert!(!s.chars().any(is_escaped_char), "{s:?}");
        }
    }

    #[test]
    fn unicode_data_is_recent() {
        // Unicode 16 (2024) added code points that older tables call Cn.
        assert!(UNICODE_VERSION >= (16, 0, 0), "{UNICODE_VERSION:?}");
        assert!(!is_escaped_char('\u{1cc00}'), "U+1CC00, assigned in Unicode 16");
    }
}
