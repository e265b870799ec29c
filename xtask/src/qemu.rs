//! Booting one kernel with the test image under QEMU and collecting its serial console.

use crate::kernels::Kernel;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const QEMU: &str = "qemu-system-x86_64";

/// What the guest's /init should do, passed on the kernel command line (see init.sh).
#[derive(Clone, Debug, Default)]
pub struct GuestArgs {
    pub fail_on_purpose: bool,
    /// The runner exits with this status once every test passed (the harness self-test).
    pub exit_on_purpose: Option<u8>,
    /// A stand-in for the test binary (the harness self-test): `crashes_at_list` or
    /// `lists_nothing` (init.sh).
    pub test_binary: Option<&'static str>,
    pub filter: Option<String>,
    pub shell: bool,
    /// Run fsg-bench instead of the tests: "smoke", "full", "icount" or "icount-smoke".
    pub bench: Option<String>,
    /// Run under `-icount shift=0,sleep=off`: one guest nanosecond per guest instruction,
    /// so guest CPU times are instruction counts, whatever the host's load.
    pub icount: bool,
    /// (K, N): run only the K-th of every N guest tests (fsg-vm-runner's `--shard`).
    pub shard: Option<(u32, u32)>,
    /// `NAME=VALUE` settings exported to the guest's tests.
    pub env: Vec<String>,
}

/// Host settings the guest's tests read, passed on when set: the burst size and soak length.
const PASSED_ENV: [&str; 2] = ["FSG_BURST_EVENTS", "FSG_SOAK_SECS"];

impl GuestArgs {
    /// The settings of [`PASSED_ENV`] that this process has, as `NAME=VALUE`; a value that
    /// cannot travel as one command-line word is an error.
    pub fn env_from_host() -> Result<Vec<String>> {
        let mut env = vec![];
        for name in PASSED_ENV {
            if let Ok(value) = std::env::var(name) {
                if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c == '"' || c == '\'') {
                    bail!("{name}={value:?}: give one word without spaces or quotes");
                }
                env.push(format!("{name}={value}"));
            }
        }
        Ok(env)
    }

    fn kernel_command_line(&self, kernel_words: &[String]) -> String {
        // panic=-1 and -no-reboot turn a guest panic into QEMU exiting at once. no_timer_check:
        // on a loaded host, TCG runs the boot's timer check too slowly and 6.1 panics ("IO-APIC +
        // timer doesn't work"), as seen with four guests on a 2-core machine.
        let mut line = String::from("console=ttyS0 quiet panic=-1 no_timer_check");
        for word in kernel_words {
            line.push(' ');
            line.push_str(word);
        }
        if self.fail_on_purpose {
            line.push_str(" fsg.fail_on_purpose=1");
        }
        if let Some(code) = self.exit_on_purpose {
            line.push_str(&format!(" fsg.exit_on_purpose={code}"));
        }
        if let Some(binary) = self.test_binary {
            line.push_str(&format!(" fsg.test_binary={binary}"));
        }
        match &self.filter {
            Some(filter) => line.push_str(&format!(" fsg.filter={filter}")),
            // The self-test's test proves nothing in a normal run: it is not counted as a pass.
            None if !self.fail_on_purpose => line.push_str(&format!(" fsg.skip={}", crate::SELF_TEST)),
            None => {}
        }
        let selection = crate::kernels::test_selection(kernel_words);
        for word in selection.any {
            line.push_str(&format!(" fsg.any={word}"));
        }
        for word in selection.skip {
            line.push_str(&format!(" fsg.skip={word}"));
        }
        if self.shell {
            line.push_str(" fsg.shell=1");
        }
        if let Some(size) = &self.bench {
            line.push_str(&format!(" fsg.bench={size}"));
        }
        if let Some((k, n)) = self.shard {
            line.push_str(&format!(" fsg.shard={k}/{n}"));
        }
        for setting in &self.env {
            line.push_str(&format!(" fsg.env={setting}"));
        }
        line
    }
}

/// A libtest filter has to travel as one word of the kernel command line.
pub fn check_filter(filter: &str) -> Result<()> {
    if filter.is_empty()
        || filter
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\'')
    {
        bail!("--filter {filter:?}: give one test name or substring, without spaces or quotes");
    }
    Ok(())
}

/// Fails early, with the fix, when QEMU is not installed.
pub fn check_installed() -> Result<()> {
    match Command::new(QEMU)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => Ok(()),
        _ => bail!("{QEMU} not found: apt-get install qemu-system-x86"),
    }
}

