//! Which kernels the VM tests boot: Debian's cloud kernel packages, downloaded with apt and
//! cached, or vmlinuz files given by path.

use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Debian 12's current 6.1 kernel and its 6.12 kernel, through their metapackages, and the
/// 6.12 kernel again booted locked down the way the tracepoint backend exists for.
pub const DEFAULT_KERNELS: [&str; 3] = [
    "linux-image-cloud-amd64",
    "linux-image-6.12-cloud-amd64",
    "linux-image-6.12-cloud-amd64+lockdown=confidentiality",
];
/// The default kernel the harness self-test boots.
pub const SELF_TEST_PACKAGE: &str = "linux-image-6.12-cloud-amd64";

const SPEC_HELP: &str = "--kernel takes a vmlinuz path or a Debian kernel package name \
                         such as linux-image-6.12-cloud-amd64";

/// Which guest tests a boot runs, from its kernel command-line words.
#[derive(Debug, PartialEq, Eq)]
pub struct Selection {
    /// Only tests whose names contain one of these (none: any test)...
    pub any: &'static [&'static str],
    /// ...and none of these.
    pub skip: &'static [&'static str],
    /// Guests its tests may be split across at most.
    pub max_shards: u32,
}

/// A kernel booted with `lockdown=...` runs the `lockdown` tests, which check that fentry
/// and kprobe refuse and auto picks tracepoint, and every tracepoint test: one guest is
/// enough for them. Every other boot leaves the lockdown tests out.
pub fn test_selection(cmdline: &[String]) -> Selection {
    if cmdline.iter().any(|w| w.starts_with("lockdown=")) {
        Selection { any: &["lockdown", "_tracepoint"], skip: &[], max_shards: 1 }
    } else {
        Selection { any: &[], skip: &["lockdown"], max_shards: u32::MAX }
    }
}

/// Where a kernel comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Path(PathBuf),
    Package(String),
}

/// A kernel to boot: where it comes from, and words added to its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub source: Source,
    /// Kernel command-line words such as `lockdown=confidentiality`.
    pub cmdline: Vec<String>,
}

impl Spec {
    pub fn package(name: &str) -> Spec {
        Spec { source: Source::Package(name.to_string()), cmdline: vec![] }
    }

    /// `--kernel` takes a path to a vmlinuz file or a Debian package name, each optionally
    /// followed by `+WORD=VALUE` command-line words (`linux-image-6.12-cloud-amd64+lockdown=confidentiality`).
    /// A `+` inside a package's version (`6.12.117+deb12`) is part of the name: only a
    /// trailing `+...` that holds `=` is a command-line word.
    pub fn parse(arg: &str) -> Spec {
        let mut base = arg;
        let mut cmdline = vec![];
        while let Some((head, word)) = base.rsplit_once('+') {
            if !word.contains('=') || head.is_empty() {
                break;
            }
            cmdline.insert(0, word.to_string());
            base = head;
        }
        let source = if base.contains('/') || Path::new(base).exists() {
            Source::Path(PathBuf::from(base))
        } else {
            Source::Package(base.to_string())
        };
        Spec { source, cmdline }
    }
}

#[derive(Clone, Debug)]
pub struct Kernel {
    /// Short name for logs and reports, e.g. `6.12.117+deb12-cloud-amd64`, with the spec's
    /// command-line words after `+`.
    pub label: String,
    pub vmlinuz: PathBuf,
    /// The spec it came from, so callers can find e.g. the default 6.12 kernel.
    pub spec: Spec,
}

/// Resolves every spec to a vmlinuz file, downloading packages into `cache` when needed.
pub fn resolve(specs: &[Spec], cache: &Path) -> Result<Vec<Kernel>> {
    let mut apt = Apt { updated: false };
    let mut kernels: Vec<Kernel> = vec![];
    for spec in specs {
        let (mut label, vmlinuz) = match &spec.source {
            Source::Path(path) => {
                if !path.is_file() {
                    bail!(
                        "--kernel {}: no such file (give a vmlinuz path or a Debian package name)",
                        path.display()
                    );
                }
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                (
                    name.trim_start_matches("vmlinuz-").to_string(),
                    path.clone(),
                )
            }
            Source::Package(name) => apt.vmlinuz(name, cache)?,
        };
        for word in &spec.cmdline {
            label.push('+');
            label.push_str(word);
        }
        let base = label.clone();
        let mut n = 1;
        while kernels.iter().any(|k| k.label == label) {
            n += 1;
            label = format!("{base}-{n}");
        }
        kernels.push(Kernel {
            label,
            vmlinuz,
            spec: spec.clone(),
        });
    }
    Ok(kernels)
}

