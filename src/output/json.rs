//! The JSON-lines printer, and the JSON rule for untrusted bytes that every
//! JSON writer of the tool follows (`list` too): the string is the bytes when
//! they are UTF-8, else U+FFFD for each bad sequence, with the exact bytes as
//! lowercase hex under the key with `_hex` appended (README, Guarantees).

use std::borrow::Cow;
use std::io::{self, Write};

use super::push_int;
use super::time::{TimeText, TimestampFormat};
use crate::fields::{Field, Value};
use crate::masks::push_hex;
use crate::model::{Proc, Record};

/// The key that holds the exact bytes of `key`'s value when they are not UTF-8.
pub fn hex_key(key: &str) -> String {
    format!("{key}_hex")
}

/// Appends bytes as lowercase hex, two digits per byte.
fn push_hex_bytes(b: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &byte in b {
        out.extend_from_slice(&[HEX[(byte >> 4) as usize], HEX[(byte & 0xf) as usize]]);
    }
}

/// Untrusted bytes under the rule above: the string, and the hex of the
/// exact bytes when they are not UTF-8 (for [`hex_key`]).
pub fn untrusted(b: &[u8]) -> (Cow<'_, str>, Option<String>) {
    match std::str::from_utf8(b) {
        Ok(s) => (Cow::Borrowed(s), None),
        Err(_) => {
            let mut hex = Vec::with_capacity(b.len() * 2);
            push_hex_bytes(b, &mut hex);
            (String::from_utf8_lossy(b), Some(String::from_utf8(hex).expect("hex digits are ASCII")))
        }
    }
}

/// How serde_json escapes each byte of a string: 0 not at all, `u` as
/// `\u00XX`, else a backslash and this byte. Only ASCII bytes are escaped, so
/// working on the bytes of a `str` never splits a character.
const JSON_ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Whether JSON can take `b` as it is: ASCII with no control character,
/// quote or backslash. Most comms, names and paths are; those skip both the
/// UTF-8 check and the escaping loop. Eight bytes at a time.
fn json_plain(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The high bit of a byte of each term is set somewhere if, and only if,
    // some byte is below 0x20 (resp. is 0 after the xor): the usual
    // has-less/has-zero tests. `w` itself carries the bytes >= 0x80.
    let care = |w: u64| {
        let below_space = w.wrapping_sub(ONES * 0x20) & !w;
        let q = w ^ (ONES * b'"' as u64);
        let quote = q.wrapping_sub(ONES) & !q;
        let s = w ^ (ONES * b'\\' as u64);
        let backslash = s.wrapping_sub(ONES) & !s;
        (below_space | quote | backslash | w) & HIGH != 0
    };
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        if care(u64::from_le_bytes(w.try_into().expect("8 bytes"))) {
            return false;
        }
    }
    words.remainder().iter().all(|&c| JSON_ESCAPE[c as usize] == 0 && c < 0x80)
}

/// Appends untrusted bytes as a JSON string: as [`json_str`] when they are
/// UTF-8, else U+FFFD for each bad sequence and, after `hex_key`, the exact
/// bytes in hex (README, Guarantees).
fn json_bytes(b: &[u8], hex_key: &[u8], out: &mut Vec<u8>) {
    if json_plain(b) {
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    }
    match std::str::from_utf8(b) {
        Ok(s) => json_str(s, out),
        Err(_) => {
            json_str(&String::from_utf8_lossy(b), out);
            out.extend_from_slice(hex_key);
            out.push(b'"');
            push_hex_bytes(b, out);
            out.push(b'"');
        }
    }
}

