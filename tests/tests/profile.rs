//! `--profile`: sampled kernel stacks, credited to the subsystem doing the work.

mod common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;
use wl_tests::phases::SUBSYSTEMS;

/// The default rate.
const HZ: f64 = 99.0;

/// The tests of this file run one at a time: another test's `wl-user run` would put its
/// programs on the syscall tracepoints too, and every traced call would pass through
/// both, which changes the share of the kernel's time the phases spend in syscalls.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// `wl-user run --profile ARGS -- wl-testload --phases SECS`: the report and the
/// workload's own (utime, stime) in seconds.
fn phases(options: &[&str], secs: &str) -> (String, (f64, f64)) {
    let load = testload();
    let mut args = vec!["run", "--profile", "-o", "-"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--", load.to_str().unwrap(), "--phases", secs]);
    let out = wl(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let times = stderr
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next(), w.next(), w.next()) {
                (Some("utime_us"), Some(u), Some("stime_us"), Some(s)) => {
                    Some((u.parse::<f64>().ok()? / 1e6, s.parse::<f64>().ok()? / 1e6))
                }
                _ => None,
            }
        })
        .unwrap_or_else(|| panic!("no CPU time line in {stderr}"));
    (String::from_utf8_lossy(&out.stdout).into_owned(), times)
}

fn subsystem<'a>(profile: &'a Value, name: &str) -> Option<&'a Value> {
    profile["subsystems"]
        .as_array()
        .expect("subsystems")
        .iter()
        .find(|s| s["name"] == name)
}

/// The three phases traced with a profile, syscalls at their cheapest so that little
/// of the kernel time is wl's own programs' (which the profile shows too: it is time
/// the workload's calls took): the report and the workload's CPU time.
fn profiled_phases() -> (Value, (f64, f64)) {
    let cheapest = ["--no-latency", "--events", "none", "--objects", "none"];
    let (json, times) = phases(&[&cheapest[..], &["--format", "json"]].concat(), "0.5");
    (parse_json(json.as_bytes()), times)
}

/// Three phases, each of one subsystem's work: each gets its share of the samples, at
/// the file that does the work (not the copy or clear routine under it). (Not in the
/// emulated VMs of `cargo xtask vm-test`, where a page fault costs many times what the
/// phases were sized for.)
#[test]
fn each_phase_is_credited_to_its_subsystem() {
    require_root();
    let _one = one_at_a_time();
    let (report, _) = profiled_phases();
    let p = &report["profile"];
    let samples = p["samples"].as_u64().unwrap();
    for (name, _) in SUBSYSTEMS {
        let s = subsystem(p, name).unwrap_or_else(|| panic!("no {name} in {p:#}"));
        let n = s["samples"].as_u64().unwrap();
        assert!(
            n * 5 > samples,
            "{name}: {n} of {samples} samples, not above a fifth: {p:#}"
        );
    }
    let top_file = |name: &str| subsystem(p, name).unwrap()["files"][0]["file"].clone();
    assert_eq!(top_file("Random"), "drivers/char/random.c", "{p:#}");
    assert_eq!(top_file("Filesystem"), "fs/pipe.c", "{p:#}");
    // The fault handler (arch/x86/mm/fault.c) or the memory code it calls (mm/), not
    // the page-clearing routine under them (arch/x86/lib/).
    let mm = top_file("Memory Mgmt.");
    let in_mm = |f: &str| f.starts_with("mm/") || (f.starts_with("arch/") && f.contains("/mm/"));
    assert!(mm.as_str().is_some_and(in_mm), "{mm}: {p:#}");
}

/// The samples are the rate times the CPU time the workload measured itself, and
/// those lost are in the report's `lost`.
#[test]
fn samples_are_the_rate_times_the_cpu_time() {
    require_root();
    let _one = one_at_a_time();
    let (report, (utime, stime)) = profiled_phases();
    let p = &report["profile"];
    let samples = p["samples"].as_u64().unwrap();
    let user = p["user_samples"].as_u64().unwrap();
    let lost = p["lost"].as_u64().unwrap();
    assert_eq!(p["hz"], 99);
    assert_eq!(
        lost,
        report["lost"]["profile_stack_collision"].as_u64().unwrap()
            + report["lost"]["profile_stack_map_full"].as_u64().unwrap()
    );
    // Sampling at 99 Hz on each CPU the workload ran on: its CPU time in samples. The
    // kernel splits a task's time into user and system by ticks, so allow a quarter
    // and a few samples either way.
    let near = |got: u64, secs: f64, what: &str| {
        let want = HZ * secs;
        assert!(
            (got as f64 - want).abs() <= want / 4.0 + 5.0,
            "{what}: {got} samples for {secs:.3} s at {HZ} Hz ({want:.0} expected)"
        );
    };
    near(samples + lost, stime, "kernel");
    near(samples + lost + user, utime + stime, "all");
}

