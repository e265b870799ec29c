//! A writer for the cpio "newc" format, the format the kernel unpacks an initramfs from.
//!
//! Writing the archive here (instead of staging a directory for `cpio -o`) lets the image hold
//! device nodes and root-owned files without touching the host's filesystem.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

enum Node {
    Dir,
    /// A regular file whose bytes are read from the host at write time.
    HostFile {
        source: PathBuf,
        mode: u32,
    },
    Bytes {
        bytes: Vec<u8>,
        mode: u32,
    },
    Symlink {
        target: String,
    },
    CharDev {
        major: u32,
        minor: u32,
    },
}

/// The files of an archive, keyed by their path inside it (no leading `/`).
///
/// Parent directories are added on their own; the sorted order writes every directory before
/// what it contains, as the kernel's unpacker requires.
#[derive(Default)]
pub struct Archive {
    nodes: BTreeMap<String, Node>,
}

fn clean(path: &str) -> String {
    path.trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

impl Archive {
    pub fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(&clean(path))
    }

    fn insert(&mut self, path: &str, node: Node) {
        let path = clean(path);
        let mut parent = Path::new(&path).parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            self.nodes
                .entry(dir.to_string_lossy().into_owned())
                .or_insert(Node::Dir);
            parent = dir.parent();
        }
        self.nodes.insert(path, node);
    }

    pub fn dir(&mut self, path: &str) {
        self.insert(path, Node::Dir);
    }

    /// Copies a host file (following symlinks) into the archive.
    pub fn host_file(&mut self, path: &str, source: &Path, mode: u32) {
        let source = source.to_path_buf();
        self.insert(path, Node::HostFile { source, mode });
    }

    pub fn bytes(&mut self, path: &str, bytes: impl Into<Vec<u8>>, mode: u32) {
        let bytes = bytes.into();
        self.insert(path, Node::Bytes { bytes, mode });
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        let target = target.to_string();
        self.insert(path, Node::Symlink { target });
    }

    pub fn char_dev(&mut self, path: &str, major: u32, minor: u32) {
        self.insert(path, Node::CharDev { major, minor });
    }

    /// The paths in the order they are written, one per line, with a letter for the kind.
    pub fn manifest(&self) -> String {
        let mut out = String::new();
        for (path, node) in &self.nodes {
            let line = match node {
                Node::Dir => format!("d /{path}\n"),
                Node::HostFile { source, .. } => format!("f /{path} <- {}\n", source.display()),
                Node::Bytes { bytes, .. } => format!("f /{path} ({} bytes)\n", bytes.len()),
                Node::Symlink { target } => format!("l /{path} -> {target}\n"),
                Node::CharDev { major, minor } => format!("c /{path} {major}:{minor}\n"),
            };
            out.push_str(&line);
        }
        out
    }

    pub fn write_to(&self, out: &mut impl Write) -> Result<()> {
        // Inode numbers only need to differ; 0 is left to the trailer.
        for (ino, (path, node)) in (1..).zip(&self.nodes) {
            let header = |mode, size, nlink, rdev: (u32, u32)| Header {
                ino,
                mode,
                nlink,
                size,
                rdev,
                name: path,
            };
            match node {
                Node::Dir => header(S_IFDIR | 0o755, 0, 2, (0, 0)).write(out)?,
                Node::Bytes { bytes, mode } => {
                    header(S_IFREG | mode, bytes.len() as u64, 1, (0, 0)).write(out)?;
                    out.write_all(bytes)?;
                    pad(out, bytes.len() as u64)?;
                }
                Node::Symlink { target } => {
                    header(S_IFLNK | 0o777, target.len() as u64, 1, (0, 0)).write(out)?;
                    out.write_all(target.as_bytes())?;
                    pad(out, target.len() as u64)?;
                }
                Node::CharDev { major, minor } => {
                    header(S_IFCHR | 0o600, 0, 1, (*major, *minor)).write(out)?
                }
                Node::HostFile { source, mode } => {
                    let mut file = File::open(source)
                        .with_context(|| format!("cannot read {}", source.display()))?;
                    let size = file.metadata()?.len();
                    header(S_IFREG | mode, size, 1, (0, 0)).write(out)?;
                    let copied = io::copy(&mut file, out)?;
                    if copied != size {
                        bail!("{} changed size while it was archived", source.display());
                    }
                    pad(out, size)?;
                }
            }
        }
        Header {
            ino: 0,
            mode: 0,
            nlink: 1,
            size: 0,
            rdev: (0, 0),
            name: "TRAILER!!!",
        }
        .write(out)?;
        Ok(())
    }
}

