//! `wl-user check`: what the kernel offers, proven by loading the real programs.

mod common;

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
        "serve",
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
    let Some(out) = wl_unprivileged(&["check"]) else {
        return;
    };
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
