//! Where the records go: a standard output that cannot take them is an error at start, and a
//! record is counted as written only once write(2) took its every byte.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{gadget_bin, require_root, run, test_dir, Client};

/// The tool, run by sh with the redirection `redirect` of its standard output: its status
/// and stderr.
fn with_stdout(redirect: &str) -> (std::process::ExitStatus, String) {
    let bin = gadget_bin();
    let out = Command::new("sh").arg("-c").arg(format!("exec {} --timeout 2 {redirect}", bin.display())).output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_closed_or_read_only_stdout_is_an_error_at_start() {
    let _alone = crate::alone(module_path!());
    require_root();
    let (status, stderr) = with_stdout(">&-");
    assert!(!status.success(), "{stderr}");
    assert_eq!(stderr.trim(), "fsnotify-gadget: error: standard output was closed: give the records a file, a pipe or the terminal (to discard them, >/dev/null)");
    let file = test_dir("stdout-ro").join("file");
    std::fs::write(&file, b"x").unwrap();
    let (status, stderr) = with_stdout(&format!("1<{}", file.display()));
    assert!(!status.success(), "{stderr}");
    assert_eq!(stderr.trim(), "fsnotify-gadget: error: standard output is open for reading only: give the records a file, a pipe or the terminal");
    // Discarding them on purpose is fine (whatever the machine did meanwhile).
    let (status, stderr) = with_stdout(">/dev/null");
    assert!(status.success() && stderr.lines().last().is_some_and(|l| l.contains(" records, none lost")), "{stderr}");
}

/// A small tmpfs that fills while records arrive one at a time: each is shorter than std's
/// line buffer, which used to take the part of one that write(2) refused and count it.
/// The exit line's count is exactly the whole lines in the file.
#[test]
fn on_a_full_disk_only_whole_records_count_as_written() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("stdout-full");
    let (mnt, watched) = (dir.join("mnt"), dir.join("watched"));
    std::fs::create_dir(&mnt).unwrap();
    std::fs::create_dir(&watched).unwrap();
    run("mount", &["-t", "tmpfs", "-o", "size=8k", "fsg-full", mnt.to_str().unwrap()]);
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mnt);
    let w = Client::start("inotifywait", &["-m", "-q", "-e", "create", watched.to_str().unwrap()]);
    crate::common::wait_for_notify_fd(w.pid(), "inotify");
    let out = std::fs::File::create(mnt.join("records")).unwrap();
    let mut g = Command::new(gadget_bin())
        .args(["-o", "json", "--tracer-pid", &w.pid().to_string()])
        .stdout(out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(g.stderr.take().unwrap()).lines().map_while(Result::ok);
    assert!(stderr.by_ref().any(|l| l.contains("tracing with")), "the tool did not start");
    for i in 0..40 {
        std::fs::write(watched.join(format!("file-{i:02}")), b"").unwrap();
        std::thread::sleep(Duration::from_millis(40));
    }
    // SAFETY: the tool's pid, ours.
    unsafe { libc::kill(g.id() as i32, libc::SIGINT) };
    let status = g.wait().unwrap();
    let said: Vec<String> = stderr.collect();
    w.stop();
    let written = std::fs::read(mnt.join("records")).unwrap();
    let lines = written.iter().filter(|&&b| b == b'\n').count();
    let exit = said.iter().find(|l| l.contains(" records")).unwrap_or_else(|| panic!("no exit line: {said:?}"));
    assert!(!status.success() && exit.contains("not written (standard output: No space left on device"), "{said:?}");
    let counted: usize = exit.trim_start_matches("fsnotify-gadget: ").split(' ').next().unwrap().parse().unwrap();
    assert!(lines > 0 && written.len() > 4096, "the disk never filled: {} bytes", written.len());
    assert_eq!(counted, lines, "records counted as written vs whole lines in the file: {exit}");
}
