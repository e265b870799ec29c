//! Compiles every `src/**/bpf/*.bpf.c` with clang and writes its skeleton to
//! `$OUT_DIR/<name>.skel.rs`, where the module beside it includes it.
//!
//! It reruns only when a `bpf/` folder or the shared headers in `src/bpf`
//! change: editing Rust code does not recompile the BPF objects. A new
//! module's `bpf/` folder is found on the next run of this script (`touch
//! build.rs` once after creating it).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn bpf_sources(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            bpf_sources(&path, found);
        } else if path.to_string_lossy().ends_with(".bpf.c") {
            found.push(path);
        }
    }
}

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let shared_headers = Path::new("src/bpf");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", shared_headers.display());

    let mut sources = Vec::new();
    bpf_sources(Path::new("src"), &mut sources);
    sources.sort();
    let mut folders: Vec<&Path> = sources.iter().filter_map(|s| s.parent()).collect();
    folders.dedup();
    for folder in folders {
        // A folder, so its headers count as well as its .bpf.c files.
        println!("cargo:rerun-if-changed={}", folder.display());
    }
    for src in sources {
        let file = src.file_name().unwrap().to_string_lossy();
        let name = file.trim_end_matches(".bpf.c");
        let dir = src.parent().unwrap();
        libbpf_cargo::SkeletonBuilder::new()
            .source(&src)
            .clang_args([
                format!("-I{}", shared_headers.display()),
                format!("-I{}", dir.display()),
                "-D__TARGET_ARCH_x86".to_string(),
                "-Wall".to_string(),
                "-Werror".to_string(),
            ])
            .build_and_generate(out_dir.join(format!("{name}.skel.rs")))
            .unwrap_or_else(|e| panic!("building BPF program {}: {e:#}", src.display()));
    }
}
