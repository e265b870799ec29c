//! A reader that steers the group a tracer names for its reads (tests/common/forgery.rs),
//! against the tracepoint backend on this host; tests/vm_e2e.rs runs the same with every
//! backend on Debian's kernels.

use crate::common::{forgery::forged_group, forgery::reused_group_address, require_root};

#[test]
fn a_decoy_dup2ed_over_a_blocked_read_is_not_named() {
    let _alone = crate::alone(module_path!());
    require_root();
    forged_group("tracepoint", "dup2");
}

#[test]
fn a_registered_ring_index_naming_a_decoy_is_not_named() {
    let _alone = crate::alone(module_path!());
    require_root();
    forged_group("tracepoint", "uring");
}

#[test]
fn a_group_address_reused_gets_none_of_the_old_groups_paths() {
    let _alone = crate::alone(module_path!());
    require_root();
    reused_group_address("tracepoint");
}

/// An ia32 read (int $0x80, its fd in ebx) whose edi, where a native read's fd would be,
/// names a decoy group's fd (tests/host/ia32_forger.c): the record names the group read.
#[test]
fn an_ia32_read_whose_edi_names_a_decoy_is_not_named_for_it() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = crate::common::test_dir("forge-ia32");
    for d in ["watched", "decoy"] {
        std::fs::create_dir(dir.join(d)).unwrap();
    }
    let bin = dir.join("forger.ia32");
    crate::build_ia32(include_str!("ia32_forger.c"), &bin);
    let g = crate::common::Gadget::start(&["--backend", "tracepoint", "--inotify-only"]);
    let mut c = Command::new(&bin).current_dir(&dir).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(c.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let fds: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fds.get(2), Some(&"ready"), "{line:?}");
    let listed = Command::new(crate::common::gadget_bin()).args(["list", "-o", "json", "--pid", &c.id().to_string()]).output().unwrap();
    let group_of = |fd: &str| -> String {
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["row"] == "instance" && v["fd"].to_string() == fd)
            .and_then(|v| v["fsnotify_group"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("list shows no group for fd {fd}: {listed:?}"))
    };
    let (real, decoy) = (group_of(fds[0]), group_of(fds[1]));
    let mut stdin = c.stdin.take().unwrap();
    stdin.write_all(b"g").unwrap();
    std::fs::write(dir.join("watched/shadow"), b"").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.trim().parse::<i64>().is_ok_and(|n| n > 0), "the read: {line:?}");
    std::thread::sleep(std::time::Duration::from_millis(800));
    let (records, _) = g.stop();
    drop(stdin);
    assert!(c.wait().unwrap().success());
    let mine: Vec<_> = records.iter().filter(|r| crate::common::s(r, "tracer.pid") == c.id() && r["name"] == "shadow").collect();
    assert_eq!(mine.len(), 1, "{records:#?}");
    assert_ne!(mine[0]["fsnotify_group"], decoy.as_str(), "{}", mine[0]);
    assert_eq!(mine[0]["fsnotify_group"], real.as_str(), "{}", mine[0]);
    assert_eq!(mine[0]["path"], dir.join("watched/shadow").to_str().unwrap(), "{}", mine[0]);
}
