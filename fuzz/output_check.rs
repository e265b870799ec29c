//! What every decoded record must satisfy once formatted: the columns row is
//! one line of printable text (no control byte, so no terminal escape, and no
//! hidden char: see [`hidden`]), and
//! the JSON line parses and gives back the name's exact bytes. Both are
//! byte for byte what the previous, serde_json-and-core::fmt writers
//! (`fsg_testkit::reference`) print for the same record.

use fsg_testkit::reference;
use fsnotify_gadget::fields;
use fsnotify_gadget::model::Record;
use fsnotify_gadget::output::{Columns, Json};
use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};

/// What the columns output never shows raw, by General_Category (asked of the
/// Unicode data here, not of the library): Cc, Cf, Zl, Zp, Co, Cn (and Cs,
/// which no char has).
pub fn hidden(c: char) -> bool {
    matches!(
        c.general_category(),
        G::Control | G::Format | G::LineSeparator | G::ParagraphSeparator | G::PrivateUse | G::Unassigned | G::Surrogate
    )
}

pub fn check(r: &Record) {
    let mut cols = Vec::new();
    Columns::new(fields::all().collect()).write(r, &mut cols).unwrap();
    // The header line, then the record's one row.
    assert_eq!(cols.iter().filter(|&&b| b == b'\n').count(), 2, "{:?}", String::from_utf8_lossy(&cols));
    assert_eq!(cols.last(), Some(&b'\n'));
    let bad = cols.iter().any(|&b| (b < 0x20 && b != b'\n') || b == 0x7f);
    assert!(!bad, "a control byte in the output: {:?}", String::from_utf8_lossy(&cols));
    let mut expected = Vec::new();
    reference::Columns::new(fields::all().collect()).write(r, &mut expected).unwrap();
    assert_eq!(String::from_utf8_lossy(&cols), String::from_utf8_lossy(&expected));
    assert_eq!(cols, expected);
    let text = std::str::from_utf8(&cols).expect("columns are UTF-8");
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "a C1 control in {text:?}");
    assert!(!text.chars().any(|c| hidden(c) && c != '\n'), "a hidden char in {text:?}");

    let mut json = Vec::new();
    Json::new(fields::all().collect()).write(r, &mut json).unwrap();
    assert_eq!(json.iter().filter(|&&b| b == b'\n').count(), 1);
    let mut expected = Vec::new();
    reference::Json::new(fields::all().collect()).write(r, &mut expected).unwrap();
    assert_eq!(String::from_utf8_lossy(&json), String::from_utf8_lossy(&expected));
    assert_eq!(json, expected);
    let v: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
    let name = match v.get("name_hex").and_then(|h| h.as_str()) {
        Some(hex) => (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect(),
        None => v["name"].as_str().expect("name").as_bytes().to_vec(),
    };
    assert_eq!(name, r.name);
}
