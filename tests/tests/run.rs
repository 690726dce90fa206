//! `wl-user run`: exact counts for a workload whose syscalls are known, across threads,
//! forks, a detached orphan and an exec; the exit status; agreement with strace.

mod common;

use std::{collections::BTreeMap, process::Command};

use common::*;

fn run_json(extra: &[&str], scale: u64) -> (serde_json::Value, std::process::Output) {
    let load = testload();
    let scale = scale.to_string();
    let mut args = vec!["run", "--format", "json", "--output", "-"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", load.to_str().unwrap(), "--scale", &scale]);
    let out = wl(&args);
    (parse_json(&out.stdout), out)
}

#[test]
fn run_counts_every_process_of_the_workload_exactly() {
    require_root();
    let (report, out) = run_json(&[], 1);
    assert_eq!(
        out.status.code(),
        Some(wl_tests::EXIT_STATUS),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["exit_status"], wl_tests::EXIT_STATUS);
    assert_workload_counts(&report, 1, true);
    // The workload's own execve and the exec'd child's; none of wl-user's set-up.
    assert_eq!(calls(&rows(&report), "execve"), 2);
    assert!(
        report["target"]["command"][0]
            .as_str()
            .unwrap()
            .ends_with("wl-testload")
    );
    assert!(report["duration_ns"].as_u64().unwrap() > 0);
    assert_eq!(report["latency"], true);
    let getppid = &report["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        // The x86_64 row: the i386 getppid row may come first, sorted by time.
        .find(|s| s["name"] == "getppid" && s["abi"] == NATIVE_ABI)
        .unwrap();
    let (min, max, total) = (
        getppid["min_ns"].as_u64().unwrap(),
        getppid["max_ns"].as_u64().unwrap(),
        getppid["total_ns"].as_u64().unwrap(),
    );
    assert!(
        0 < min && min <= max && total >= min * wl_tests::MAIN_GETPPID,
        "{getppid}"
    );
    let hist: u64 = getppid["latency_log2"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap())
        .sum();
    assert_eq!(
        hist,
        wl_tests::MAIN_GETPPID,
        "every timed call lands in one histogram bucket"
    );
}

#[test]
fn run_follows_the_process_tree_without_cgroups() {
    require_root();
    let (report, out) = run_json(&["--no-cgroup"], 2);
    assert_eq!(out.status.code(), Some(wl_tests::EXIT_STATUS));
    assert_workload_counts(&report, 2, true);
    assert_eq!(calls(&rows(&report), "execve"), 2);
}

#[test]
fn run_without_latency_still_counts_calls_and_errors_exactly() {
    require_root();
    let (report, out) = run_json(&["--no-latency"], 1);
    assert_eq!(out.status.code(), Some(wl_tests::EXIT_STATUS));
    assert_eq!(report["latency"], false);
    assert_workload_counts(&report, 1, true);
    let rows = report["syscalls"].as_array().unwrap();
    assert!(
        rows.iter().all(|s| s["total_ns"] == 0 && s["max_ns"] == 0),
        "untimed rows carry times"
    );
}

#[test]
fn sampled_latency_counts_every_call_and_times_a_sample() {
    require_root();
    let (report, out) = run_json(&["--latency-sample", "10"], 2);
    assert_eq!(out.status.code(), Some(wl_tests::EXIT_STATUS));
    assert_eq!(report["latency"], true);
    assert_eq!(report["latency_sample"], 10);
    assert_workload_counts(&report, 2, true);
    let row = |name: &str| {
        report["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name && s["abi"] == NATIVE_ABI)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };
    let n = |v: &serde_json::Value, f: &str| v[f].as_u64().unwrap();
    // Rare syscalls (fewer than 64 calls on a CPU) are timed on every call.
    for rare in ["setsid", "dup", RMDIR_CALL] {
        let r = row(rare);
        assert_eq!(n(&r, "timed_calls"), n(&r, "calls"), "{r}");
    }
    // The main thread's 2000 getppid: one in ten timed, plus the first 64 on each CPU.
    let g = row("getppid");
    let (calls, timed) = (n(&g, "calls"), n(&g, "timed_calls"));
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    assert_eq!(calls, 2 * wl_tests::MAIN_GETPPID);
    assert!(
        (calls / 10 - 1..=calls / 10 + 1 + 64 * cpus).contains(&timed),
        "{timed} of {calls} timed"
    );
    let hist: u64 = g["latency_log2"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap())
        .sum();
    assert_eq!(hist, timed, "the histogram holds the timed calls");
    // The total is the timed calls' total scaled to all calls.
    let (avg, total) = (n(&g, "avg_ns"), n(&g, "total_ns"));
    assert!(
        avg * calls <= total && total < (avg + 1) * calls,
        "avg {avg} x {calls} vs total {total}"
    );
}

#[test]
fn the_table_shows_percentiles_and_histograms() {
    require_root();
    let report = std::env::temp_dir().join(format!("wl-hist-{}.txt", std::process::id()));
    let out = wl(&[
        "run",
        "--histogram",
        "-o",
        report.to_str().unwrap(),
        "--",
        testload().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(wl_tests::EXIT_STATUS));
    let text = std::fs::read_to_string(&report).unwrap();
    std::fs::remove_file(&report).unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.contains("p50 usecs") && header.contains("p99 usecs"),
        "{header}"
    );
    // getppid's bars: one line per range, their counts add up to the main thread's calls.
    let block = text
        .split("\n\n")
        .find(|b| b.starts_with("getppid ("))
        .unwrap_or_else(|| panic!("no getppid histogram in\n{text}"));
    assert!(block.starts_with(&format!(
        "getppid ({} timed calls, ns)",
        wl_tests::MAIN_GETPPID
    )));
    let counted: u64 = block
        .lines()
        .skip(1)
        .map(|l| {
            assert!(l.starts_with('[') && l.ends_with('|'), "{l}");
            l.split_whitespace().nth(2).unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(counted, wl_tests::MAIN_GETPPID);
}

#[test]
fn concurrent_runs_do_not_mix_counts() {
    require_root();
    let a = std::thread::spawn(|| run_json(&[], 3).0);
    let b = std::thread::spawn(|| run_json(&["--no-cgroup"], 5).0);
    let c = run_json(&[], 1).0;
    assert_workload_counts(&a.join().unwrap(), 3, true);
    assert_workload_counts(&b.join().unwrap(), 5, true);
    assert_workload_counts(&c, 1, true);
}

/// strace -c's table (all ABIs), as (abi, name) → (calls, errors).
fn strace_counts(text: &str) -> BTreeMap<(String, String), (u64, u64)> {
    let mut out = BTreeMap::new();
    let mut abi = NATIVE_ABI;
    for line in text.lines() {
        if line.contains("32 bit mode") {
            abi = "i386";
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        // % time, seconds, usecs/call, calls, [errors], syscall
        if cols.len() < 5 || cols[0].parse::<f64>().is_err() || cols.last() == Some(&"total") {
            continue;
        }
        let calls = cols[3].parse().unwrap();
        let errors = if cols.len() == 6 {
            cols[4].parse().unwrap()
        } else {
            0
        };
        out.insert(
            (abi.to_owned(), cols.last().unwrap().to_string()),
            (calls, errors),
        );
    }
    out
}

#[test]
fn run_agrees_with_strace_on_every_syscall() {
    require_root();
    let dir = std::env::temp_dir().join(format!("wl-strace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let table = dir.join("strace.txt");
    // Both runs without address-space randomization: where the kernel places a library
    // decides whether the dynamic loader trims the mapping to its alignment with one
    // munmap more (arm64's libraries are 64 KiB aligned, so one run in several differs).
    let mut strace = Command::new("setarch");
    strace
        .args(["-R", "strace", "-f", "-c", "-o"])
        .arg(&table)
        .arg(testload());
    let st = strace.status().expect("strace is installed (./setup)");
    assert_eq!(st.code(), Some(wl_tests::EXIT_STATUS));
    let expected = strace_counts(&std::fs::read_to_string(&table).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();

    let mut wl_run = Command::new("setarch");
    wl_run
        .arg("-R")
        .arg(wl_user())
        .args(["run", "--format", "json", "--output", "-", "--"])
        .arg(testload())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = output_with_timeout(
        wl_run.spawn().expect("start wl-user"),
        std::time::Duration::from_secs(120),
    );
    let report = parse_json(&out.stdout);
    let got: BTreeMap<_, _> = rows(&report)
        .into_iter()
        // strace -c counts a call when it returns; exit and exit_group never do.
        .filter(|((_, name), _)| name != "exit" && name != "exit_group")
        .map(|(k, r)| (k, (r.calls, r.errors)))
        .collect();
    assert!(expected.len() > 30, "strace table not parsed: {expected:?}");
    assert_eq!(got, expected);
}

#[test]
fn run_exits_with_the_workload_status_and_128_plus_signal() {
    require_root();
    let out = wl(&["run", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = wl(&["run", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.code(), Some(128 + 15));
    // The report is still printed (to stderr by default).
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(" kill"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn run_forwards_sigint_and_still_reports() {
    require_root();
    let child = Command::new(wl_user())
        .args(["run", "--format", "json", "--", "sleep", "30"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the workload runs: its start-up makes wl-user a parent of `sleep`.
    let children = format!("/proc/{0}/task/{0}/children", child.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&children)
        .ok()
        .and_then(|c| c.split_whitespace().next().map(str::to_owned))
        .is_some_and(|kid| {
            std::fs::read_to_string(format!("/proc/{kid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        })
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the workload did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let pid = child.id();
    let out = output_with_timeout(child, std::time::Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(128 + 2), "wl-user {pid}");
    let report = parse_json(&out.stderr);
    // The report covers the workload up to the signal: at least its execve.
    assert_eq!(calls(&rows(&report), "execve"), 1);
    assert_eq!(report["exit_status"], 130);
}

/// An arm64 kernel runs 32-bit arm programs through its compat ABI: their calls are
/// counted under `arm`, numbered and named from arm's table, apart from the native ones.
#[cfg(target_arch = "aarch64")]
#[test]
fn arm32_programs_are_counted_under_the_arm_abi() {
    const GETPPID: u64 = 29;
    const DUP_EBADF: u64 = 11;
    require_root();
    let load = env!("WL_ARM32_LOAD");
    if load.is_empty() {
        cannot_run("the 32-bit arm test program was not built (gcc-arm-linux-gnueabihf)");
        return;
    }
    let (getppid, dup) = (GETPPID.to_string(), DUP_EBADF.to_string());
    let out = wl(&[
        "run", "--format", "json", "--output", "-", "--", load, &getppid, &dup,
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = parse_json(&out.stdout);
    let r = rows(&report);
    let arm = |name: &str| r.get(&("arm".to_owned(), name.to_owned()));
    assert_eq!(arm("getppid").map(|g| g.calls), Some(GETPPID), "{r:#?}");
    let d = arm("dup").expect("dup under arm");
    assert_eq!((d.calls, d.errors), (DUP_EBADF, DUP_EBADF));
    assert_eq!(d.errno, [("EBADF".to_owned(), DUP_EBADF)].into());
    // The program's calls are not also counted natively: only the exec that started it
    // (made by wl-user's arm64 child) is.
    for name in ["getppid", "dup"] {
        assert_eq!(
            r.get(&(NATIVE_ABI.to_owned(), name.to_owned())),
            None,
            "{name}"
        );
    }
    let syscalls = report["syscalls"].as_array().unwrap();
    let row = |name: &str| {
        syscalls
            .iter()
            .find(|s| s["abi"] == "arm" && s["name"] == name)
            .unwrap()
    };
    // arm's numbers (getppid is 64 there, 173 on arm64), and C library start-up calls
    // named from arm's table: nothing left as syscall_<nr>.
    assert_eq!(row("getppid")["nr"], 64);
    assert_eq!(row("dup")["nr"], 41);
    assert!(
        syscalls
            .iter()
            .filter(|s| s["abi"] == "arm")
            .all(|s| !s["name"].as_str().unwrap().starts_with("syscall_")),
        "{syscalls:#?}"
    );
    assert_eq!(row("exit_group")["calls"], 1);
    // The C library sets its thread pointer with arm's private set_tls (0x0f0005),
    // outside the table's numbers: counted under its own number, not lost.
    assert_eq!(row("set_tls")["nr"], 0xf0005);
    assert_eq!(row("set_tls")["source"], "arch/arm64/kernel/sys_compat.c");
    assert!(
        report["lost"].as_object().unwrap().values().all(|v| v == 0),
        "lost: {}",
        report["lost"]
    );
}
