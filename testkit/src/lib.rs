//! The parts of fsnotify-gadget that exist only for its tests and fuzz
//! targets, kept out of the shipped library:
//!
//! - [`reference`]: the output writers as they were before they were made
//!   fast, the oracle the real writers must match byte for byte (the tests
//!   below, and fuzz/output_check.rs on every fuzz input). It reads each
//!   field from the record itself and names mask bits from its own tables,
//!   written from the man pages and the kernel's headers, so that the
//!   comparison checks the values as well as their formatting.
//! - [`seeds`]: builds the fuzz targets' seed corpus (fuzz/corpus/) from the
//!   real record types and real kernel buffers, and checks the checked-in
//!   seeds still parse.

pub mod reference;
pub mod seeds;

#[cfg(test)]
mod tests {
    use fsnotify_gadget::containers::{Container, K8s};
    use fsnotify_gadget::fields::{self, Field};
    use fsnotify_gadget::model::{EventType, FaResponse, Proc, Record};
    use fsnotify_gadget::output::{escape_terminal, time_of_day, Columns, Json};

    use crate::reference;

    fn sample() -> Record {
        let mut r = Record::new(EventType::Inotify, 1_700_000_000_123_456_789);
        r.tracer = Some(Proc { pid: 10, comm: b"inotifywatch".into(), ..Default::default() });
        r.tracee = Some(Proc { pid: 20, comm: b"touch".into(), ..Default::default() });
        r.i_mask = Some(0x0800_0020);
        r.name = b"ABCDE".to_vec();
        r
    }

    /// Records with every field set in turn to hostile values, each side
    /// present or not, and masks with known and unknown bits.
    fn varied_records() -> Vec<Record> {
        let mut out = Vec::new();
        let mut rng = fsg_test_helpers::Rng(42);
        let names = fsg_test_helpers::hostile_bytes();
        for (i, name) in names.iter().enumerate() {
            let mut r = sample();
            r.name = name.clone();
            let side = Proc {
                pid: i as u32,
                tid: u32::MAX,
                ppid: 1,
                comm: name[..name.len().min(16)].into(),
                pcomm: names[(i + 7) % names.len()][..].into(),
                uid: 1000,
                gid: 0,
                user: Some(String::from_utf8_lossy(name).into()),
                group: (i % 3 != 0).then(|| "wheel".into()),
                mntns_id: u64::MAX - i as u64,
                cgroup_id: u64::MAX / 3 + i as u64,
                cgroup: (i % 2 == 0).then(|| String::from_utf8_lossy(name).into()),
                container: (i % 3 != 1).then(|| {
                    let text = |n: &[u8]| Some(String::from_utf8_lossy(n).into_owned());
                    std::sync::Arc::new(Container {
                        id: format!("{i:064x}"),
                        name: text(name),
                        runtime: (i % 2 == 0).then_some("podman"),
                        image: text(&names[(i + 3) % names.len()]),
                        k8s: (i % 3 == 2).then(|| K8s { namespace: text(name), pod: text(b"pod-0"), container: None, pod_uid: text(name) }),
                    })
                }),
            };
            match i % 4 {
                0 => r.tracer = Some(side),
                1 => r.tracee = Some(side),
                2 => (r.tracer, r.tracee) = (None, None),
                _ => (r.tracer, r.tracee) = (Some(side.clone()), Some(side)),
            }
            out.push(r);
        }
        for i in 0..3000u64 {
            let x = rng.next_u64();
            let mut r = Record::new(
                [EventType::Inotify, EventType::Fanotify, EventType::FaResp][i as usize % 3],
                x.wrapping_mul(i),
            );
            r.tracer = (x & 1 == 0).then(|| Proc { comm: rng.bytes(16)[..].into(), pid: x as u32, ..Default::default() });
            r.tracee = (x & 2 == 0).then(|| Proc { pcomm: rng.bytes(16)[..].into(), user: Some("root".into()), ..Default::default() });
            let some = |bit: u64| x >> bit & 1 == 0;
            r.prio = some(3).then_some(x as u32 % 3);
            r.fsnotify_group = some(4).then_some(rng.next_u64() >> (x % 64));
            r.latency_ns = some(5).then_some(rng.next_u64());
            r.i_wd = some(6).then_some(rng.next_u64() as i32);
            r.i_mask = some(7).then_some(if some(20) { rng.next_u64() as u32 } else { 0 });
            r.i_cookie = some(8).then_some(rng.next_u64() as u32);
            r.i_ino = some(9).then_some(rng.next_u64());
            r.i_ino_dir = some(10).then_some(0);
            r.fa_type = some(11).then_some(rng.next_u64() as u32 % 12);
            r.fa_mask = some(12).then_some(if some(21) { rng.next_u64() >> (x % 64) } else { 0 });
            r.fa_pid = some(13).then_some(rng.next_u64() as u32);
            r.fa_flags = some(14).then_some(rng.next_u64() as u32);
            r.fa_f_flags = some(15).then_some(rng.next_u64() as u32);
            r.fa_response = [FaResponse::Na, FaResponse::Allow, FaResponse::Deny, FaResponse::Interrupted][x as usize >> 16 & 3];
            r.name = rng.bytes(300);
            r.name_truncated = some(17);
            out.push(r);
        }
        out
    }

    /// Field selections: all, the default columns, one side, a single field.
    fn selections() -> Vec<Vec<&'static Field>> {
        let mut v = vec![
            fields::all().collect(),
            fields::DEFAULT_COLUMNS.iter().filter_map(|n| fields::find(n)).collect(),
            fields::parse_list("name,tracee_comm,i_mask,tracer_user,tracee_pid,fa_mask,timestamp").unwrap(),
            fields::parse_list("tracee_group").unwrap(),
        ];
        v.extend(fields::all().map(|f| vec![f]));
        v
    }

    #[test]
    fn json_lines_match_the_serde_json_writer() {
        let records = varied_records();
        for sel in selections() {
            let (mut ours, mut theirs) = (Json::new(sel.clone()), reference::Json::new(sel.clone()));
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for r in &records {
                a.clear();
                b.clear();
                ours.write(r, &mut a).unwrap();
                theirs.write(r, &mut b).unwrap();
                assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b), "{sel:?} {r:?}");
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn columns_match_the_previous_writer() {
        let records = varied_records();
        for sel in selections() {
            let (mut ours, mut theirs) = (Columns::new(sel.clone()), reference::Columns::new(sel.clone()));
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for r in &records {
                ours.write(r, &mut a).unwrap();
                theirs.write(r, &mut b).unwrap();
            }
            assert_eq!(String::from_utf8_lossy(&a), String::from_utf8_lossy(&b), "{sel:?}");
        }
        for b in fsg_test_helpers::hostile_bytes() {
            let (mut ours, mut theirs) = (String::new(), String::new());
            escape_terminal(&b, &mut ours);
            reference::escape_terminal(&b, &mut theirs);
            assert_eq!(ours, theirs);
        }
        for ns in [0, 1, 999_999_999, 86_399_999_999_999, u64::MAX, 1_700_000_000_123_456_789] {
            assert_eq!(time_of_day(ns), reference::time_of_day(ns));
        }
    }
}