/// Appends `s` as a JSON string, quoted and escaped exactly as
/// `serde_json::to_writer(out, s)` does (the tests compare the two).
fn json_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    if json_plain(bytes) {
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = JSON_ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if esc == b'u' {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// `"key":` as serde_json writes the key, with a comma first unless `first`.
fn json_key(key: &str, first: bool) -> Box<[u8]> {
    let mut k = Vec::new();
    if !first {
        k.push(b',');
    }
    let _ = serde_json::to_writer(&mut k, key);
    k.push(b':');
    k.into_boxed_slice()
}

/// Bytes known in advance and written into every line (a key, a key and
/// `null`), kept so that appending them is one fixed-size copy: up to
/// [`Prepared::PAD`] bytes are copied whole, padding included, and the line
/// cut back to their length, with no call to `memcpy` (a call per key was
/// a tenth of a JSON record's time). Longer ones are copied as they are.
struct Prepared {
    padded: [u8; Prepared::PAD],
    bytes: Box<[u8]>,
}

impl Prepared {
    const PAD: usize = 32;

    fn new(bytes: Box<[u8]>) -> Prepared {
        let mut padded = [0; Prepared::PAD];
        let n = bytes.len().min(Prepared::PAD);
        padded[..n].copy_from_slice(&bytes[..n]);
        Prepared { padded, bytes }
    }

    #[inline]
    fn push(&self, out: &mut Vec<u8>) {
        if self.bytes.len() <= Prepared::PAD {
            let end = out.len() + self.bytes.len();
            out.extend_from_slice(&self.padded);
            out.truncate(end);
        } else {
            out.extend_from_slice(&self.bytes);
        }
    }
}

/// A field and the key bytes written before its value, prepared once.
struct JsonField {
    field: &'static Field,
    /// `,"key":` (no comma for an object's first member).
    key: Prepared,
    /// `,"key_hex":`, for bytes that are not UTF-8.
    hex_key: Box<[u8]>,
    /// `,"key":null`: a third of a record's fields are null (the other
    /// notification API's), and one copy beats two.
    key_null: Prepared,
}

impl JsonField {
    fn new(field: &'static Field, key: &str, first: bool) -> JsonField {
        let key_bytes = json_key(key, first);
        let key_null = Prepared::new([&key_bytes[..], b"null"].concat().into_boxed_slice());
        JsonField { field, key: Prepared::new(key_bytes), hex_key: json_key(&hex_key(key), false), key_null }
    }

    fn write(&self, r: &Record, utc: &mut TimeText, out: &mut Vec<u8>) {
        let value = (self.field.get)(r);
        let null = matches!(value, Value::Null | Value::Unknown);
        (if null { &self.key_null } else { &self.key }).push(out);
        match value {
            Value::Null | Value::Unknown => {}
            Value::U64(n) | Value::Time(n) | Value::Latency(n) => push_int(n, out),
            Value::Rfc3339(ns) => {
                // Digits, `-`, `:`, `.`, `T` and `Z`: nothing to escape.
                out.push(b'"');
                utc.push(ns, TimestampFormat::Rfc3339, out);
                out.push(b'"');
            }
            Value::NotApplicable(s) => json_str(s, out),
            Value::I64(n) => push_int(n, out),
            Value::Hex(n) => {
                out.push(b'"');
                push_hex(n, out);
                out.push(b'"');
            }
            Value::Decoded(d) => {
                // ASCII names, digits and `|`: nothing to escape (masks tests).
                out.push(b'"');
                d.write(out);
                out.push(b'"');
            }
            Value::Static(s) if s == "true" || s == "false" => out.extend_from_slice(s.as_bytes()),
            Value::Static(s) => json_str(s, out),
            Value::Bytes(b) => json_bytes(b, &self.hex_key, out),
        }
    }
}

/// A JSON object member: a plain field, or a nested object of fields.
enum Member {
    Field(JsonField),
    /// `tracer` or `tracee`: `null` when the record has no such side.
    Object { key: Box<[u8]>, tracer: bool, fields: Vec<SideMember>, cache: SideCache },
}

/// Recent renderings of one side's object, `{…}`, by process state.
///
/// A side's fields depend on its [`Proc`] alone, and the records of a burst
/// come from a few processes: one tracer, the tracees writing to its files.
/// Their objects are more than half of each line, so a record whose side is
/// [`Proc::identical`] to one rendered lately copies those bytes instead of
/// formatting twenty fields again. Set-associative and bounded: a set per
/// hash of pid, tid, uid and mount namespace, [`SideCache::WAYS`] renderings
/// in each, the oldest replaced.
struct SideCache {
    ways: Vec<Option<(Proc, Vec<u8>)>>,
    /// Per set, the way the next miss replaces.
    next: Vec<u8>,
}

impl SideCache {
    const SETS: usize = 64;
    const WAYS: usize = 8;

    fn new() -> SideCache {
        SideCache { ways: (0..SideCache::SETS * SideCache::WAYS).map(|_| None).collect(), next: vec![0; SideCache::SETS] }
    }

    /// Appends `p`'s object, from a rendering of an identical process when
    /// the set has one, else rendered by `render` and kept.
    fn write(&mut self, p: &Proc, line: &mut Vec<u8>, render: impl FnOnce(&mut Vec<u8>)) {
        // murmur3's 64-bit finalizer: every input bit reaches the set index.
        let mut h = u64::from(p.pid) ^ u64::from(p.tid) << 21 ^ u64::from(p.uid) << 42 ^ p.mntns_id;
        h = (h ^ h >> 33).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h = (h ^ h >> 33).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        let set = (h ^ h >> 33) as usize % SideCache::SETS;
        let ways = &mut self.ways[set * SideCache::WAYS..][..SideCache::WAYS];
        if let Some((_, bytes)) = ways.iter().flatten().find(|(seen, _)| seen.identical(p)) {
            line.extend_from_slice(bytes);
            return;
        }
        let start = line.len();
        render(line);
        let next = &mut self.next[set];
        match &mut ways[*next as usize] {
            Some((seen, bytes)) => {
                seen.clone_from(p);
                bytes.clear();
                bytes.extend_from_slice(&line[start..]);
            }
            way => *way = Some((p.clone(), line[start..].to_vec())),
        }
        *next = ((*next as usize + 1) % SideCache::WAYS) as u8;
    }
}

/// A member of a side's object: a field, or `container`/`k8s`, `null` for a
/// process outside any.
enum SideMember {
    Field(JsonField),
    Object { key: Box<[u8]>, present: fn(&Proc) -> bool, fields: Vec<JsonField> },
}

/// Whether a side's nested object `name` has anything to show.
fn presence(name: &str) -> fn(&Proc) -> bool {
    match name {
        "container" => |p| p.container.is_some(),
        "k8s" => |p| p.container.as_ref().is_some_and(|c| c.k8s.is_some()),
        _ => |_| true,
    }
}

/// Groups dotted names by their first word, each group where its first name
/// was: `(None, [f])` for an undotted name, `(Some(word), fields)` for the rest;
/// `skip` bytes of each name are already a parent's.
fn group_by_prefix(fields: &[&'static Field], skip: usize) -> Vec<(Option<&'static str>, Vec<&'static Field>)> {
    let mut groups: Vec<(Option<&'static str>, Vec<&'static Field>)> = Vec::new();
    for &f in fields {
        match f.name[skip..].split_once('.') {
            None => groups.push((None, vec![f])),
            Some((prefix, _)) => match groups.iter_mut().find(|(p, _)| *p == Some(prefix)) {
                Some((_, v)) => v.push(f),
                None => groups.push((Some(prefix), vec![f])),
            },
        }
    }
    groups
}

/// Writes records as JSON lines; dotted field names become nested objects.
///
/// Each line is built in one reused buffer: keys are prepared once, numbers
/// go through `itoa`, strings through an escaper that matches serde_json's
/// byte for byte (testkit/ and the fuzz targets check it against the old writer).
pub struct Json {
    layout: Vec<Member>,
    /// For `timestamp_rfc3339`.
    utc: TimeText,
    line: Vec<u8>,
}

impl Json {
    pub fn new(fields: Vec<&'static Field>) -> Json {
        // A nested object where its first field was; sides nest once more.
        let layout = group_by_prefix(&fields, 0)
            .into_iter()
            .enumerate()
            .map(|(i, (prefix, fs))| match prefix {
                None => Member::Field(JsonField::new(fs[0], fs[0].name, i == 0)),
                Some(prefix) => {
                    let skip = prefix.len() + 1;
                    let inner = group_by_prefix(&fs, skip)
                        .into_iter()
                        .enumerate()
                        .map(|(j, (sub, gs))| match sub {
                            None => SideMember::Field(JsonField::new(gs[0], &gs[0].name[skip..], j == 0)),
                            Some(sub) => SideMember::Object {
                                key: json_key(sub, j == 0),
                                present: presence(sub),
                                fields: gs.iter().enumerate().map(|(k, f)| JsonField::new(f, &f.name[skip + sub.len() + 1..], k == 0)).collect(),
                            },
                        })
                        .collect();
                    Member::Object { key: json_key(prefix, i == 0), tracer: prefix == "tracer", fields: inner, cache: SideCache::new() }
                }
            })
            .collect();
        Json { layout, utc: TimeText::utc(), line: Vec::with_capacity(1024) }
    }

    /// Writes `r` as one line.
    pub fn write(&mut self, r: &Record, out: &mut impl Write) -> io::Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        self.append(r, &mut line);
        let result = out.write_all(&line);
        self.line = line;
        result
    }

    /// Appends `r`'s line to `line`: straight into an output buffer, with
    /// no copy through a line of its own.
    pub fn append(&mut self, r: &Record, line: &mut Vec<u8>) {
        let Json { layout, utc, .. } = self;
        line.push(b'{');
        for m in layout.iter_mut() {
            match m {
                Member::Field(f) => f.write(r, utc, line),
                Member::Object { key, tracer, fields, cache } => {
                    line.extend_from_slice(key);
                    let side = if *tracer { &r.tracer } else { &r.tracee };
                    let Some(p) = side else {
                        line.extend_from_slice(b"null");
                        continue;
                    };
                    cache.write(p, line, |line| write_side(fields, r, p, utc, line));
                }
            }
        }
        line.extend_from_slice(b"}\n");
    }
}

/// Appends the object of side `p` of `r`: `{…}`.
fn write_side(fields: &[SideMember], r: &Record, p: &Proc, utc: &mut TimeText, line: &mut Vec<u8>) {
    line.push(b'{');
    for m in fields {
        match m {
            SideMember::Field(f) => f.write(r, utc, line),
            SideMember::Object { key, present, fields } => {
                line.extend_from_slice(key);
                if !present(p) {
                    line.extend_from_slice(b"null");
                    continue;
                }
                line.push(b'{');
                for f in fields {
                    f.write(r, utc, line);
                }
                line.push(b'}');
            }
        }
    }
    line.push(b'}');
}

/// Indents one JSON line as written here (no space outside strings; no
/// empty object) two spaces a level, a member a line, as serde_json's pretty
/// printer lays it out; the text of strings is copied as it is.
pub fn indent(line: &[u8], out: &mut Vec<u8>) {
    let mut depth = 0usize;
    let (mut in_str, mut escaped) = (false, false);
    let newline = |depth: usize, out: &mut Vec<u8>| {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    };
    for &b in line {
        if in_str {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_str = true;
                out.push(b);
            }
            b'{' => {
                out.push(b);
                depth += 1;
                newline(depth, out);
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                newline(depth, out);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(depth, out);
            }
            b':' => out.extend_from_slice(b": "),
            b'\n' => {}
            _ => out.push(b),
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields;
    use super::super::sample;


    #[test]
    fn json_nests_sides_and_decodes_masks() {
        let fields = fields::parse_list("tracer_comm,tracee_comm,i_mask,i_mask_raw,name,i_wd").unwrap();
        let mut out = Vec::new();
        Json::new(fields).write(&sample(), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["tracer"]["comm"], "inotifywatch");
        assert_eq!(v["tracee"]["comm"], "touch");
        assert_eq!(v["i_mask"], "IN_OPEN|FS_EVENT_ON_CHILD");
        assert_eq!(v["i_mask_raw"], 0x0800_0020);
        assert_eq!(v["name"], "ABCDE");
        assert!(v["i_wd"].is_null());
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    }

    #[test]
    fn prepared_bytes_append_exactly_themselves() {
        for len in [0, 1, 31, 32, 33, 80] {
            let bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let p = Prepared::new(bytes.clone().into_boxed_slice());
            let mut out = b"{".to_vec();
            p.push(&mut out);
            p.push(&mut out);
            assert_eq!(out, [&b"{"[..], &bytes, &bytes].concat(), "{len}");
        }
    }

    #[test]
    fn sides_from_the_cache_are_the_sides_rendered_afresh() {
        use crate::containers::Container;
        use std::sync::Arc;
        let web = |name: &str| Arc::new(Container { id: "c1".into(), name: Some(name.into()), runtime: Some("podman"), image: None, k8s: None });
        let (a, b) = (web("web"), web("db"));
        let root: Arc<str> = Arc::from("root");
        let base = Proc { pid: 7, tid: 7, comm: b"vim".into(), user: Some(root.clone()), container: Some(a.clone()), ..Default::default() };
        // The same process again, then each way a process with that pid can change.
        let mut sides = vec![
            base.clone(),
            base.clone(),
            Proc { comm: b"sh".into(), ..base.clone() },
            Proc { container: Some(b.clone()), ..base.clone() },
            Proc { container: Some(web("web")), ..base.clone() },
            Proc { container: None, ..base.clone() },
            Proc { user: Some(Arc::from("toor")), ..base.clone() },
            Proc { uid: 1000, user: None, ..base.clone() },
            Proc { mntns_id: 1, ..base.clone() },
            base.clone(),
        ];
        // More processes than the cache holds, twice over: every set overflows.
        for round in 0..2 {
            for pid in 0..2000 {
                sides.push(Proc { pid, tid: pid + round, comm: format!("p{pid}").as_bytes().into(), user: Some(root.clone()), ..Default::default() });
            }
        }
        let fields: Vec<_> = fields::json_default().collect();
        let mut cached = Json::new(fields.clone());
        let (mut line, mut fresh) = (Vec::new(), Vec::new());
        for (i, p) in sides.iter().enumerate() {
            let mut r = sample();
            r.tracee = Some(p.clone());
            r.tracer = Some(sides[(i * 7) % sides.len()].clone());
            line.clear();
            fresh.clear();
            cached.write(&r, &mut line).unwrap();
            Json::new(fields.clone()).write(&r, &mut fresh).unwrap();
            assert_eq!(String::from_utf8_lossy(&line), String::from_utf8_lossy(&fresh), "{i}: {p:?}");
        }
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["tracee"]["comm"], "p1999");
    }

    #[test]
    fn pretty_json_is_serde_jsons_layout_of_the_same_object() {
        let mut r = sample();
        r.name = b"a \"quoted\", {braced}: name\\".to_vec();
        let mut line = Vec::new();
        Json::new(fields::json_default().collect()).write(&r, &mut line).unwrap();
        let mut pretty = Vec::new();
        indent(&line, &mut pretty);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&pretty).unwrap(), v);
        // The same text as serde_json's pretty printer, keys in our order
        // (checked on the flat members, whose order a Value keeps sorted).
        let text = String::from_utf8(pretty).unwrap();
        assert!(text.starts_with("{\n  \"timestamp\": 1700000000123456789,\n  \"timestamp_rfc3339\": \"2023-11-14T22:13:20.123456789Z\",\n"), "{text}");
        assert!(text.contains("\n  \"tracer\": {\n    \"pid\": 10,\n"), "{text}");
        assert!(text.contains("\n  \"name\": \"a \\\"quoted\\\", {braced}: name\\\\\",\n"), "{text}");
        assert!(text.ends_with("\n}\n"));
        assert_eq!(v["fa_response"], "na");
        assert!(v["latency_ns"].is_null());
    }

    #[test]
    fn an_unknown_name_is_null_with_its_reason() {
        let mut r = sample();
        r.name.clear();
        r.name_unknown = Some("file handle did not open");
        let mut out = Vec::new();
        Json::new(fields::parse_list("name,name_unknown").unwrap()).write(&r, &mut out).unwrap();
        assert_eq!(out, b"{\"name\":null,\"name_unknown\":\"file handle did not open\"}\n");
        out.clear();
        Json::new(fields::parse_list("name,name_unknown").unwrap()).write(&sample(), &mut out).unwrap();
        assert_eq!(out, b"{\"name\":\"ABCDE\",\"name_unknown\":null}\n");
        out.clear();
        let mut c = super::super::columns::Columns::new(fields::parse_list("i_mask,name").unwrap());
        c.write(&r, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().lines().nth(1).unwrap().ends_with(" (unknown)"));
    }

    #[test]
    fn json_round_trips_hostile_names() {
        let mut r = sample();
        r.name = b"evil\n\x1b]52;c;AAAA\x07\"\\\xff".to_vec();
        let mut out = Vec::new();
        Json::new(fields::all().collect()).write(&r, &mut out).unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let hex = v["name_hex"].as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        assert_eq!(bytes, r.name);

        r.name = b"valid \"utf8\"\n".to_vec();
        out.clear();
        Json::new(fields::all().collect()).write(&r, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["name"], "valid \"utf8\"\n");
        assert!(v.get("name_hex").is_none());
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_does() {
        let check = |s: &str| {
            let mut ours = Vec::new();
            json_str(s, &mut ours);
            assert_eq!(ours, serde_json::to_vec(s).unwrap(), "{s:?}");
        };
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            check(&format!("{c}"));
            check(&format!("ab{c}\u{1f}{c}"));
        }
        for b in fsg_test_helpers::hostile_bytes() {
            check(&String::from_utf8_lossy(&b));
        }
        let mut rng = fsg_test_helpers::Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            check(&String::from_utf8_lossy(&rng.bytes(40)));
        }
    }

    #[test]
    fn plain_json_bytes_are_found_exactly() {
        let plain = |b: &[u8]| b.iter().all(|&c| (0x20..0x80).contains(&c) && c != b'"' && c != b'\\');
        // Every byte value at every position of strings across word boundaries.
        for len in 1..=19 {
            for pos in 0..len {
                for c in 0..=255u8 {
                    let mut b = vec![b'm'; len];
                    b[pos] = c;
                    assert_eq!(json_plain(&b), plain(&b), "{b:?}");
                    b[len - 1 - pos] = b' ';
                    assert_eq!(json_plain(&b), plain(&b), "{b:?}");
                }
            }
        }
        let mut rng = fsg_test_helpers::Rng(7);
        for _ in 0..100_000 {
            let b = rng.bytes(24);
            assert_eq!(json_plain(&b), plain(&b), "{b:?}");
        }
    }

    #[test]
    fn untrusted_bytes_follow_the_hex_rule() {
        assert_eq!(untrusted(b"plain"), (Cow::Borrowed("plain"), None));
        assert_eq!(untrusted(b"a\xffb"), (Cow::Owned("a\u{fffd}b".to_string()), Some("61ff62".to_string())));
        assert_eq!(hex_key("comm"), "comm_hex");
    }
}
