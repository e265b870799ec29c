//! The man pages and shell completions, generated from the clap definition
//! ([`super::command`]) so that they say what `--help` says and never miss a flag.
//! `fsnotify-gadget docs DIR` writes them under a share directory; `cargo xtask dist`
//! runs that for `target/dist/share`, which the image holds.
//!
//! clap_mangen renders NAME, SYNOPSIS, DESCRIPTION, the option sections and the list of
//! subcommands. What `--help` prints as plain text after the options (the fields, the
//! backends) is rendered here as man(7) lists, with EXAMPLES, EXIT STATUS, SIGNALS and
//! SEE ALSO. Each visible subcommand gets its own page, `fsnotify-gadget-list(1)`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::ValueEnum;
use clap_complete::Shell;
use clap_mangen::roff::{bold, roman, Inline, Roff};
use clap_mangen::Man;

use super::{BackendChoice, DESCRIPTION, EXAMPLES};
use crate::fields;

const BIN: &str = "fsnotify-gadget";
const SECTION: &str = "1";

/// The completion scripts, each where its shell looks for it under a share directory
/// (`/usr/share` or `/usr/local/share`): bash-completion loads `completions/COMMAND` the
/// first time COMMAND is completed, zsh reads `site-functions/_COMMAND` from its `fpath`,
/// fish reads `vendor_completions.d/COMMAND.fish`.
pub const COMPLETIONS: [(Shell, &str); 3] = [
    (Shell::Bash, "bash-completion/completions/fsnotify-gadget"),
    (Shell::Zsh, "zsh/site-functions/_fsnotify-gadget"),
    (Shell::Fish, "fish/vendor_completions.d/fsnotify-gadget.fish"),
];

/// Where the man pages go under a share directory.
pub const MAN_DIR: &str = "man/man1";

/// Every file, as (path under the share directory, contents): the man pages, then the
/// completion scripts.
pub fn files() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> =
        man_pages().into_iter().map(|(name, page)| (Path::new(MAN_DIR).join(name), page)).collect();
    for (shell, path) in COMPLETIONS {
        files.push((PathBuf::from(path), completion(shell)));
    }
    files
}

/// Writes [`files`] under `share`, making the directories they need; returns the paths
/// written.
pub fn write(share: &Path) -> Result<Vec<PathBuf>> {
    let mut written = vec![];
    for (relative, contents) in files() {
        let path = share.join(relative);
        let dir = path.parent().expect("every file is in a directory");
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// One shell's completion script.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut out = vec![];
    clap_complete::generate(shell, &mut super::command(), BIN, &mut out);
    match shell {
        Shell::Bash => bash_one_spelling_per_subcommand(out),
        Shell::Fish => fish_values_before_a_subcommand(out),
        _ => out,
    }
}

/// clap_complete's bash script (4.6, clap-rs/clap#6421) spells a subcommand's state two ways
/// when the command's name has a hyphen: the loop over the words sets
/// `fsnotify__gadget__subcmd__list`, and the arms match `fsnotify__subcmd__gadget__subcmd__list`.
/// No arm matched, and `fsnotify-gadget list --<TAB>` offered nothing. The arms are spelled
/// here as the loop spells them; once clap_complete agrees with itself this changes nothing.
fn bash_one_spelling_per_subcommand(script: Vec<u8>) -> Vec<u8> {
    String::from_utf8_lossy(&script).replace("fsnotify__subcmd__gadget", "fsnotify__gadget").into_bytes()
}

/// The guard of clap_complete's fish script (4.6) on every top-level completion: it holds
/// only while the words so far parse, and `fsnotify-gadget --backend ` does not parse yet
/// (the option waits for its value), so fish offered file names instead of auto, fentry, ...
/// A line that does not parse yet is taken as one without a subcommand: fish then offers the
/// option's values. Were the guard to change, the script is left as generated and the test
/// that asks fish for `--backend`'s values fails.
const FISH_GUARD: &str = "    argparse -s (__fish_fsnotify_gadget_global_optspecs) -- $cmd 2>/dev/null\n    or return\n";

fn fish_values_before_a_subcommand(script: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&script);
    if text.matches(FISH_GUARD).count() != 1 {
        return script;
    }
    text.replacen(FISH_GUARD, &FISH_GUARD.replace("or return\n", "or return 0\n"), 1).into_bytes()
}

