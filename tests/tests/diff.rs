//! `wl-user diff`: real reports of the test workload compared, the exit codes CI gates
//! rely on (0 pass, 1 a condition holds, 2 trouble), and what cannot be compared.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Output,
};

use common::*;

/// A directory for one test's reports, emptied first.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wl-diff-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// `wl-user run [options...] --format json -o DIR/NAME -- wl-testload --scale SCALE`.
fn record(dir: &Path, name: &str, options: &[&str], scale: u64) -> PathBuf {
    let file = dir.join(name);
    let load = testload();
    let scale = scale.to_string();
    let mut args = vec!["run"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--format", "json", "-o", path(&file), "--"]);
    args.extend_from_slice(&[load.to_str().unwrap(), "--scale", &scale]);
    let out = wl(&args);
    assert_eq!(
        out.status.code(),
        Some(wl_tests::EXIT_STATUS),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    file
}

fn diff(args: &[&str]) -> Output {
    let mut all = vec!["diff"];
    all.extend_from_slice(args);
    wl(&all)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read_report(file: &Path) -> serde_json::Value {
    parse_json(&std::fs::read(file).expect("read report"))
}

/// `(abi, name)` of every syscall in a report.
fn names(report: &serde_json::Value) -> Vec<(String, String)> {
    rows(report).into_keys().collect()
}

#[test]
fn reports_carry_a_schema_and_percentiles() {
    require_root();
    let dir = scratch("schema");
    let r = read_report(&record(&dir, "one.json", &[], 1));
    assert_eq!(r["schema"], 1);
    let getppid = r["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "getppid" && s["abi"] == NATIVE_ABI)
        .unwrap();
    let n = |f: &str| getppid[f].as_u64().unwrap();
    assert_eq!(n("timed_calls"), wl_tests::MAIN_GETPPID);
    assert!(
        0 < n("min_ns")
            && n("min_ns") <= n("p50_ns")
            && n("p50_ns") <= n("p90_ns")
            && n("p90_ns") <= n("p99_ns")
            && n("p99_ns") <= n("max_ns"),
        "{getppid}"
    );
    // exit is entered, never returns, and is not timed.
    let exit = r["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "exit_group" && s["abi"] == NATIVE_ABI)
        .unwrap();
    assert_eq!(
        (exit["p50_ns"].as_u64(), exit["p99_ns"].as_u64()),
        (Some(0), Some(0))
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn diff_shows_calls_that_grew_and_fails_the_gate() {
    require_root();
    let dir = scratch("scale");
    let base = record(&dir, "base.json", &[], 1);
    let new = record(&dir, "new.json", &[], 3);

    let out = diff(&[path(&base), path(&new)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} row: {stdout}"))
            .to_owned()
    };
    assert!(
        row("getppid").contains("1000 -> 3000 (+200.0%)"),
        "{stdout}"
    );
    assert!(
        row("getpgid").contains("1500 -> 4500 (+200.0%)"),
        "{stdout}"
    );
    assert!(row("umask").contains("400 -> 1200 (+200.0%)"), "{stdout}");
    // dup fails 17 times at every scale: unchanged, so not listed.
    assert!(!stdout.contains("\n  dup "), "{stdout}");
    assert!(stdout.contains("syscalls vanished: none"), "{stdout}");

    let out = diff(&["--format", "json", path(&base), path(&new)]);
    assert_eq!(out.status.code(), Some(0));
    let d = parse_json(&out.stdout);
    let getppid = d["syscalls"]["compared"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "getppid" && c["abi"] == "x86_64")
        .expect("getppid changed");
    assert_eq!(getppid["calls"]["base"], wl_tests::MAIN_GETPPID);
    assert_eq!(getppid["calls"]["new"], 3 * wl_tests::MAIN_GETPPID);
    assert_eq!(getppid["calls"]["changed"], true);
    assert_eq!(d["latency_compared"], true);

    let out = diff(&["--fail-on", "calls:+20%", path(&base), path(&new)]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line per condition: {stderr}"
    );
    assert!(
        stderr.starts_with("wl-user: --fail-on calls:+20% holds: ")
            && stderr.contains("getppid calls 1000 -> 3000"),
        "{stderr}"
    );
    // The same growth in reverse is a fall, which calls:+20% does not catch.
    let out = diff(&["--fail-on", "calls:+20%", path(&new), path(&base)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn identical_workloads_pass_the_gate() {
    require_root();
    let dir = scratch("same");
    let a = record(&dir, "a.json", &[], 1);
    let b = record(&dir, "b.json", &[], 1);
    let gate = ["--fail-on", "new-syscall,calls:+20%"];

    let out = diff(&[&gate[..], &[path(&a), path(&a)]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("syscalls appeared: none"), "{stdout}");
    assert!(stdout.contains("syscalls changed: none"), "{stdout}");
    assert!(out.stderr.is_empty());

    // Two runs count the workload's syscalls exactly alike, but a thread join may or
    // may not wait on a futex: new-syscall must then hold, and only for that.
    let new_names: Vec<_> = {
        let (ra, rb) = (read_report(&a), read_report(&b));
        let known = names(&ra);
        names(&rb)
            .into_iter()
            .filter(|k| !known.contains(k))
            .collect()
    };
    let out = diff(&[&gate[..], &[path(&a), path(&b)]].concat());
    let stderr = text(&out.stderr);
    if new_names.is_empty() {
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.is_empty(), "{stderr}");
    } else {
        assert_eq!(out.status.code(), Some(1), "{new_names:?}: {stderr}");
        let listed: Vec<String> = new_names.iter().map(|(_, n)| n.clone()).collect();
        assert_eq!(
            stderr.trim_end(),
            format!(
                "wl-user: --fail-on new-syscall holds: {}",
                listed.join(", ")
            ),
            "calls:+20% must not hold for equal workloads"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn other_syscall_tables_are_a_note_not_a_failure() {
    require_root();
    let dir = scratch("tables");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/linux-mini");
    let old = record(&dir, "mini.json", &["--kernel-src", fixture], 1);
    let new = record(&dir, "embedded.json", &[], 1);
    let out = diff(&[path(&old), path(&new)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "note: the reports were named with different syscall tables (BASE: Linux 6.99.0 from"
        ),
        "{stdout}"
    );
    // The fixture names getppid (110) and umask (95), not getpgid (121) or dup (32).
    let section = |from: &str| {
        stdout
            .split(from)
            .nth(1)
            .and_then(|s| s.split("\nsyscalls ").next())
            .unwrap_or_else(|| panic!("no '{from}': {stdout}"))
            .to_owned()
    };
    // Rows are `  NAME  N calls  SUBSYSTEM ...`, columns padded.
    let calls_of = |list: &str, name: &str| {
        list.lines()
            .find_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(name)).then(|| words.next().unwrap().parse::<u64>().unwrap())
            })
            .unwrap_or_else(|| panic!("no {name} in {list}"))
    };
    let appeared = section("syscalls appeared");
    let vanished = section("syscalls vanished");
    let thread_getpgid = wl_tests::THREADS * wl_tests::THREAD_GETPGID;
    assert_eq!(calls_of(&appeared, "getpgid"), thread_getpgid);
    assert_eq!(calls_of(&appeared, "dup"), wl_tests::DUP_EBADF);
    assert_eq!(calls_of(&vanished, "syscall_121"), thread_getpgid);
    assert_eq!(calls_of(&vanished, "syscall_32"), wl_tests::DUP_EBADF);
    assert!(
        !appeared.contains("getppid") && !vanished.contains("getppid"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A report as an older wl-user wrote it: no `schema`, `latency_sample`, `timed_calls`.
const OLD_REPORT: &str = r#"{
  "target": {"command": ["true"]},
  "kernel": {"release": "6.1.0-30-amd64", "arch": "x86_64"},
  "duration_ns": 1500000, "latency": true, "exit_status": 0, "lost": {"no_task_slot": 0},
  "syscalls": [
    {"name": "getppid", "nr": 110, "abi": "x86_64", "calls": 40, "errors": 0, "errno": {},
     "total_ns": 16000, "avg_ns": 400, "min_ns": 300, "max_ns": 500,
     "latency_log2": [0, 0, 0, 0, 0, 0, 0, 0, 0, 40], "subsystem": "Process Mgmt.",
     "source": "kernel/sys.c", "api": "sys_getppid", "maintainers": "THE REST"}
  ],
  "subsystems": [{"name": "Process Mgmt.", "calls": 40, "errors": 0, "total_ns": 16000, "syscalls": 1}],
  "syscall_tables": {"linux": "6.12.38", "origin": "embedded"}
}"#;

/// `wl-user diff ARGS` must fail with status 2 and one line on stderr containing `want`.
fn assert_trouble(args: &[&str], want: &str) {
    let out = diff(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(
        stderr.starts_with("wl-user: error: ") && stderr.contains(want),
        "{args:?}: want '{want}' in {stderr}"
    );
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn reads_reports_from_before_schemas() {
    let dir = scratch("old");
    let old = dir.join("old.json");
    std::fs::write(&old, OLD_REPORT).unwrap();
    let out = diff(&[
        "--fail-on",
        "new-syscall,calls:+1%,p99:+1%",
        path(&old),
        path(&old),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("note: BASE has no schema number"),
        "{stdout}"
    );
    let grown = dir.join("grown.json");
    std::fs::write(&grown, OLD_REPORT.replace("\"calls\": 40", "\"calls\": 80")).unwrap();
    let out = diff(&["--fail-on", "calls:+50%", path(&old), path(&grown)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let dir = scratch("bad");
    let good = dir.join("good.json");
    std::fs::write(&good, OLD_REPORT).unwrap();
    let g = path(&good);
    let missing = dir.join("missing.json");
    assert_trouble(
        &[path(&missing), g],
        &format!("cannot read {}", path(&missing)),
    );
    let not_json = dir.join("notes.txt");
    std::fs::write(&not_json, "getppid 1000\n").unwrap();
    assert_trouble(
        &[g, path(&not_json)],
        &format!("{}: not JSON (", path(&not_json)),
    );
    let not_report = dir.join("other.json");
    std::fs::write(&not_report, r#"{"name": "wl", "version": "0.1.0"}"#).unwrap();
    assert_trouble(
        &[g, path(&not_report)],
        &format!("{}: not a wl-user JSON report (", path(&not_report)),
    );
    let newer = dir.join("newer.json");
    std::fs::write(&newer, OLD_REPORT.replacen('{', "{\"schema\": 99,", 1)).unwrap();
    assert_trouble(
        &[path(&newer), g],
        &format!(
            "{}: report schema 99 is newer than this wl-user understands (1); ",
            path(&newer)
        ),
    );
    assert_trouble(
        &["--fail-on", "new-syscall,calls:20%", g, g],
        "--fail-on: 'calls:20%' needs a sign",
    );
    assert_trouble(&["--fail-on", "p95:+10%", g, g], "names no metric ('p95')");
    let _ = std::fs::remove_dir_all(dir);
}

/// A workload that starts signalling itself shows the signal as a new event, and
/// `--fail-on new-event` fails on it.
#[test]
fn a_new_signal_is_a_new_event() {
    require_root();
    let dir = scratch("events");
    let base = record(&dir, "base.json", &[], 1);
    let new = dir.join("new.json");
    let load = testload();
    let out = wl(&[
        "run",
        "--format",
        "json",
        "-o",
        path(&new),
        "--",
        load.to_str().unwrap(),
        "--events",
    ]);
    assert_eq!(out.status.code(), Some(wl_tests::EXIT_STATUS));
    let out = diff(&[
        path(&base),
        path(&new),
        "--format",
        "json",
        "--fail-on",
        "new-event",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let d = parse_json(&out.stdout);
    assert_eq!(d["events"]["compared"], true);
    let appeared: Vec<&str> = d["events"]["appeared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(appeared.contains(&"signal SIGUSR1"), "{appeared:?}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--fail-on new-event holds: ") && stderr.contains("signal SIGUSR1"),
        "{stderr}"
    );
    // A report has no new event against itself (two runs may differ in preemptions or
    // a page read from disk, which are events too).
    let out = diff(&[path(&new), path(&new), "--fail-on", "new-event"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}
