//! `cargo xtask dist`: one statically linked x86_64 binary (libbpf, libelf, zlib and glibc
//! inside), its man pages and shell completions (`target/dist/share`, written by the binary's
//! own `docs`), and with `--image` an OCI image holding only those.
//!
//! No toolchain is downloaded: the target is the host's own `x86_64-unknown-linux-gnu`,
//! built with `+crt-static` against Debian's static libraries (`libc.a`, `libelf.a`,
//! `libz.a`) and libbpf-sys's vendored libbpf. A non-PIE executable (`relocation-model=
//! static`) has no dynamic section at all: `ldd` says "not a dynamic executable". The
//! build has its own target directory (`target/dist`) so the normal build stays cached.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cargo::Workspace;

const TARGET: &str = "x86_64-unknown-linux-gnu";
/// Where Debian keeps libelf.a and libz.a.
const STATIC_LIBS: &str = "/usr/lib/x86_64-linux-gnu";
/// The image `--image` builds (tagged with the crate version and `latest`).
pub const IMAGE: &str = "localhost/fsnotify-gadget";

/// The flags of the static build, also what a CI job would set by hand.
pub fn rustflags() -> &'static str {
    "-C target-feature=+crt-static -C relocation-model=static"
}

/// Builds the static binary; returns `target/dist/fsnotify-gadget`.
pub fn build(ws: &Workspace) -> Result<PathBuf> {
    let dist = ws.target_dir.join("dist");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(&ws.root)
        .env("RUSTFLAGS", rustflags())
        .env("LIBBPF_SYS_LIBRARY_PATH", std::env::var_os("LIBBPF_SYS_LIBRARY_PATH").unwrap_or_else(|| STATIC_LIBS.into()))
        .args(["build", "--release", "--package", "fsnotify-gadget", "--bin", "fsnotify-gadget", "--features", "static"])
        .args(["--target", TARGET, "--target-dir"])
        .arg(&dist)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("the static build failed (its errors are above); scripts/install-deps.sh installs libelf-dev and zlib1g-dev, which hold libelf.a and libz.a");
    }
    let built = dist.join(TARGET).join("release").join("fsnotify-gadget");
    check_static(&std::fs::read(&built).with_context(|| format!("cannot read {}", built.display()))?)
        .with_context(|| format!("{} is not a static executable", built.display()))?;
    let out = dist.join("fsnotify-gadget");
    // Copy, not link: the image context must hold a real file.
    let _ = std::fs::remove_file(&out);
    std::fs::copy(&built, &out).with_context(|| format!("cannot copy to {}", out.display()))?;
    Ok(out)
}

/// The man pages and completions, as the binary itself writes them (`fsnotify-gadget docs`,
/// which needs no privileges): returns `target/dist/share`, laid out like `/usr/share`.
pub fn docs(ws: &Workspace, binary: &Path) -> Result<PathBuf> {
    let share = ws.target_dir.join("dist").join("share");
    let _ = std::fs::remove_dir_all(&share);
    let out = Command::new(binary)
        .arg("docs")
        .arg(&share)
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !out.status.success() {
        bail!("{} docs failed: {}", binary.display(), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(share)
}

/// An ELF executable that needs no loader: type ET_EXEC, no PT_INTERP, no PT_DYNAMIC.
pub fn check_static(elf: &[u8]) -> Result<()> {
    const ET_EXEC: u16 = 2;
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        bail!("not a 64-bit little-endian ELF file");
    }
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().expect("4 bytes"));
    let e_type = u16_at(16);
    let phoff = u64::from_le_bytes(elf[32..40].try_into().expect("8 bytes")) as usize;
    let (phentsize, phnum) = (u16_at(54) as usize, u16_at(56) as usize);
    if e_type != ET_EXEC {
        bail!("ELF type {e_type}, not ET_EXEC (a PIE needs its own relocation at start-up)");
    }
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        if o + 4 > elf.len() {
            bail!("program header {i} is past the end of the file");
        }
        match u32_at(o) {
            PT_INTERP => bail!("it names a dynamic loader (PT_INTERP)"),
            PT_DYNAMIC => bail!("it has a dynamic section (PT_DYNAMIC)"),
            _ => {}
        }
    }
    Ok(())
}

/// Builds the OCI image from `deploy/Containerfile` with buildah (or podman), offline:
/// the context is a directory holding only the binary and `share` (from [`docs`]).
pub fn image(ws: &Workspace, binary: &Path, share: &Path) -> Result<String> {
    let context = ws.target_dir.join("dist").join("image-context");
    let _ = std::fs::remove_dir_all(&context);
    std::fs::create_dir_all(&context)?;
    std::fs::copy(binary, context.join("fsnotify-gadget"))?;
    copy_tree(share, &context.join("share"))?;
    let containerfile = ws.root.join("deploy").join("Containerfile");
    let version = env!("CARGO_PKG_VERSION");
    let tag = format!("{IMAGE}:{version}");
    let tool = if which("buildah") { "buildah" } else { "podman" };
    let mut command = Command::new(tool);
    if tool == "buildah" {
        command.arg("bud");
    } else {
        command.arg("build");
    }
    // --pull=false: nothing can be fetched; FROM scratch needs nothing.
    let status = command
        .args(["--pull=false", "--layers=false", "-f"])
        .arg(&containerfile)
        .args(["-t", &tag, "-t", &format!("{IMAGE}:latest")])
        .arg(&context)
        .status()
        .with_context(|| format!("cannot run {tool} (scripts/install-deps.sh installs buildah and podman)"))?;
    if !status.success() {
        bail!("{tool} could not build the image (its errors are above)");
    }
    Ok(tag)
}

/// Copies the directory `from` to `to`, files and directories only (what [`docs`] writes).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| format!("cannot copy to {}", target.display()))?;
        }
    }
    Ok(())
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(e_type: u16, phdrs: &[u32]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56 * phdrs.len()];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        b[16..18].copy_from_slice(&e_type.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, p) in phdrs.iter().enumerate() {
            b[64 + 56 * i..68 + 56 * i].copy_from_slice(&p.to_le_bytes());
        }
        b
    }

    #[test]
    fn trees_are_copied_whole() {
        let dir = std::env::temp_dir().join(format!("xtask-copy-tree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let from = dir.join("from");
        std::fs::create_dir_all(from.join("man/man1")).unwrap();
        std::fs::write(from.join("man/man1/a.1"), "page").unwrap();
        std::fs::write(from.join("top"), "file").unwrap();
        copy_tree(&from, &dir.join("to")).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("to/man/man1/a.1")).unwrap(), "page");
        assert_eq!(std::fs::read_to_string(dir.join("to/top")).unwrap(), "file");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_loader_free_executables_are_static() {
        assert!(check_static(&elf(2, &[1, 1, 4])).is_ok());
        assert!(check_static(&elf(3, &[1])).unwrap_err().to_string().contains("ET_EXEC"));
        assert!(check_static(&elf(2, &[3, 1])).unwrap_err().to_string().contains("PT_INTERP"));
        assert!(check_static(&elf(2, &[1, 2])).unwrap_err().to_string().contains("PT_DYNAMIC"));
        assert!(check_static(b"#!/bin/sh\n").is_err());
    }
}
