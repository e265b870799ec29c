//! The test VM's initramfs: busybox, /init, the project's binaries, real inotify/fanotify
//! clients from the host, and every shared library they load.

use crate::cpio::Archive;
use anyhow::{bail, Context, Result};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The guest's PID 1.
pub const INIT_SCRIPT: &str = include_str!("init.sh");

/// Where the guest's /init runs the VM test binary from.
pub const GUEST_TEST_BINARY: &str = "/opt/fsg/vm_e2e";

/// A stand-in for a test binary that dies while it lists its tests: the harness self-test
/// boots it (`fsg.test_binary=crashes_at_list`) and must see that boot fail.
const CRASHES_AT_LIST: (&str, &str) = (
    "/opt/fsg/crashes-at-list",
    "#!/bin/sh\n# Dies by SIGSEGV, as a test binary that crashes before it lists any test.\nkill -SEGV $$\n",
);

/// Real clients the VM tests watch, copied from the host when it has them.
/// GNU touch opens the file it touches (IN_OPEN, IN_CLOSE_WRITE) where
/// busybox's only sets its times.
/// GNU tail follows a file through an inotify watch where busybox's polls.
const CLIENTS: [(&str, &str); 7] = [
    ("touch", "coreutils"),
    ("tail", "coreutils"),
    ("inotifywait", "inotify-tools"),
    ("inotifywatch", "inotify-tools"),
    ("fsnotifywait", "inotify-tools"),
    ("fsnotifywatch", "inotify-tools"),
    ("fatrace", "fatrace"),
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
fsgtest:x:1000:1000:fsnotify-gadget test user:/tmp:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
";
const GROUP: &str = "root:x:0:
fsgtest:x:1000:
nogroup:x:65534:
";
const NSSWITCH: &str = "passwd: files\ngroup: files\nhosts: files\n";

/// The project's binaries that go into the image.
pub struct Binaries {
    /// Programs for /usr/bin: fsnotify-gadget and the test helpers.
    pub programs: Vec<PathBuf>,
    pub vm_test: PathBuf,
    /// The static binary of `cargo xtask dist`, for /usr/bin/fsnotify-gadget-static: it
    /// needs no library, so none is copied for it.
    pub static_gadget: PathBuf,
}

/// Where the guest finds the static binary.
pub const GUEST_STATIC_GADGET: &str = "usr/bin/fsnotify-gadget-static";

/// Writes `dir/initramfs.cpio.gz` (and `dir/manifest.txt`, the list of its files) and
/// returns the image's path.
pub fn build(binaries: &Binaries, dir: &Path) -> Result<PathBuf> {
    let mut archive = Archive::default();
    for d in ["proc", "sys", "dev", "tmp", "run", "root", "mnt", "etc"] {
        archive.dir(d);
    }
    // The kernel opens /dev/console for /init's stdio before devtmpfs is mounted.
    archive.char_dev("dev/console", 5, 1);
    archive.char_dev("dev/null", 1, 3);
    archive.bytes("init", INIT_SCRIPT, 0o755);
    archive.bytes("etc/passwd", PASSWD, 0o644);
    archive.bytes("etc/group", GROUP, 0o644);
    archive.bytes("etc/nsswitch.conf", NSSWITCH, 0o644);
    archive.bytes("etc/hosts", "127.0.0.1 localhost fsg-vm\n", 0o644);

    let mut dynamic = vec![];
    for program in &binaries.programs {
        let name = file_name(program)?;
        archive.host_file(&format!("usr/bin/{name}"), program, 0o755);
        dynamic.push(program.clone());
    }
    archive.host_file(GUEST_STATIC_GADGET, &binaries.static_gadget, 0o755);
    archive.host_file(GUEST_TEST_BINARY, &binaries.vm_test, 0o755);
    archive.bytes(CRASHES_AT_LIST.0, CRASHES_AT_LIST.1, 0o755);
    dynamic.push(binaries.vm_test.clone());
    for (name, package) in CLIENTS {
        match find_host_program(name) {
            Some(path) => {
                archive.host_file(&format!("usr/bin/{name}"), &path, 0o755);
                dynamic.push(path);
            }
            None => eprintln!(
                "xtask: warning: {name} not found on this host, the VM will not have it: \
                 apt-get install {package}"
            ),
        }
    }
    add_busybox(&mut archive)?;
    dynamic.push(PathBuf::from("/bin/busybox"));
    for binary in &dynamic {
        for library in shared_libraries(binary)? {
            let guest = library.to_string_lossy().into_owned();
            archive.host_file(&guest, &library, 0o755);
        }
    }

    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    fs::write(dir.join("manifest.txt"), archive.manifest())?;
    let image = dir.join("initramfs.cpio.gz");
    write_gzipped(&archive, &image)?;
    Ok(image)
}

fn file_name(path: &Path) -> Result<&str> {
    path.file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no usable file name", path.display()))
}

fn find_host_program(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
}

/// /bin/busybox and a symlink to it for each of its applets.
fn add_busybox(archive: &mut Archive) -> Result<()> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        bail!("/bin/busybox not found: apt-get install busybox-static");
    }
    archive.host_file("bin/busybox", busybox, 0o755);
    let list = Command::new(busybox)
        .arg("--list-full")
        .output()
        .context("cannot run /bin/busybox --list-full")?;
    if !list.status.success() {
        bail!("/bin/busybox --list-full failed: apt-get install busybox-static");
    }
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        // The project's own programs and the real clients take precedence over applets.
        if !applet.is_empty() && !archive.contains(applet) {
            archive.symlink(applet, "/bin/busybox");
        }
    }
    Ok(())
}

