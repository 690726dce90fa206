//! `wl-user completions SHELL` and the hidden `wl-user man --dir DIR`: shell completions
//! and manual pages, both generated from the command-line definition itself so that they
//! cannot drift from `--help`.

use std::{
    io::{self, Write},
    path::Path,
};

use anyhow::{Context as _, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

pub fn completions(shell: Shell) -> Result<()> {
    // Rendered into memory first: clap_complete panics on a failed write, and a reader
    // that went away (`| head`) is not an error here.
    let script = completion_script(shell);
    match io::stdout().lock().write_all(&script) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write the completion script to standard output")
        }
        _ => Ok(()),
    }
}

/// The completion script for `shell`. clap_complete's bash script names the function
/// of each subcommand after the binary with every `-` replaced, but the dispatch that
/// picks the function replaces it differently (`wl__subcmd__user__subcmd__run` against
/// `wl__user__subcmd__run`), so for a binary with a hyphen nothing past the subcommand
/// completed. The dispatch's names are put right here.
fn completion_script(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "wl-user", &mut script);
    if shell == Shell::Bash {
        let text = String::from_utf8_lossy(&script).replace("wl__subcmd__user__", "wl__user__");
        script = text.into_bytes();
    }
    script
}

pub fn man(dir: &Path) -> Result<()> {
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write manual pages into --dir {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What bash offers for the words of `line` (the last one being completed), with
    /// the script loaded as bash-completion would.
    fn bash_completes(line: &[&str]) -> Vec<String> {
        let script = String::from_utf8(completion_script(Shell::Bash)).unwrap();
        let words = line
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let cword = line.len() - 1;
        let prev = if cword > 0 { line[cword - 1] } else { "" };
        let program = format!(
            "{script}\nCOMP_WORDS=({words}); COMP_CWORD={cword}; _wl__user wl-user '{}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            line[cword]
        );
        let out = std::process::Command::new("bash")
            .args(["--norc", "-c", &program])
            .output()
            .expect("bash");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn bash_completes_past_the_subcommand() {
        assert_eq!(bash_completes(&["wl-user", "ru"]), ["run"]);
        // Before the fix, nothing: the subcommand's function was never reached.
        let flags = bash_completes(&["wl-user", "run", "--fo"]);
        assert_eq!(flags, ["--format"]);
        let formats = bash_completes(&["wl-user", "run", "--format", ""]);
        for f in ["table", "json", "csv", "md", "rst", "svg"] {
            assert!(formats.iter().any(|x| x == f), "{f} not in {formats:?}");
        }
        let abis = bash_completes(&["wl-user", "syscalls", "--arch", ""]);
        assert!(abis.iter().any(|x| x == "x86_64"), "{abis:?}");
    }

    /// The package installs one page per visible subcommand; a hidden one (`man`) or
    /// clap's `help` must not get a page.
    #[test]
    fn man_writes_one_page_per_visible_subcommand() {
        let dir = std::env::temp_dir().join(format!("wl-man-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        man(&dir).unwrap();
        let mut pages: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        pages.sort();
        let page = std::fs::read_to_string(dir.join("wl-user-run.1")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        for expected in [
            "wl-user.1",
            "wl-user-run.1",
            "wl-user-attach.1",
            "wl-user-syscalls.1",
            "wl-user-completions.1",
        ] {
            assert!(
                pages.iter().any(|p| p == expected),
                "{expected} in {pages:?}"
            );
        }
        assert!(
            !pages
                .iter()
                .any(|p| p.contains("-man.") || p.contains("-help."))
        );
        assert!(
            page.contains("no\\-latency"),
            "run's page lists its options"
        );
    }

    #[test]
    fn bash_completion_knows_the_subcommands() {
        let mut script = Vec::new();
        clap_complete::generate(Shell::Bash, &mut Cli::command(), "wl-user", &mut script);
        let script = String::from_utf8(script).unwrap();
        let top = script
            .lines()
            .find(|l| l.trim_start().starts_with("opts=\"-h -V"))
            .expect("the top-level word list");
        for sub in ["run", "attach", "syscalls", "completions"] {
            assert!(top.split(['"', ' ']).any(|w| w == sub), "{sub} in {top}");
        }
        assert!(
            script.contains("-o default wl-user\n"),
            "registered for the installed name"
        );
    }
}
