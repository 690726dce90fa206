//! Bad input: a one-line error that names the problem, a non-zero exit, no panic.

mod common;

use common::*;

/// Runs wl-user and returns (exit code, stderr), checking the error is one line.
fn fails(args: &[&str]) -> (i32, String) {
    let out = wl(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "wl-user {args:?} succeeded");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
    (out.status.code().unwrap(), stderr)
}

fn one_line_error(stderr: &str, needle: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("wl-user: error: "), "{stderr}");
    assert!(lines[0].contains(needle), "expected {needle:?} in {stderr}");
}

#[test]
fn histogram_outside_the_table_is_refused_before_anything_runs() {
    let marker = std::env::temp_dir().join(format!("wl-hist-ran-{}", std::process::id()));
    let (code, err) = fails(&[
        "run",
        "--histogram",
        "--format",
        "json",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    assert_eq!(code, wl_tests::OWN_ERROR);
    one_line_error(&err, "--histogram draws text bars under the table");
    assert!(!marker.exists(), "the workload ran");
}

#[test]
fn command_not_found_exits_127() {
    let (code, err) = fails(&["run", "--", "no-such-command-for-wl"]);
    assert_eq!(code, 127);
    one_line_error(&err, "no-such-command-for-wl: command not found");
}

#[test]
fn command_not_executable_exits_126() {
    let file = std::env::temp_dir().join(format!("wl-not-exec-{}", std::process::id()));
    std::fs::write(&file, "#!/bin/sh\n").unwrap();
    let (code, err) = fails(&["run", "--", file.to_str().unwrap()]);
    assert_eq!(code, 126);
    one_line_error(&err, "not an executable file");
    // Executable bits, but not a format the kernel runs.
    std::fs::write(&file, "\x01\x02 not a program").unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (code, err) = fails(&["run", "--", file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(code, 126);
    one_line_error(&err, "cannot execute the command: Exec format error");
}

#[test]
fn pid_that_does_not_exist() {
    let (code, err) = fails(&["attach", "--pid", "999999999"]);
    assert_eq!(code, wl_tests::OWN_ERROR);
    one_line_error(&err, "--pid 999999999: no such process");
}

#[test]
fn kernel_threads_are_refused() {
    // kthreadd: it makes no system calls, so tracing it would report nothing.
    let (code, err) = fails(&["attach", "--pid", "2"]);
    assert_eq!(code, wl_tests::OWN_ERROR);
    one_line_error(
        &err,
        "--pid 2 is a kernel thread (kthreadd): kernel threads make no system calls",
    );
}

#[test]
fn cgroup_that_is_not_cgroup_v2() {
    let (_, err) = fails(&["attach", "--cgroup", "/tmp"]);
    one_line_error(&err, "--cgroup /tmp: not a cgroup v2 directory");
    let (_, err) = fails(&["attach", "--cgroup", "/no/such/dir"]);
    one_line_error(&err, "--cgroup /no/such/dir: no such directory");
    // The cause once, not again in the system's words.
    assert!(!err.contains("No such file or directory"), "{err}");
}

#[test]
fn unwritable_output_fails_before_the_workload_starts() {
    let marker = std::env::temp_dir().join(format!("wl-marker-{}", std::process::id()));
    let (_, err) = fails(&[
        "run",
        "--output",
        "/no/such/dir/report.txt",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    one_line_error(&err, "cannot open --output file /no/such/dir/report.txt");
    assert!(
        !marker.exists(),
        "the workload ran although the report could not be written"
    );
}

#[test]
fn unknown_flags_and_missing_targets_are_usage_errors() {
    // wl-user's own errors exit 125, never a status the command could give: env(1)'s
    // convention.
    let (code, err) = fails(&["run", "--bogus", "--", "true"]);
    assert_eq!(code, wl_tests::OWN_ERROR);
    assert!(
        err.starts_with("error: unexpected argument '--bogus'"),
        "{err}"
    );
    let (code, err) = fails(&["attach"]);
    assert_eq!(code, wl_tests::OWN_ERROR);
    assert!(err.contains("--pid") && err.contains("--cgroup"), "{err}");
    let (code, _) = fails(&["attach", "--pid", "1", "--duration", "soon"]);
    assert_eq!(code, wl_tests::OWN_ERROR);
    // --kernel-src belongs to the subcommands that name syscalls.
    let (code, err) = fails(&["check", "--kernel-src", "/tmp"]);
    assert_eq!(code, wl_tests::OWN_ERROR);
    assert!(err.contains("unexpected argument '--kernel-src'"), "{err}");
    // diff keeps diff(1)'s 2 for trouble; help and version are no errors.
    let (code, _) = fails(&["diff", "--bogus"]);
    assert_eq!(code, 2);
    for ok in [&["--version"][..], &["run", "--help"], &["help"]] {
        let out = wl(ok);
        assert_eq!(out.status.code(), Some(0), "{ok:?}");
        assert!(!out.stdout.is_empty(), "{ok:?}");
    }
}

#[test]
fn without_privileges_says_what_is_needed() {
    let Some(out) = wl_unprivileged(&["run", "--", "true"]) else {
        return;
    };
    assert_eq!(out.status.code(), Some(wl_tests::OWN_ERROR));
    one_line_error(
        &String::from_utf8_lossy(&out.stderr),
        "needs root, or the CAP_BPF and CAP_PERFMON capabilities",
    );
}
