//! `wl-user check`: what the kernel offers, proven by loading the real programs.

mod common;

use std::process::Command;

use common::*;

#[test]
fn check_loads_the_programs_and_says_wl_can_trace() {
    require_root();
    let out = wl(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for what in [
        "privileges",
        "BTF",
        "kernel fields",
        "tracepoints",
        "task storage",
        "programs",
    ] {
        assert!(
            text.lines().any(|l| l
                .strip_prefix(what)
                .is_some_and(|rest| rest.trim_start().starts_with("ok "))),
            "no ok line for {what}:\n{text}"
        );
    }
    assert!(text.contains("wl can trace"), "{text}");
}

#[test]
fn check_without_privileges_says_so_and_fails() {
    if Command::new("setpriv").arg("--help").output().is_err() {
        cannot_run("setpriv (util-linux) is not installed");
        return;
    }
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(wl_user())
        .arg("check")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("privileges") && l.contains("NO ") && l.contains("CAP_BPF")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("programs") && l.contains("NO not tried")),
        "{text}"
    );
}