/// The man pages, as (file name, roff source): `fsnotify-gadget.1`, then one page per
/// visible subcommand (`fsnotify-gadget-list.1`, ...).
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = super::command().disable_help_subcommand(true);
    // Gives each subcommand its page name (display name `fsnotify-gadget-list`) and
    // its usage (`fsnotify-gadget list`).
    cmd.build();
    let subcommands: Vec<clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned().collect();
    let names: Vec<String> = subcommands.iter().map(|s| page_name(s).to_string()).collect();

    let mut pages = vec![];
    let mut see_also: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), SECTION)).collect();
    see_also.extend(KERNEL_PAGES);
    pages.push((format!("{BIN}.{SECTION}"), main_page(cmd, &see_also)));
    for sub in subcommands {
        let name = page_name(&sub).to_string();
        let mut see_also = vec![(BIN, SECTION)];
        see_also.extend(names.iter().filter(|n| **n != name).map(|n| (n.as_str(), SECTION)));
        see_also.extend(KERNEL_PAGES);
        pages.push((format!("{name}.{SECTION}"), subcommand_page(sub, &see_also)));
    }
    pages
}

/// The kernel's own pages on what the tool shows.
const KERNEL_PAGES: [(&str, &str); 3] = [("inotify", "7"), ("fanotify", "7"), ("bpf", "2")];

fn page_name(cmd: &clap::Command) -> &str {
    cmd.get_display_name().unwrap_or_else(|| cmd.get_name())
}

fn man(cmd: clap::Command) -> Man {
    let title = page_name(&cmd).to_uppercase();
    Man::new(cmd)
        .title(title)
        .section(SECTION)
        // No date (it would change with every build), but not an empty one either: roff
        // writes an empty argument as nothing, and .TH would take the source for the date
        // and the manual's name for the source. A space is quoted, and prints as nothing.
        .date(" ")
        .source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
        .manual("User Commands")
}

/// The sections clap_mangen renders, after the title and a request for no hyphenation and
/// a ragged right margin: a flag broken at a line end, or a hyphen groff added to a word,
/// would be copied wrong from the terminal.
fn render_common(man: &Man, out: &mut Vec<u8>) {
    let writing = "writing to a Vec cannot fail";
    man.render_title(out).expect(writing);
    let mut layout = Roff::new();
    layout.control("nh", []).control("ad", ["l"]);
    layout.to_writer(out).expect(writing);
    man.render_name_section(out).expect(writing);
    man.render_synopsis_section(out).expect(writing);
    man.render_description_section(out).expect(writing);
    man.render_options_section(out).expect(writing);
}

