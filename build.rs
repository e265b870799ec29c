//! Compiles every `src/**/bpf/*.bpf.c` with clang and writes its skeleton to
//! `$OUT_DIR/<name>.skel.rs`, where the module beside it includes it.

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
    // All of src: a new module's bpf/ folder must trigger a rebuild too.
    println!("cargo:rerun-if-changed=src");

    let mut sources = Vec::new();
    bpf_sources(Path::new("src"), &mut sources);
    sources.sort();
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
