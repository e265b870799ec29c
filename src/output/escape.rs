//! Untrusted bytes for a terminal: one line, no escape sequence (see the
//! output module's docs for the rules).

use std::io::Write;

/// Characters that change how text is displayed without being visible.
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{061c}')
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
                c if c.is_control() || is_format_char(c) => {
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

    #[test]
    fn terminal_escapes_control_and_invalid_bytes() {
        assert_eq!(escaped(b"a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(escaped(b"x\ny\tz\r"), "x\\ny\\tz\\r");
        assert_eq!(escaped(b"\xff\xfe"), "\\xff\\xfe");
        assert_eq!(escaped(b"back\\slash"), "back\\\\slash");
        assert_eq!(escaped("rtl\u{202e}txt".as_bytes()), "rtl\\u{202e}txt");
        assert_eq!(escaped("\u{9b}".as_bytes()), "\\u{009b}");
        assert_eq!(escaped("héllo | \"q\"".as_bytes()), "héllo | \"q\"");
    }
}