/// apt-get and apt-cache, with `apt-get update` run at most once when the package lists
/// look stale.
struct Apt {
    updated: bool,
}

impl Apt {
    /// Returns (label, cached vmlinuz path) for a package or a metapackage that depends on one.
    fn vmlinuz(&mut self, name: &str, cache: &Path) -> Result<(String, PathBuf)> {
        loop {
            match self.try_vmlinuz(name, cache) {
                Ok(found) => return Ok(found),
                Err(e) if !self.updated => {
                    eprintln!("xtask: {e:#}\nxtask: running apt-get update and trying again");
                    self.update().with_context(|| format!("{e:#}"))?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn update(&mut self) -> Result<()> {
        self.updated = true;
        let out = run(Command::new("apt-get").args(["update", "-q"]))?;
        if !out.status.success() {
            bail!(
                "apt-get update failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn try_vmlinuz(&self, name: &str, cache: &Path) -> Result<(String, PathBuf)> {
        let package = resolve_package(name)?;
        let label = package.name.trim_start_matches("linux-image-").to_string();
        let key = format!("{}_{}", package.name, package.version).replace([':', '/'], "_");
        let cached = cache.join(key).join("vmlinuz");
        if cached.is_file() {
            return Ok((label, cached));
        }
        eprintln!("xtask: downloading {} {}", package.name, package.version);
        download(&package, cache, &cached)?;
        Ok((label, cached))
    }
}

/// Follows metapackages (a package whose Depends names a `linux-image-*` package) to the
/// package that holds the kernel.
fn resolve_package(name: &str) -> Result<AptPackage> {
    let mut name = name.to_string();
    for _ in 0..4 {
        let out = run(Command::new("apt-cache").args(["show", "--no-all-versions", &name]))?;
        let package = parse_apt_show(&String::from_utf8_lossy(&out.stdout))
            .with_context(|| format!("apt-cache knows no package {name}: {SPEC_HELP}"))?;
        match package
            .depends
            .iter()
            .find(|d| d.starts_with("linux-image-"))
        {
            Some(image) => name = image.clone(),
            None => return Ok(package),
        }
    }
    bail!("{name}: too many levels of linux-image-* metapackages")
}

/// Downloads and unpacks the package in a scratch directory of the cache and moves its
/// vmlinuz to `cached`.
fn download(package: &AptPackage, cache: &Path, cached: &Path) -> Result<()> {
    let dir = cached.parent().expect("cache entry has a directory");
    let work = cache.join(format!(".download-{}-{}", package.name, std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let result = (|| {
        let spec = format!("{}={}", package.name, package.version);
        let out = run(Command::new("apt-get")
            .args(["download", "-q", &spec])
            .current_dir(&work))?;
        if !out.status.success() {
            bail!(
                "apt-get download {spec} failed:\n{}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let deb = find_in(&work, |n| n.ends_with(".deb"))?;
        let tree = work.join("tree");
        let out = run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree))?;
        if !out.status.success() {
            bail!(
                "dpkg-deb -x {} failed:\n{}",
                deb.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let vmlinuz = find_in(&tree.join("boot"), |n| n.starts_with("vmlinuz-"))?;
        fs::create_dir_all(dir)?;
        let partial = cached.with_extension("partial");
        fs::copy(&vmlinuz, &partial)?;
        fs::rename(&partial, cached)?;
        Ok(())
    })();
    let _ = fs::remove_dir_all(&work);
    result.with_context(|| format!("cannot fetch the kernel of {}", package.name))
}

fn find_in(dir: &Path, wanted: impl Fn(&str) -> bool) -> Result<PathBuf> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(&wanted)
        {
            return Ok(path);
        }
    }
    bail!("{} holds no such file", dir.display())
}

fn run(command: &mut Command) -> Result<Output> {
    let program = command.get_program().to_string_lossy().into_owned();
    command.output().with_context(|| {
        format!("cannot run {program}: the VM tests fetch kernels with Debian's apt; {SPEC_HELP}")
    })
}

#[derive(Debug, PartialEq, Eq)]
pub struct AptPackage {
    pub name: String,
    pub version: String,
    /// The first alternative of each dependency, without version constraints.
    pub depends: Vec<String>,
}

/// Parses the first stanza of `apt-cache show` output.
pub fn parse_apt_show(output: &str) -> Option<AptPackage> {
    let (mut name, mut version, mut depends) = (None, None, vec![]);
    for line in output.lines() {
        if line.trim().is_empty() {
            if name.is_some() {
                break;
            }
            continue;
        }
        if let Some(v) = line.strip_prefix("Package: ") {
            name = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version: ") {
            version = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Depends: ") {
            depends = v
                .split(',')
                .filter_map(|dep| dep.split('|').next())
                .filter_map(|alt| alt.split_whitespace().next())
                .map(|alt| alt.trim_end_matches(":any").to_string())
                .collect();
        }
    }
    Some(AptPackage {
        name: name?,
        version: version?,
        depends,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_metapackage() {
        let out = "Package: linux-image-6.12-cloud-amd64
Source: linux-signed-amd64 (6.12.117+1~deb12u1)
Version: 6.12.117-1~deb12u1
Depends: linux-image-6.12.117+deb12-cloud-amd64 (= 6.12.117-1~deb12u1)
Description: Linux 6.12 for x86-64 cloud (meta-package)

";
        let package = parse_apt_show(out).unwrap();
        assert_eq!(package.name, "linux-image-6.12-cloud-amd64");
        assert_eq!(package.version, "6.12.117-1~deb12u1");
        assert_eq!(package.depends, ["linux-image-6.12.117+deb12-cloud-amd64"]);
    }

    #[test]
    fn parses_an_image_package_and_only_its_first_stanza() {
        let out = "Package: linux-image-6.1.0-56-cloud-amd64
Version: 6.1.192-2
Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool
Pre-Depends: debconf:any

Package: linux-image-6.1.0-56-cloud-amd64
Version: 6.1.190-1
";
        let package = parse_apt_show(out).unwrap();
        assert_eq!(package.version, "6.1.192-2");
        assert_eq!(package.depends, ["kmod", "linux-base", "initramfs-tools"]);
        assert!(!package
            .depends
            .iter()
            .any(|d| d.starts_with("linux-image-")));
    }

    #[test]
    fn finds_nothing_in_an_empty_answer() {
        assert_eq!(parse_apt_show(""), None);
        assert_eq!(parse_apt_show("N: Unable to locate package x\n"), None);
    }

    #[test]
    fn tells_paths_from_package_names() {
        assert_eq!(
            Spec::parse("/boot/vmlinuz-6.1"),
            Spec { source: Source::Path("/boot/vmlinuz-6.1".into()), cmdline: vec![] }
        );
        assert_eq!(
            Spec::parse("linux-image-6.12.43+deb13-cloud-amd64"),
            Spec::package("linux-image-6.12.43+deb13-cloud-amd64")
        );
    }

    #[test]
    fn takes_command_line_words_after_the_name() {
        let spec = Spec::parse("linux-image-6.12.43+deb13-cloud-amd64+lockdown=confidentiality+x=1");
        assert_eq!(spec.source, Source::Package("linux-image-6.12.43+deb13-cloud-amd64".into()));
        assert_eq!(spec.cmdline, ["lockdown=confidentiality", "x=1"]);
        let spec = Spec::parse("/boot/vmlinuz-6.12+lockdown=integrity");
        assert_eq!(spec.source, Source::Path("/boot/vmlinuz-6.12".into()));
        assert_eq!(spec.cmdline, ["lockdown=integrity"]);
    }
}
