//! Shared bits of the test helper programs, and the data the end-to-end tests
//! and the helpers must agree on.

pub mod uring;

/// File names chosen to break a tracer's output, each with the text the
/// columns output must show for it (the escaping of src/output.rs):
/// terminal escape sequences (SGR colour, an OSC 52 clipboard write, a C1
/// CSI, a bidi override), line breaks, tabs, bytes that are not UTF-8, shell
/// and JSON metacharacters, and a name of the 255-byte maximum.
pub fn hostile_names() -> Vec<(Vec<u8>, String)> {
    let long: Vec<u8> = std::iter::repeat_n(b'L', 255 - 4).chain(*b"-end").collect();
    vec![
        (b"sgr-\x1b[31mred\x1b[0m".to_vec(), "sgr-\\x1b[31mred\\x1b[0m".into()),
        (b"osc52-\x1b]52;c;SGVsbG8=\x07".to_vec(), "osc52-\\x1b]52;c;SGVsbG8=\\x07".into()),
        ("c1-\u{9b}2J".as_bytes().to_vec(), "c1-\\u{009b}2J".into()),
        ("bidi-\u{202e}txt.exe".as_bytes().to_vec(), "bidi-\\u{202e}txt.exe".into()),
        (b"line\nbreak".to_vec(), "line\\nbreak".into()),
        (b"carriage\rreturn".to_vec(), "carriage\\rreturn".into()),
        (b"tab\there".to_vec(), "tab\\there".into()),
        (b"del\x7fbell\x07".to_vec(), "del\\x7fbell\\x07".into()),
        (b"not-utf8-\xff\xfe\xc3(".to_vec(), "not-utf8-\\xff\\xfe\\xc3(".into()),
        (b"meta|\"quoted\"'single'\\back".to_vec(), "meta|\"quoted\"'single'\\\\back".into()),
        (long.clone(), String::from_utf8(long).unwrap()),
    ]
}

/// Bytes from hex (`1b5b`), for command-line arguments that carry raw bytes.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 == 1 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Hex of bytes, the inverse of [`unhex`].
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Strings that stress an escaper: every hostile name the end-to-end
/// tests use, and every byte and boundary character in context.
pub fn hostile_bytes() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = hostile_names().into_iter().map(|(b, _)| b).collect();
    v.extend((0..=255u8).map(|b| vec![b'a', b, b'z']));
    v.extend((0..=255u8).map(|b| vec![b]));
    for s in ["", "\"", "\\", "\u{7f}", "\u{80}", "\u{9f}", "\u{a0}", "\u{2028}\u{2029}", "\u{feff}", "\u{ffff}", "\u{10ffff}", "é😀"] {
        v.push(s.as_bytes().to_vec());
        v.push(format!("x{s}\u{1}{s}\"{s}").into_bytes());
    }
    v.push(b"\xed\xa0\x80 surrogate, \xc0\x80 overlong, \xf4\x90 past U+10FFFF, \xe2\x82 cut".to_vec());
    v
}

/// A small deterministic generator, so the comparisons cover more than
/// hand-picked cases and still fail the same way each time.
pub struct Rng(pub u64);
impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.next_u64() as usize % (max + 1);
        // Mostly ASCII, with controls, quotes, backslashes and high bytes.
        const PICK: &[u8] = b"aZ09_-./ \"\\\x00\x07\x1b\n\t\x7f\xc3\xa9\xe2\x80\xae\xff\xf0\x9f\x98\x80";
        (0..n).map(|_| PICK[self.next_u64() as usize % PICK.len()]).collect()
    }
}