/// The libraries (and the dynamic loader) that `ldd` lists for a binary; none for a static one.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .context("cannot run ldd: apt-get install libc-bin")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stdout.contains("not a dynamic executable")
            || stderr.contains("not a dynamic executable")
        {
            return Ok(vec![]);
        }
        bail!("ldd {} failed: {}", binary.display(), stderr.trim());
    }
    let libraries = parse_ldd(&stdout).map_err(|missing| {
        anyhow::anyhow!(
            "{} needs {missing}, which this host lacks: install the package that has it \
             (apt-file search {missing})",
            binary.display()
        )
    })?;
    Ok(libraries)
}

/// Parses `ldd` output into the paths of the files to copy. The error is the name of a
/// library ldd could not find.
pub fn parse_ldd(output: &str) -> Result<Vec<PathBuf>, String> {
    let mut paths = vec![];
    for line in output.lines() {
        let line = line.trim();
        // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = match line.split_once(" => ") {
            Some((name, rest)) => {
                if rest.starts_with("not found") {
                    return Err(name.to_string());
                }
                rest.split(" (").next().unwrap_or(rest)
            }
            None => line.split(" (").next().unwrap_or(line),
        };
        // linux-vdso.so.1 has no path: the kernel provides it.
        if path.starts_with('/') {
            paths.push(PathBuf::from(path));
        }
    }
    Ok(paths)
}

fn write_gzipped(archive: &Archive, image: &Path) -> Result<()> {
    let file = File::create(image).with_context(|| format!("cannot create {}", image.display()))?;
    let mut gzip = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(file)
        .spawn()
        .context("cannot run gzip: apt-get install gzip")?;
    let mut input = BufWriter::with_capacity(1 << 20, gzip.stdin.take().expect("piped stdin"));
    let written = archive
        .write_to(&mut input)
        .and_then(|()| Ok(input.flush()?));
    drop(input);
    let status = gzip.wait()?;
    written?;
    if !status.success() {
        bail!("gzip failed writing {}", image.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{INIT_STARTED, TESTS_BEGIN, TESTS_END};

    #[test]
    fn parses_ldd_output() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd1c5f2000)
\tlibelf.so.1 => /lib/x86_64-linux-gnu/libelf.so.1 (0x00007f0b7d1a0000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0b7cfbf000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f0b7d1e3000)
";
        let paths = parse_ldd(out).unwrap();
        assert_eq!(
            paths,
            [
                "/lib/x86_64-linux-gnu/libelf.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
        assert_eq!(
            parse_ldd("\tlibfoo.so.2 => not found\n"),
            Err("libfoo.so.2".to_string())
        );
        assert_eq!(parse_ldd("\tstatically linked\n"), Ok(vec![]));
    }

    #[test]
    fn init_script_prints_the_markers_the_report_reads() {
        for marker in [INIT_STARTED, TESTS_BEGIN, TESTS_END] {
            assert!(INIT_SCRIPT.contains(marker), "init.sh lacks {marker:?}");
        }
        assert!(INIT_SCRIPT.contains(GUEST_TEST_BINARY));
        assert!(INIT_SCRIPT.contains(CRASHES_AT_LIST.0));
    }
}