/// A process outside the workload, busy in a syscall the workload never makes, adds
/// no sample; the folded stacks render with a real flame-graph tool.
#[test]
fn only_the_workload_is_sampled_and_the_stacks_render() {
    require_root();
    let _one = one_at_a_time();
    if !has_tool("inferno-flamegraph") {
        return;
    }
    let load = testload();
    let dir = std::env::temp_dir().join(format!("wl-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stacks = dir.join("stacks.folded");
    let mut outsider = Command::new(&load)
        .args(["--getrandom", "30"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the busy process");
    let out = wl(&[
        "run",
        "--profile",
        "--format",
        "folded",
        "-o",
        stacks.to_str().unwrap(),
        "--",
        load.to_str().unwrap(),
        "--bench",
        "pages",
        "300000",
    ]);
    let _ = outsider.kill();
    let _ = outsider.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let folded = std::fs::read_to_string(&stacks).expect("the folded stacks");
    let mut samples = 0;
    for line in folded.lines() {
        let (stack, n) = line.rsplit_once(' ').expect("`stack count`");
        samples += n.parse::<u64>().expect("a count");
        assert!(
            !stack.contains("getrandom"),
            "the busy process was sampled: {line}"
        );
    }
    assert!(samples > 10, "{folded}");
    assert!(folded.contains("handle_mm_fault"), "{folded}");

    let svg = Command::new("inferno-flamegraph")
        .arg(&stacks)
        .output()
        .expect("run inferno-flamegraph");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        svg.status.success(),
        "{}",
        String::from_utf8_lossy(&svg.stderr)
    );
    let svg = String::from_utf8_lossy(&svg.stdout);
    assert!(
        svg.contains("<svg") && svg.contains("handle_mm_fault"),
        "{svg}"
    );
}

/// What a profile cannot be asked for is refused before anything runs.
#[test]
fn bad_profile_requests_are_refused() {
    require_root();
    let _one = one_at_a_time();
    for (args, says) in [
        (&["run", "--profile=0", "--", "true"][..], "--profile=0"),
        (
            &["run", "--profile=999999999", "--", "true"][..],
            "perf_event_max_sample_rate",
        ),
        (
            &["run", "--format", "folded", "--", "true"][..],
            "add --profile",
        ),
    ] {
        let out = wl(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(wl_tests::OWN_ERROR),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// A workload that starts taking a new kernel path fails `--fail-on new-function`, and
/// the subsystem whose share grew fails `subsystem-share:+N%`.
#[test]
fn diff_finds_a_new_kernel_path() {
    require_root();
    let _one = one_at_a_time();
    let load = testload();
    let dir = std::env::temp_dir().join(format!("wl-profile-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = |name: &str, workload: &[&str]| {
        let path = dir.join(name);
        let mut args = vec![
            "run",
            "--profile",
            "-f",
            "json",
            "-o",
            path.to_str().unwrap(),
        ];
        args.push("--");
        args.push(load.to_str().unwrap());
        args.extend_from_slice(workload);
        let out = wl(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    };
    // Page faults only; then the same and getrandom, and pipes: each long enough for
    // the 100 kernel samples a profile needs to be judged.
    let base = report("base.json", &["--bench", "pages", "2000000"]);
    let new = report("new.json", &["--phases", "0.4"]);
    let diff = |fail_on: &str| {
        let out = wl(&[
            "diff",
            base.to_str().unwrap(),
            new.to_str().unwrap(),
            "--fail-on",
            fail_on,
        ]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stderr, stdout) = diff("new-function");
    assert_eq!(code, Some(1), "{stderr}{stdout}");
    assert!(
        stderr.contains("--fail-on new-function holds: ")
            && stderr.contains("get_random_bytes_user"),
        "{stderr}"
    );
    assert!(stdout.contains("kernel time by subsystem"), "{stdout}");
    let (code, stderr, _) = diff("subsystem-share:+10%");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("Random 0.0% -> "), "{stderr}");
    // Against itself, nothing is new and no share moved.
    let out = wl(&[
        "diff",
        new.to_str().unwrap(),
        new.to_str().unwrap(),
        "--fail-on",
        "new-function,subsystem-share:+1%,subsystem-share:-1%",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
