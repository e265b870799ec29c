//! An unprivileged reader that steers what a tracer of its reads names as their group
//! (helpers/src/bin/fsg-forger.rs): it makes a real group watching one directory and a decoy
//! watching another, then reads the real group's event while the syscall's registers or its
//! fd table name the decoy. Root creates `shadow` in the watched directory. Whatever the
//! backend, the record of that read says the real group and the watched path, or that the
//! group is unknown with no path: never the decoy's group or a path under the decoy.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use super::*;

/// The watched directory and the decoy, new.
fn dirs(mode: &str) -> (PathBuf, PathBuf) {
    let dir = test_dir(&format!("forge-{mode}"));
    let (watched, decoy) = (dir.join("watched"), dir.join("decoy"));
    for d in [&watched, &decoy] {
        std::fs::create_dir(d).unwrap();
    }
    (watched, decoy)
}

/// fsg-forger in `mode`, with its stdout's lines.
fn forger(mode: &str, watched: &Path, decoy: &Path) -> (std::process::Child, std::io::Lines<BufReader<std::process::ChildStdout>>) {
    let mut forger = Command::new(helper("fsg-forger"))
        .args([mode, watched.to_str().unwrap(), decoy.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("fsg-forger");
    let lines = BufReader::new(forger.stdout.take().unwrap()).lines();
    (forger, lines)
}

/// `mode`: `dup2` (the decoy dup2()ed over the fd a blocked read is on) or `uring` (an inline
/// io_uring read submitted through a registered-ring index that is the decoy's fd number).
pub fn forged_group(backend: &str, mode: &str) {
    let (watched, decoy) = dirs(mode);
    let g = Gadget::start(&["--backend", backend, "--inotify-only"]);
    let (mut forger, mut lines) = forger(mode, &watched, &decoy);
    let pid = forger.id();
    let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
    let fds: Vec<u32> = next().strip_prefix("fds ").expect("fsg-forger's fds").split(' ').map(|n| n.parse().unwrap()).collect();
    let listed = Command::new(gadget_bin()).args(["list", "-o", "json", "--pid", &pid.to_string()]).output().unwrap();
    let group_of = |fd: u32| -> String {
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["row"] == "instance" && v["fd"] == fd)
            .and_then(|v| v["fsnotify_group"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("list shows no group for fd {fd}: {listed:?}"))
    };
    let (real, fake) = (group_of(fds[0]), group_of(fds[1]));
    writeln!(forger.stdin.as_mut().unwrap(), "go").unwrap();
    assert_eq!(next(), "armed");
    std::fs::write(watched.join("shadow"), b"").unwrap();
    let read = next();
    assert!(read.starts_with("read ") && read.ends_with(" shadow"), "fsg-forger: {read:?}");
    std::thread::sleep(std::time::Duration::from_millis(800));
    // The forger keeps its groups until the trace is over, so paths can be looked up.
    let (records, stderr) = g.stop();
    drop(forger.stdin.take());
    let status = forger.wait().unwrap();
    assert!(status.success(), "fsg-forger: {status}");

    let mine: Vec<&Value> = records.iter().filter(|r| s(r, "tracer.pid") == pid && r["name"] == "shadow").collect();
    assert!(!mine.is_empty(), "the read of shadow was not printed: {records:#?} {stderr:?}");
    let real_path = watched.join("shadow");
    for r in &mine {
        assert_ne!(r["fsnotify_group"], fake.as_str(), "the decoy's group: {r}");
        let path = r["path"].as_str().unwrap_or("");
        assert!(!path.starts_with(decoy.to_str().unwrap()), "a path under the decoy: {r}");
        if backend == "tracepoint" {
            // The registers and the fd table name the decoy, which no queue confirms.
            assert!(r["fsnotify_group"].is_null() && r["path"].is_null() && r["group_unknown"] == true, "{r}");
            if mode == "uring" {
                assert_eq!(s(r, "tracer.tid"), pid, "the read ran inline, in the reader's io_uring_enter: {r}");
            }
        } else {
            // fentry and kprobe take the group from the queue the event left. After the
            // dup2 no fd holds that group, so its watches cannot be looked up: no path.
            let want = if mode == "dup2" { None } else { real_path.to_str() };
            assert_eq!((r["fsnotify_group"].as_str(), r["path"].as_str()), (Some(real.as_str()), want), "{r}");
            assert_eq!(r["group_unknown"], false, "{r}");
        }
    }
    // The exit line counts what it could not tell.
    let exit = stderr.iter().rev().find(|l| l.contains(" records")).expect("an exit line");
    assert_eq!(exit.contains("read from a queue the backend could not tell"), backend == "tracepoint", "{exit}");
}

/// A reader whose group the tracer has cached the watches of (one watching the decoy) closes
/// it and opens another watching the watched directory until the new one has the old one's
/// address, then reads root's `shadow` from it: the record has the watched path or none,
/// never the decoy's that was cached for that address.
pub fn reused_group_address(backend: &str) {
    let (watched, decoy) = dirs("reuse");
    let g = Gadget::start(&["--backend", backend, "--inotify-only"]);
    let (mut forger, mut lines) = forger("reuse", &watched, &decoy);
    let pid = forger.id();
    let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
    let groups_now = || -> Vec<(String, String)> {
        let listed = Command::new(gadget_bin()).args(["list", "-o", "json", "--pid", &pid.to_string()]).output().unwrap();
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["row"] == "instance")
            .filter_map(|v| Some((v["fd"].to_string(), v["fsnotify_group"].as_str()?.to_string())))
            .collect()
    };
    let old_fd = next().strip_prefix("old ").expect("fsg-forger's old fd").to_string();
    let old = groups_now().into_iter().find(|(fd, _)| *fd == old_fd).expect("list shows the old group").1;
    let mut say = |line: &str| writeln!(forger.stdin.as_mut().unwrap(), "{line}").unwrap();
    say("read");
    std::fs::write(decoy.join("warm"), b"").unwrap();
    assert!(next().ends_with(" warm"));
    // The tool takes the record (and looks its path up) before the group goes.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut reused = None;
    for _ in 0..8 {
        say("spray");
        assert!(next().starts_with("new "));
        reused = groups_now().into_iter().find(|(_, g)| *g == old).map(|(fd, _)| fd);
        if reused.is_some() {
            break;
        }
    }
    let fd = reused.unwrap_or_else(|| panic!("the kernel gave none of 800 new groups the old one's address {old}"));
    say(&format!("go {fd}"));
    std::fs::write(watched.join("shadow"), b"").unwrap();
    assert!(next().ends_with(" shadow"));
    std::thread::sleep(std::time::Duration::from_millis(800));
    let (records, _) = g.stop();
    drop(forger.stdin.take());
    let _ = forger.wait();

    let by_name = |name: &str| -> Vec<&Value> { records.iter().filter(|r| s(r, "tracer.pid") == pid && r["name"] == name).collect() };
    let warm = by_name("warm");
    let decoy_warm = decoy.join("warm");
    assert!(warm.iter().any(|r| r["path"] == decoy_warm.to_str().unwrap()), "the decoy's watch was not looked up: {warm:#?}");
    let shadow = by_name("shadow");
    assert!(!shadow.is_empty(), "{records:#?}");
    let real = watched.join("shadow");
    for r in shadow {
        assert_eq!(r["fsnotify_group"], old.as_str(), "the new group has the old address: {r}");
        assert!(r["path"].is_null() || r["path"] == real.to_str().unwrap(), "a path cached for the old group: {r}");
    }
}
