//! Seccomp profiles from a run, proven by re-running under them: a profile written
//! from a run lets the same workload run unchanged, and one with a syscall taken out
//! denies exactly that syscall's calls, counted by name and ABI.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// A file name of its own: the tests of this file run at the same time.
fn scratch(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("wl-seccomp-{}-{n}-{name}", std::process::id()))
}

/// `wl-user run ARGS -- CMD` with a JSON report; returns the report and the exit code.
fn run(args: &[&str], cmd: &[&str]) -> (Value, i32) {
    let report = scratch("report.json");
    let mut all = vec!["run", "--format", "json", "-o", report.to_str().unwrap()];
    all.extend_from_slice(args);
    all.push("--");
    all.extend_from_slice(cmd);
    let out = wl_within(&all, std::time::Duration::from_secs(600));
    let text = std::fs::read(&report).unwrap_or_else(|_| {
        panic!(
            "no report from {all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    std::fs::remove_file(&report).unwrap();
    (parse_json(&text), out.status.code().unwrap_or(-1))
}

fn testload_cmd() -> Vec<String> {
    vec![testload().to_str().unwrap().to_owned()]
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Records a profile of `cmd`; returns it with the recording's report and exit code.
fn record(cmd: &[&str], profile: &Path) -> (Value, i32) {
    run(&["--seccomp-out", profile.to_str().unwrap()], cmd)
}

fn denied(report: &Value) -> Vec<(String, String, u64)> {
    listed(report, "denied")
}

/// The seccomp section's `denied` or `logged` rows: (name, ABI, calls).
fn listed(report: &Value, which: &str) -> Vec<(String, String, u64)> {
    report["seccomp"][which]
        .as_array()
        .unwrap_or_else(|| panic!("no seccomp section: {report}"))
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_owned(),
                d["abi"].as_str().unwrap().to_owned(),
                d["calls"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The profile at `path` without `name`.
fn without(path: &Path, name: &str, out: &Path) {
    let mut p: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let names = p["syscalls"][0]["names"].as_array_mut().unwrap();
    let before = names.len();
    names.retain(|n| n != name);
    assert_eq!(names.len(), before - 1, "{name} was not in the profile");
    std::fs::write(out, serde_json::to_vec(&p).unwrap()).unwrap();
}

#[test]
fn a_recorded_profile_runs_the_same_workload_unchanged() {
    require_root();
    let profile = scratch("testload.json");
    let cmd = testload_cmd();
    let (first, code) = record(&as_strs(&cmd), &profile);
    assert_eq!(code, wl_tests::EXIT_STATUS);
    let p: Value = serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
    assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
    let names: Vec<&str> = p["syscalls"][0]["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    // The workload's own execve, nothing of wl-user's set-up (its kill and prctl).
    assert!(
        names.contains(&"execve") && names.contains(&"getppid"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"seccomp") && !names.contains(&"kill"),
        "{names:?}"
    );
    if cfg!(target_arch = "x86_64") {
        assert_eq!(
            p["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        );
    }

    let (second, code) = run(&["--seccomp", profile.to_str().unwrap()], &as_strs(&cmd));
    std::fs::remove_file(&profile).unwrap();
    assert_eq!(code, wl_tests::EXIT_STATUS);
    assert_eq!(denied(&second), [], "{}", second["seccomp"]);
    // Applied as written: nothing replaced its actions.
    assert!(
        second["seccomp"].get("replaced").is_none(),
        "{}",
        second["seccomp"]
    );
    // Installing the filter is wl-user's doing, not the workload's: the counts are the
    // same as without a profile.
    assert_workload_counts(&second, 1, true);
    assert_eq!(rows(&second), rows(&first));
}

#[test]
fn a_profile_without_a_syscall_denies_exactly_its_calls() {
    require_root();
    let profile = scratch("full.json");
    let cut = scratch("no-getppid.json");
    let cmd = testload_cmd();
    record(&as_strs(&cmd), &profile);
    without(&profile, "getppid", &cut);
    std::fs::remove_file(&profile).unwrap();

    // errno: each call fails with EPERM, the workload goes on.
    let (report, code) = run(&["--seccomp", cut.to_str().unwrap()], &as_strs(&cmd));
    assert_eq!(code, wl_tests::EXIT_STATUS);
    let expected = every_getppid();
    assert_eq!(denied(&report), expected);
    assert_eq!(report["seccomp"]["denied"][0]["action"], "SCMP_ACT_ERRNO");
    assert_eq!(report["seccomp"]["denied"][0]["effect"], "EPERM");
    // A denied call never runs: it is not among the calls.
    assert_eq!(calls(&rows(&report), "getppid"), 0);
    assert_eq!(
        calls(&rows(&report), "getpgid"),
        wl_tests::THREADS * wl_tests::THREAD_GETPGID
    );

    // kill: the first getppid, the main process's first own call, kills it.
    let (report, code) = run(
        &[
            "--seccomp",
            cut.to_str().unwrap(),
            "--seccomp-action",
            "kill",
        ],
        &as_strs(&cmd),
    );
    assert_eq!(code, 128 + libc::SIGSYS);
    assert_eq!(
        denied(&report),
        [("getppid".to_owned(), "x86_64".to_owned(), 1)]
    );

    assert_eq!(
        report["seccomp"]["denied"][0]["action"],
        "SCMP_ACT_KILL_PROCESS"
    );

    // log: the calls run and are counted, and reported as logged.
    let (report, code) = run(
        &[
            "--seccomp",
            cut.to_str().unwrap(),
            "--seccomp-action",
            "log",
        ],
        &as_strs(&cmd),
    );
    std::fs::remove_file(&cut).unwrap();
    assert_eq!(code, wl_tests::EXIT_STATUS);
    assert_workload_counts(&report, 1, true);
    assert_eq!(denied(&report), []);
    assert_eq!(listed(&report, "logged"), expected);
}

/// Every getppid call of the test workload, as (name, ABI, calls) rows.
fn every_getppid() -> Vec<(String, String, u64)> {
    let mut rows = vec![(
        "getppid".to_owned(),
        "x86_64".to_owned(),
        wl_tests::MAIN_GETPPID,
    )];
    if cfg!(target_arch = "x86_64") {
        rows.push(("getppid".into(), "i386".into(), wl_tests::I386_GETPPID));
    }
    rows
}

/// A profile written by hand, in a file of its own.
fn profile_file(json: Value) -> PathBuf {
    let p = scratch("profile.json");
    std::fs::write(&p, serde_json::to_vec(&json).unwrap()).unwrap();
    p
}

/// Both ABIs the test workload uses, so that its i386 calls meet the rules too.
fn architectures() -> Value {
    if cfg!(target_arch = "x86_64") {
        serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
    } else {
        serde_json::json!(["SCMP_ARCH_AARCH64"])
    }
}

/// A deny-list: everything runs but the calls named, each with its own action; the
/// profile's defaultAction is what every other call gets, not --seccomp-action's.
#[test]
fn a_deny_list_profile_is_applied_as_written() {
    require_root();
    let profile = profile_file(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": architectures(),
        "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["umask"], "action": "SCMP_ACT_LOG"}
        ]
    }));
    let cmd = testload_cmd();
    let (report, code) = run(&["--seccomp", profile.to_str().unwrap()], &as_strs(&cmd));
    std::fs::remove_file(&profile).unwrap();
    // Everything else ran: the workload ends as it always does.
    assert_eq!(code, wl_tests::EXIT_STATUS);
    let expected = every_getppid();
    assert_eq!(denied(&report), expected);
    for d in report["seccomp"]["denied"].as_array().unwrap() {
        assert_eq!(d["effect"], "EACCES", "{d}");
    }
    assert_eq!(calls(&rows(&report), "getppid"), 0);
    assert_eq!(
        calls(&rows(&report), "getpgid"),
        wl_tests::THREADS * wl_tests::THREAD_GETPGID
    );
    // The logged calls ran, and are counted as such.
    assert_eq!(calls(&rows(&report), "umask"), wl_tests::ORPHAN_UMASK);
    assert_eq!(
        listed(&report, "logged"),
        [(
            "umask".to_owned(),
            "x86_64".to_owned(),
            wl_tests::ORPHAN_UMASK
        )]
    );
}

/// An allow-list whose default kills: the first call outside it kills the process, and
/// the report says it was a kill.
#[test]
fn a_default_kill_profile_kills() {
    require_root();
    let profile = scratch("full.json");
    let cmd = testload_cmd();
    record(&as_strs(&cmd), &profile);
    let mut p: Value = serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
    std::fs::remove_file(&profile).unwrap();
    p["defaultAction"] = "SCMP_ACT_KILL_PROCESS".into();
    p.as_object_mut().unwrap().remove("defaultErrnoRet");
    p["syscalls"][0]["names"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n != "getppid");
    let profile = profile_file(p);
    let (report, code) = run(&["--seccomp", profile.to_str().unwrap()], &as_strs(&cmd));
    std::fs::remove_file(&profile).unwrap();
    assert_eq!(code, 128 + libc::SIGSYS);
    assert_eq!(
        denied(&report),
        [("getppid".to_owned(), "x86_64".to_owned(), 1)]
    );
    let d = &report["seccomp"]["denied"][0];
    assert_eq!(d["action"], "SCMP_ACT_KILL_PROCESS");
    assert_eq!(d["effect"], "process killed");
}

/// Profiles that cannot be applied as written are refused in one line, before the
/// workload runs; so is a --seccomp-out path that cannot be written.
#[test]
fn what_cannot_be_applied_is_refused_before_anything_runs() {
    require_root();
    let marker = scratch("ran");
    for (json, needle) in [
        (
            serde_json::json!({"defaultAction": "SCMP_ACT_BOGUS", "syscalls": []}),
            "defaultAction: action 'SCMP_ACT_BOGUS' is not a seccomp action",
        ),
        (
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_BOGUS"}]}),
            "the rule for mount: action 'SCMP_ACT_BOGUS' is not a seccomp action",
        ),
        (
            // An empty allow-list: nothing, not even the command's execve, may run.
            serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}),
            "the profile does not allow execve (SCMP_ACT_ERRNO), so no command can start under it",
        ),
        (serde_json::json!([1, 2]), "not an OCI seccomp profile"),
        (
            serde_json::json!({"syscalls": 3}),
            "not an OCI seccomp profile",
        ),
    ] {
        let profile = profile_file(json);
        let out = wl(&[
            "run",
            "--seccomp",
            profile.to_str().unwrap(),
            "--",
            "touch",
            marker.to_str().unwrap(),
        ]);
        std::fs::remove_file(&profile).unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(wl_tests::OWN_ERROR),
            "{needle}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(!marker.exists(), "{needle}: the workload ran");
    }
    let out = wl(&[
        "run",
        "--seccomp-out",
        "/nonexistent/dir/p.json",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(wl_tests::OWN_ERROR), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot write --seccomp-out /nonexistent/dir/p.json"),
        "{err}"
    );
    assert!(
        !marker.exists(),
        "the workload ran before --seccomp-out was checked"
    );
}

#[test]
fn the_syscall_benchmark_proves_its_profile() {
    require_root();
    if !has_tool("perf") {
        return;
    }
    let profile = scratch("perf.json");
    let cut = scratch("perf-no-getppid.json");
    let cmd = ["perf", "bench", "syscall", "basic", "-l", "100000"];
    let (_, code) = record(&cmd, &profile);
    assert_eq!(code, 0);
    let (report, code) = run(&["--seccomp", profile.to_str().unwrap()], &cmd);
    assert_eq!(code, 0);
    assert_eq!(denied(&report), []);
    assert_eq!(calls(&rows(&report), "getppid"), 100_000);
    without(&profile, "getppid", &cut);
    let (report, code) = run(&["--seccomp", cut.to_str().unwrap()], &cmd);
    std::fs::remove_file(&profile).unwrap();
    std::fs::remove_file(&cut).unwrap();
    assert_eq!(code, 0, "perf bench ignores getppid's result");
    assert_eq!(
        denied(&report),
        [("getppid".to_owned(), "x86_64".to_owned(), 100_000)]
    );
}

/// The guide's other two workloads, shortened: a profile recorded from a run lets the
/// next run go the same way, with nothing denied.
fn proves_its_own_profile(cmd: &[&str]) {
    require_root();
    if !has_tool(cmd[0]) {
        return;
    }
    let profile = scratch(&format!("{}.json", cmd[0]));
    let (first, code) = record(cmd, &profile);
    let (second, again) = run(&["--seccomp", profile.to_str().unwrap()], cmd);
    std::fs::remove_file(&profile).unwrap();
    assert_eq!(again, code, "{cmd:?} exits differently under its profile");
    assert_eq!(denied(&second), [], "{}", second["seccomp"]);
    assert!(!first["syscalls"].as_array().unwrap().is_empty());
}

#[test]
fn stress_ng_netdev_proves_its_profile() {
    proves_its_own_profile(&["stress-ng", "--netdev", "1", "-t", "3"]);
}

#[test]
fn paxtest_kiddie_proves_its_profile() {
    proves_its_own_profile(&["paxtest", "kiddie"]);
}

#[test]
fn profiles_from_a_saved_report_in_both_formats() {
    require_root();
    let report = scratch("saved.json");
    let out = wl(&[
        "run",
        "--format",
        "json",
        "-o",
        report.to_str().unwrap(),
        "--",
        testload().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(wl_tests::EXIT_STATUS));
    let oci = wl(&["seccomp", report.to_str().unwrap()]);
    assert!(
        oci.status.success(),
        "{}",
        String::from_utf8_lossy(&oci.stderr)
    );
    let p = parse_json(&oci.stdout);
    assert_eq!(p["syscalls"][0]["action"], "SCMP_ACT_ALLOW");
    assert!(
        p["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .contains(&"umask".into())
    );
    let systemd = wl(&["seccomp", "--format", "systemd", report.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&systemd.stdout);
    let filter = text
        .lines()
        .find_map(|l| l.strip_prefix("SystemCallFilter="))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(filter.split(' ').any(|n| n == "getpgrp"), "{filter}");
    std::fs::remove_file(&report).unwrap();

    let missing = wl(&["seccomp", "/nonexistent/report.json"]);
    assert_eq!(missing.status.code(), Some(wl_tests::OWN_ERROR));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/report.json"), "{err}");
}
