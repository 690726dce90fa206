//! The README's examples, run as written wherever they can run here: a new user's first
//! commands must work. Left out are those that need what a test machine lacks (a
//! network, a given pid or service, a kernel tree, two saved reports) or take minutes
//! (perf bench all, stress-ng -t 60), and the daemon; the rest run in a scratch
//! directory, `sudo` dropped (the tests run as root), one after the other, so that a
//! file one example writes is there for the next (the seccomp profile).

mod common;

use std::{path::Path, process::Command, time::Duration};

use common::*;

/// Words that make an example one this machine cannot run as written.
const CANNOT_RUN_HERE: &[&str] = &[
    "perf bench all",
    "stress-ng",
    "curl",
    "attach",
    "serve",
    "diff",
    "~/linux",
];

/// The example commands of the README's "Use" section, without their comments.
fn examples() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let start = readme.find("\n## Use\n").expect("a Use section");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split("  # ").next().unwrap().trim().to_owned())
        .collect()
}

#[test]
fn the_readme_examples_run_as_written() {
    require_root();
    let all = examples();
    assert!(
        all.len() >= 15,
        "the Use section was not found whole: {all:?}"
    );
    let dir = std::env::temp_dir().join(format!("wl-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin_dir = wl_user().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = Vec::new();
    for example in &all {
        if CANNOT_RUN_HERE.iter().any(|w| example.contains(w)) {
            continue;
        }
        let line = example.strip_prefix("sudo ").unwrap_or(example);
        assert!(
            line.starts_with("wl-user "),
            "not a wl-user example: {example}"
        );
        let child = Command::new("sh")
            .args(["-c", line])
            .current_dir(&dir)
            .env("PATH", &path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = output_with_timeout(child, Duration::from_secs(120));
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The workload may fail (make finds no makefile here, and says so); wl-user
        // itself must not, and must report.
        let code = out.status.code();
        assert!(
            !matches!(code, Some(125..=127) | None),
            "{example}: exit {code:?}\n{stderr}"
        );
        assert!(!stderr.contains("wl-user: error"), "{example}:\n{stderr}");
        if line.starts_with("wl-user run") {
            let report = [&out.stderr[..], &out.stdout[..]].concat();
            let files: Vec<_> = ["report.json", "wl.svg"]
                .iter()
                .filter(|f| line.contains(*f))
                .collect();
            assert!(
                !files.is_empty()
                    || String::from_utf8_lossy(&report).contains(" total")
                    || String::from_utf8_lossy(&report).contains("System Call"),
                "{example}: no report\n{stderr}"
            );
            for f in files {
                assert!(
                    Path::new(&dir)
                        .join(f)
                        .metadata()
                        .is_ok_and(|m| m.len() > 0),
                    "{example}: {f} not written"
                );
            }
        }
        ran.push(example.clone());
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // Each kind of example that can run here did.
    for needle in [
        "syscalls openat",
        "check",
        "--seccomp p.json",
        "-S errors",
        "svg",
    ] {
        assert!(
            ran.iter().any(|e| e.contains(needle)),
            "no example with {needle} ran: {ran:?}"
        );
    }
}