/// fsnotify-gadget(1): the trace, its options, and every section `--help` has.
fn main_page(cmd: clap::Command, see_also: &[(&str, &str)]) -> Vec<u8> {
    // The description without `--help`'s examples: the page has its own EXAMPLES section.
    let man = man(cmd.long_about(DESCRIPTION).subcommand_value_name("COMMAND"));
    let mut out = vec![];
    let writing = "writing to a Vec cannot fail";
    render_common(&man, &mut out);
    man.render_subcommands_section(&mut out).expect(writing);

    let mut r = Roff::new();
    r.control("SH", ["FIELDS"]);
    r.text([roman(
        "The values of --fields, separated by commas; tracer_comm and tracer.comm are the same \
         field. JSON nests the tracer.* and tracee.* fields in objects.",
    )]);
    r.text([roman(super::fields_notes())]);
    for (title, group) in fields::groups() {
        r.control("SS", [title]);
        for field in group {
            r.control("TP", []);
            r.text([bold(field.name)]);
            r.text([roman(field.help)]);
        }
    }

    r.control("SH", ["BACKENDS"]);
    r.text([roman("What each --backend fills; auto picks the best one the kernel allows and says which on stderr.")]);
    for backend in BackendChoice::value_variants() {
        let fills = match backend {
            BackendChoice::Auto => continue,
            BackendChoice::Fentry | BackendChoice::Kprobe => "Fills every field.".to_string(),
            BackendChoice::Tracepoint => format!(
                "Fills every field but {} (null in JSON, blank in columns).",
                crate::backend::tracepoint::UNFILLED_FIELDS.join(", ")
            ),
        };
        let value = backend.to_possible_value().expect("no backend is skipped");
        r.control("TP", []);
        r.text([bold(value.get_name())]);
        let help = value.get_help().map(|h| h.to_string()).unwrap_or_default();
        r.text([roman(format!("{}. {fills}", help.trim_end_matches('.')))]);
    }

    r.control("SH", ["EXAMPLES"]);
    for (example, what) in EXAMPLES {
        r.control("TP", []);
        r.text([bold(example)]);
        r.text([roman(what)]);
    }

    r.control("SH", ["SIGNALS"]);
    for (signals, what) in [
        (
            "SIGINT, SIGTERM, SIGHUP",
            "End the trace after draining what the kernel already sent, print the summary line \
             and leave nothing loaded; --timeout does the same.",
        ),
        ("SIGUSR1", "Print a --stats line on stderr; tracing goes on."),
    ] {
        r.control("TP", []);
        r.text([bold(signals)]);
        r.text([roman(what)]);
    }

    r.control("SH", ["EXIT STATUS"]);
    for (status, what) in [
        ("0", "Success, also when the reader of stdout went away (| head -1)."),
        (
            "1",
            "An error, told on stderr in one line that begins \"fsnotify-gadget: error:\" \
             (missing capabilities, no BTF, a backend this kernel refuses, ...).",
        ),
        ("2", "A bad command line: one line on stderr naming the flag and the value."),
    ] {
        r.control("TP", []);
        r.text([bold(status)]);
        r.text([roman(what)]);
    }

    see_also_section(&mut r, see_also);
    r.to_writer(&mut out).expect(writing);
    out
}

/// fsnotify-gadget-list(1) and the like: what clap_mangen renders, and SEE ALSO.
fn subcommand_page(cmd: clap::Command, see_also: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![];
    render_common(&man(cmd), &mut out);
    let mut r = Roff::new();
    see_also_section(&mut r, see_also);
    r.to_writer(&mut out).expect("writing to a Vec cannot fail");
    out
}