struct Header<'a> {
    ino: u32,
    mode: u32,
    nlink: u32,
    size: u64,
    rdev: (u32, u32),
    name: &'a str,
}

impl Header<'_> {
    fn write(&self, out: &mut impl Write) -> Result<()> {
        if self.size > u32::MAX as u64 {
            bail!("/{} is too large for a cpio newc archive", self.name);
        }
        let name_size = self.name.len() + 1;
        let fields = [
            self.ino,
            self.mode,
            0, // uid: everything in the image belongs to root
            0, // gid
            self.nlink,
            0, // mtime
            self.size as u32,
            0, // major and minor of the device the file lives on
            0,
            self.rdev.0,
            self.rdev.1,
            name_size as u32,
            0, // checksum, unused by "newc"
        ];
        let mut header = String::from("070701");
        for field in fields {
            header.push_str(&format!("{field:08X}"));
        }
        out.write_all(header.as_bytes())?;
        out.write_all(self.name.as_bytes())?;
        out.write_all(&[0])?;
        pad(out, (header.len() + name_size) as u64)?;
        Ok(())
    }
}

/// Pads to the 4-byte boundary newc aligns names and file data to.
fn pad(out: &mut impl Write, written: u64) -> io::Result<()> {
    let fill = (4 - written % 4) % 4;
    out.write_all(&[0u8; 3][..fill as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back (name, mode, rdev major, data) of each entry, checking the alignment.
    fn entries(archive: &[u8]) -> Vec<(String, u32, u32, Vec<u8>)> {
        let field = |at: usize, i: usize| {
            let s = std::str::from_utf8(&archive[at + 6 + 8 * i..at + 14 + 8 * i]).unwrap();
            u32::from_str_radix(s, 16).unwrap() as usize
        };
        let align = |n: usize| n.div_ceil(4) * 4;
        let mut at = 0;
        let mut out = vec![];
        loop {
            assert_eq!(&archive[at..at + 6], b"070701");
            assert_eq!(at % 4, 0);
            let (mode, size, rdev_major, name_size) =
                (field(at, 1), field(at, 6), field(at, 9), field(at, 11));
            let name = &archive[at + 110..at + 110 + name_size - 1];
            let name = String::from_utf8(name.to_vec()).unwrap();
            let data_at = align(at + 110 + name_size);
            let data = archive[data_at..data_at + size].to_vec();
            at = align(data_at + size);
            if name == "TRAILER!!!" {
                assert_eq!(at, archive.len());
                return out;
            }
            out.push((name, mode as u32, rdev_major as u32, data));
        }
    }

    #[test]
    fn writes_parents_first_and_pads_names_and_data() {
        let mut archive = Archive::default();
        archive.bytes("/usr/bin/hello", "hi!\n", 0o755);
        archive.symlink("bin/sh", "/bin/busybox");
        archive.char_dev("dev/console", 5, 1);
        let mut bytes = vec![];
        archive.write_to(&mut bytes).unwrap();
        let got = entries(&bytes);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/sh",
                "dev",
                "dev/console",
                "usr",
                "usr/bin",
                "usr/bin/hello"
            ]
        );
        assert_eq!(got[0].1, S_IFDIR | 0o755);
        assert_eq!(
            (got[1].1, got[1].3.as_slice()),
            (S_IFLNK | 0o777, &b"/bin/busybox"[..])
        );
        assert_eq!((got[3].1, got[3].2), (S_IFCHR | 0o600, 5));
        assert_eq!(
            (got[6].1, got[6].3.as_slice()),
            (S_IFREG | 0o755, &b"hi!\n"[..])
        );
    }

    #[test]
    fn copies_host_files() {
        let dir = std::env::temp_dir().join(format!("xtask-cpio-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("five");
        std::fs::write(&source, "12345").unwrap();
        let mut archive = Archive::default();
        archive.host_file("opt/five", &source, 0o644);
        assert!(archive.contains("/opt/five") && archive.contains("opt"));
        let mut bytes = vec![];
        archive.write_to(&mut bytes).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let got = entries(&bytes);
        assert_eq!(got[1].0, "opt/five");
        assert_eq!(got[1].3, b"12345");
    }
}