fn command(kernel: &Kernel, initrd: &Path, args: &GuestArgs) -> Command {
    let mut qemu = Command::new(QEMU);
    // KVM fails on this project's machines while the kernel decompresses: TCG only.
    qemu.args(["-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "1"]);
    qemu.args(["-nographic", "-no-reboot", "-nic", "none"]);
    if args.icount {
        qemu.args(["-icount", "shift=0,sleep=off"]);
    }
    qemu.arg("-kernel").arg(&kernel.vmlinuz).arg("-initrd").arg(initrd);
    qemu.arg("-append").arg(args.kernel_command_line(&kernel.spec.cmdline));
    qemu
}

/// The serial console of one boot, each line with the time since QEMU started.
pub struct Console {
    pub lines: Vec<(Duration, String)>,
    pub timed_out: bool,
    pub wall: Duration,
}

/// Boots the guest, writes its console to `log` and hands each line to `on_line`; kills QEMU
/// after `timeout`, or after the time `on_line` last returned (counted from the start).
pub fn run(
    kernel: &Kernel,
    initrd: &Path,
    args: &GuestArgs,
    log: &Path,
    timeout: Duration,
    mut on_line: impl FnMut(Duration, &str) -> Option<Duration>,
) -> Result<Console> {
    let mut log_file =
        File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let start = Instant::now();
    let mut child = command(kernel, initrd, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {QEMU}: apt-get install qemu-system-x86"))?;
    let (send, receive) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let readers = [
        forward_lines(stdout, "", start, send.clone()),
        forward_lines(stderr, "qemu: ", start, send),
    ];
    let mut timeout = timeout;
    let mut lines = vec![];
    let mut timed_out = false;
    loop {
        let left = (start + timeout).saturating_duration_since(Instant::now());
        match receive.recv_timeout(left) {
            Ok((at, line)) => {
                writeln!(log_file, "{line}")?;
                if let Some(new) = on_line(at, &line) {
                    timeout = new;
                }
                lines.push((at, line));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                let _ = child.kill();
                writeln!(log_file, "xtask: killed QEMU after {} s", timeout.as_secs())?;
                break;
            }
        }
    }
    child.wait()?;
    for reader in readers {
        let _ = reader.join();
    }
    Ok(Console {
        lines,
        timed_out,
        wall: start.elapsed(),
    })
}

/// Reads lines on a thread and sends them with their time; serial lines end in "\r\n".
fn forward_lines(
    source: impl Read + Send + 'static,
    prefix: &'static str,
    start: Instant,
    send: mpsc::Sender<(Duration, String)>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(source);
        let mut buffer = vec![];
        while matches!(reader.read_until(b'\n', &mut buffer), Ok(n) if n > 0) {
            let text = String::from_utf8_lossy(&buffer);
            let line = format!("{prefix}{}", printable(&text));
            if send.send((start.elapsed(), line)).is_err() {
                return;
            }
            buffer.clear();
        }
    })
}

/// A console line without its line ending and terminal control sequences (the firmware clears
/// the screen before the kernel starts).
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // "ESC [ parameters final-byte", or ESC and one character.
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Boots the image with an interactive shell on this terminal instead of the tests.
pub fn shell(kernel: &Kernel, initrd: &Path) -> Result<()> {
    let args = GuestArgs {
        shell: true,
        ..Default::default()
    };
    eprintln!("xtask: booting {}; Ctrl-A X quits QEMU", kernel.vmlinuz.display());
    let status = command(kernel, initrd, &args)
        .status()
        .with_context(|| format!("cannot run {QEMU}: apt-get install qemu-system-x86"))?;
    if !status.success() {
        bail!("{QEMU} exited with {status}");
    }
    Ok(())
}

/// `target/vm-test/<label>.log`.
pub fn log_path(dir: &Path, label: &str) -> PathBuf {
    dir.join(format!("{label}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_guest_settings_on_the_command_line() {
        let args = GuestArgs {
            fail_on_purpose: true,
            filter: Some("a::b".into()),
            shard: Some((1, 2)),
            env: vec!["FSG_BURST_EVENTS=1000000".into()],
            ..Default::default()
        };
        assert_eq!(
            args.kernel_command_line(&["lockdown=confidentiality".into()]),
            "console=ttyS0 quiet panic=-1 no_timer_check lockdown=confidentiality fsg.fail_on_purpose=1 \
             fsg.filter=a::b fsg.any=lockdown fsg.any=_tracepoint fsg.shard=1/2 fsg.env=FSG_BURST_EVENTS=1000000"
        );
        assert_eq!(
            GuestArgs::default().kernel_command_line(&[]),
            "console=ttyS0 quiet panic=-1 no_timer_check fsg.skip=harness_fails_on_purpose fsg.skip=lockdown"
        );
        let self_test = GuestArgs { exit_on_purpose: Some(3), test_binary: Some("crashes_at_list"), filter: Some("x".into()), ..Default::default() };
        assert_eq!(
            self_test.kernel_command_line(&[]),
            "console=ttyS0 quiet panic=-1 no_timer_check fsg.exit_on_purpose=3 fsg.test_binary=crashes_at_list fsg.filter=x fsg.skip=lockdown"
        );
        assert!(check_filter("harness_fails_on_purpose").is_ok());
        assert!(check_filter("two words").is_err());
        assert!(check_filter("").is_err());
    }

    #[test]
    fn drops_terminal_control_sequences() {
        assert_eq!(
            printable("\x1bc\x1b[?7l\x1b[2JFSG-VM: init started\r\n"),
            "FSG-VM: init started"
        );
        assert_eq!(printable("test a ... ok\r\n"), "test a ... ok");
        assert_eq!(printable("\x1b[0mSeaBIOS\tx\n"), "SeaBIOS\tx");
    }
}
