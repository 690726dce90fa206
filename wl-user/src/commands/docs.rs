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
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "wl-user", &mut script);
    match io::stdout().lock().write_all(&script) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write the completion script to standard output")
        }
        _ => Ok(()),
    }
}

pub fn man(dir: &Path) -> Result<()> {
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write manual pages into --dir {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
