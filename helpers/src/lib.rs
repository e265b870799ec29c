//! Shared bits of the test helper programs, and the data the end-to-end tests
//! and the helpers must agree on.

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