fn see_also_section(r: &mut Roff, pages: &[(&str, &str)]) {
    r.control("SH", ["SEE ALSO"]);
    let mut line: Vec<Inline> = vec![];
    for (i, (name, section)) in pages.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.push(bold(*name));
        line.push(roman(format!("({section})")));
    }
    r.text(line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Every long flag of `cmd` and its visible subcommands, `--help` included.
    fn long_flags(cmd: &clap::Command) -> Vec<String> {
        cmd.get_arguments().filter(|a| !a.is_hide_set()).filter_map(|a| a.get_long()).map(|l| format!("--{l}")).collect()
    }

    fn built() -> clap::Command {
        let mut cmd = super::super::command();
        cmd.build();
        cmd
    }

    /// What bash completes at the end of `line` with the script `script` loaded.
    fn bash_offers(script: &Path, line: &str) -> Vec<String> {
        let program = r#"
            source "$1"
            f=$(complete -p fsnotify-gadget | sed -E 's/.* -F ([^ ]+) .*/\1/')
            read -ra COMP_WORDS <<< "$2"
            [[ $2 == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            COMP_LINE=$2
            COMP_POINT=${#2}
            prev=""
            (( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}
            "$f" fsnotify-gadget "${COMP_WORDS[COMP_CWORD]}" "$prev"
            printf '%s\n' "${COMPREPLY[@]}"
        "#;
        let out = Command::new("bash").args(["-c", program, "bash"]).arg(script).arg(line).output().unwrap();
        assert!(out.status.success(), "bash: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_string()).collect()
    }

    /// What fish completes at the end of `line` with the script `script` loaded (each
    /// candidate without its description).
    fn fish_offers(script: &Path, line: &str) -> Vec<String> {
        let out = Command::new("fish")
            .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
            .arg(script)
            .arg(line)
            .output()
            .unwrap();
        assert!(out.status.success(), "fish: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').next().unwrap_or_default().to_string()).collect()
    }

    fn visible_subcommands(cmd: &clap::Command) -> Vec<&clap::Command> {
        cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help").collect()
    }

    /// `man -l PAGE` as a reader sees it, 80 columns, through no pager.
    fn man_l(page: &Path) -> String {
        let out = Command::new("man")
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("LC_ALL", "C.UTF-8")
            .args(["-P", "cat", "-l"])
            .arg(page)
            .output()
            .expect("run man (scripts/install-deps.sh installs man-db and groff-base)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "man -l {}: {}: {stderr}", page.display(), out.status);
        // groff warns on stderr about roff it cannot lay out (a line that cannot be
        // broken, a bad request): the page must have none.
        assert!(stderr.trim().is_empty(), "man -l {} warned: {stderr}", page.display());
        String::from_utf8(out.stdout).expect("the rendered page is UTF-8")
    }

    /// The text of a rendered page without overstriking (bold and underline as `x\bx`, if
    /// the formatter emits them).
    fn plain(rendered: &str) -> String {
        let mut s = String::new();
        for c in rendered.chars() {
            if c == '\u{8}' {
                s.pop();
            } else {
                s.push(c);
            }
        }
        s
    }

    #[test]
    fn docs_are_generated_and_man_renders_every_page() {
        let dir = std::env::temp_dir().join(format!("fsg-docs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let written = write(&dir).unwrap();
        let cmd = built();
        let subcommands = visible_subcommands(&cmd);
        for name in ["list", "serve", "docs"] {
            assert!(subcommands.iter().any(|s| s.get_name() == name), "no {name} subcommand");
        }

        // One page for the trace and one per subcommand, each listed in the main page's
        // SEE ALSO.
        let man_dir = dir.join(MAN_DIR);
        let mut pages = vec![(man_dir.join("fsnotify-gadget.1"), &cmd)];
        for sub in &subcommands {
            pages.push((man_dir.join(format!("fsnotify-gadget-{}.1", sub.get_name())), *sub));
        }
        let mut expected: Vec<PathBuf> = pages.iter().map(|(p, _)| p.clone()).collect();
        expected.extend(COMPLETIONS.iter().map(|(_, p)| dir.join(p)));
        assert_eq!(written, expected);

        for (page, cmd) in &pages {
            let text = plain(&man_l(page));
            for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SEE ALSO"] {
                assert!(text.lines().any(|l| l == section), "{}: no {section} section:\n{text}", page.display());
            }
            // Each flag once in its own item: the rendered text has it, unbroken.
            for flag in long_flags(cmd) {
                assert!(text.contains(&flag), "{}: {flag} missing:\n{text}", page.display());
            }
            if let Some(about) = cmd.get_about() {
                let first_words: String = about.to_string().split_whitespace().take(4).collect::<Vec<_>>().join(" ");
                assert!(text.contains(&first_words), "{}: the about {first_words:?} missing:\n{text}", page.display());
            }
        }

        // The header and footer: title(section), the source with the version, the manual.
        let main = plain(&man_l(&pages[0].0));
        let first = main.lines().next().unwrap_or_default();
        let last = main.lines().rfind(|l| !l.trim().is_empty()).unwrap_or_default();
        assert!(first.starts_with("FSNOTIFY-GADGET(1)") && first.contains("User Commands"), "{first}");
        assert!(last.contains(&format!("fsnotify-gadget {}", env!("CARGO_PKG_VERSION"))), "{last}");
        for section in ["FIELDS", "BACKENDS", "EXAMPLES", "SIGNALS", "EXIT STATUS"] {
            assert!(main.lines().any(|l| l == section), "no {section} section:\n{main}");
        }
        for needle in [
            "fsnotify-gadget - Shows who watches which files",
            "--inotify-only",
            "Show only inotify events",
            "--backend",
            "tracepoint",
            "fsnotify-gadget-list(1)",
            "fsnotify-gadget-serve(1)",
            "inotify(7)",
            "sudo fsnotify-gadget --fanotify-only -o json --timeout 10",
            "[default: columns]",
        ] {
            assert!(main.contains(needle), "fsnotify-gadget.1 lacks {needle:?}:\n{main}");
        }
        // Every field's name, each beginning its own list item.
        for field in fields::all() {
            let item = |l: &str| l.trim_start().strip_prefix(field.name).is_some_and(|rest| rest.is_empty() || rest.starts_with(' '));
            assert!(main.lines().any(item), "field {} is not an item:\n{main}", field.name);
        }
        // `--help`'s example block is not run together into one paragraph.
        assert!(!main.contains("Examples:"), "{main}");
        let list = plain(&man_l(&pages[1].0));
        assert!(list.contains("fsnotify-gadget list") && list.contains("--watches") && list.contains("fsnotify-gadget(1)"), "{list}");

        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn completions_know_every_subcommand_and_flag_and_parse() {
        let dir = std::env::temp_dir().join(format!("fsg-completions-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir).unwrap();
        let cmd = built();
        let mut words: Vec<String> = long_flags(&cmd);
        for sub in visible_subcommands(&cmd) {
            words.push(sub.get_name().to_string());
            words.extend(long_flags(sub));
        }
        for (shell, path) in COMPLETIONS {
            let script = std::fs::read_to_string(dir.join(path)).unwrap();
            for word in &words {
                // fish names flags without their dashes: `-l inotify-only`.
                let word = if shell == Shell::Fish { word.trim_start_matches('-') } else { word };
                assert!(script.contains(word), "{shell} completion lacks {word}");
            }
            // The value enums are offered: -o's and --backend's values.
            for value in ["columns", "json", "fentry", "kprobe", "tracepoint"] {
                assert!(script.contains(value), "{shell} completion lacks {value}");
            }
        }
        // Each parses in its own shell (scripts/install-deps.sh installs zsh and fish).
        for (i, shell, check) in [(0, "bash", "-n"), (1, "zsh", "-n"), (2, "fish", "--no-execute")] {
            let path = dir.join(COMPLETIONS[i].1);
            let out = Command::new(shell)
                .arg(check)
                .arg(&path)
                .output()
                .unwrap_or_else(|e| panic!("cannot run {shell} ({e}): scripts/install-deps.sh installs it"));
            assert!(out.status.success(), "{shell} {check} {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        }
        // What each shell offers at a few points of a command line: the subcommands, the
        // flags, a value enum's values (zsh has no way to ask outside a terminal).
        let bash = dir.join(COMPLETIONS[0].1);
        let fish = dir.join(COMPLETIONS[2].1);
        for (line, want) in [
            ("fsnotify-gadget --inotify-o", "--inotify-only"),
            ("fsnotify-gadget li", "list"),
            ("fsnotify-gadget --backend ", "tracepoint"),
            ("fsnotify-gadget --inotify-only -o ", "json"),
            ("fsnotify-gadget list --wat", "--watches"),
            ("fsnotify-gadget list -o ", "columns"),
            ("fsnotify-gadget serve --metrics-l", "--metrics-labels"),
        ] {
            let offered = bash_offers(&bash, line);
            assert!(offered.iter().any(|w| w == want), "bash offers {offered:?} for {line:?}, not {want}");
            let offered = fish_offers(&fish, line);
            assert!(offered.iter().any(|w| w == want), "fish offers {offered:?} for {line:?}, not {want}");
        }

        let _ = std::fs::remove_dir_all(&dir);
    }
}
