//! `--interval`: reports while tracing. JSON Lines whose intervals add up to the final
//! report, a view redrawn in place on a terminal, table blocks elsewhere, and bad values
//! refused before the workload runs.

mod common;

use std::{collections::BTreeMap, process::Command};

use common::*;
use serde_json::Value;

/// The test workload with its getppid calls spread over `spread` seconds, then a pause
/// of `pause` seconds before the rest of its calls.
fn spread_workload(spread: &str, pause: &str) -> Vec<String> {
    vec![
        testload().to_str().unwrap().to_owned(),
        "--spread".into(),
        spread.into(),
        "--pause".into(),
        pause.into(),
    ]
}

fn sum_calls(lines: &[Value]) -> BTreeMap<(String, String), (u64, u64)> {
    let mut sums = BTreeMap::new();
    for line in lines {
        for (key, row) in rows(line) {
            let s: &mut (u64, u64) = sums.entry(key).or_default();
            s.0 += row.calls;
            s.1 += row.errors;
        }
    }
    sums
}

/// `wl-user run --interval 1 --format json` of `load`: its JSON Lines, the final report
/// last.
fn json_lines_of(load: &[String], name: &str) -> Vec<Value> {
    let file =
        std::env::temp_dir().join(format!("wl-interval-{name}-{}.jsonl", std::process::id()));
    let mut args = vec![
        "run",
        "--interval",
        "1",
        "--format",
        "json",
        "-o",
        file.to_str().unwrap(),
        "--",
    ];
    args.extend(load.iter().map(String::as_str));
    let out = wl(&args);
    assert_eq!(
        out.status.code(),
        Some(wl_tests::EXIT_STATUS),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    text.lines().map(|l| parse_json(l.as_bytes())).collect()
}

/// Every call is in exactly one interval, the last, partial one included: together
/// they are the final report, syscall by syscall.
fn assert_intervals_add_up(intervals: &[Value], last: &Value) {
    let fin: BTreeMap<_, _> = rows(last)
        .into_iter()
        .map(|(k, r)| (k, (r.calls, r.errors)))
        .collect();
    assert_eq!(sum_calls(intervals), fin);
}

#[test]
fn json_lines_intervals_add_up_to_the_final_report() {
    require_root();
    // 3 s of getppid batches, then 1.5 s without a call: the interval ending near 4 s
    // holds the last of them, so that every getppid call is in some interval.
    let lines = json_lines_of(&spread_workload("3", "1.5"), "pause");
    assert!(lines.len() >= 4, "{} lines: {lines:?}", lines.len());

    let (last, intervals) = lines.split_last().unwrap();
    // The last line is the whole report, as without --interval.
    assert!(last.get("interval").is_none(), "{last}");
    assert_eq!(last["exit_status"], wl_tests::EXIT_STATUS);
    assert_eq!(last["schema"], 1);
    assert_workload_counts(last, 1, true);
    let duration = last["duration_ns"].as_u64().unwrap();

    let mut end = 0;
    let tail = intervals.len() - 1;
    for (i, line) in intervals.iter().enumerate() {
        let span = &line["interval"];
        assert_eq!(span["index"], i as u64, "{span}");
        let (start_ns, end_ns) = (
            span["start_ns"].as_u64().unwrap(),
            span["end_ns"].as_u64().unwrap(),
        );
        assert_eq!(start_ns, end, "intervals are contiguous: {span}");
        assert!(end_ns > start_ns, "{span}");
        assert_eq!(line["duration_ns"], end_ns - start_ns);
        // About a second each; a loaded machine may stretch one. The last is what was
        // left when tracing stopped.
        if i < tail {
            assert!(
                (900_000_000..3_000_000_000).contains(&(end_ns - start_ns)),
                "{span}"
            );
        }
        assert!(line["subsystems"].is_array() && line["target"].is_object());
        end = end_ns;
    }
    assert_eq!(end, duration, "the last interval ends when tracing does");

    // Each interval counts its own calls: the getppid batches fall into several, and
    // add up to exactly the workload's calls, all made before the last interval ended.
    let per_interval: Vec<u64> = intervals
        .iter()
        .map(|l| calls(&rows(l), "getppid"))
        .collect();
    assert!(
        per_interval.iter().filter(|&&n| n > 0).count() >= 3,
        "{per_interval:?}"
    );
    let sums = sum_calls(intervals);
    assert_eq!(
        sums[&(NATIVE_ABI.to_owned(), "getppid".to_owned())].0,
        wl_tests::MAIN_GETPPID,
        "{per_interval:?}"
    );
    assert_intervals_add_up(intervals, last);
}

/// The partial interval after the last tick is written too: with calls made up to the
/// end (no pause), the intervals still add up to the final report exactly.
#[test]
fn the_last_partial_interval_is_written() {
    require_root();
    // Batches until the end, over 2.7 s: ticks at 1 and 2 s, then 0.7 s that no tick ends.
    let lines = json_lines_of(&spread_workload("2.7", "0"), "tail");
    let (last, intervals) = lines.split_last().unwrap();
    let tail = &intervals.last().unwrap()["interval"];
    assert_eq!(tail["end_ns"], last["duration_ns"], "{tail}");
    // The tail holds calls: the workload's last ones, its exit_group at least.
    let tail_rows = rows(intervals.last().unwrap());
    assert!(tail_rows.values().any(|r| r.calls > 0), "{tail}");
    assert_eq!(
        sum_calls(intervals)[&(NATIVE_ABI.to_owned(), "getppid".to_owned())].0,
        wl_tests::MAIN_GETPPID
    );
    assert_intervals_add_up(intervals, last);
}

/// `wl-user ARGS` under a pseudo-terminal (util-linux `script`); its output as seen on
/// the terminal.
/// With --by, each interval carries its own per-process split: the main process's
/// getppid calls over the intervals add up to exactly its calls.
#[test]
fn intervals_carry_the_split_by_process() {
    require_root();
    let file = std::env::temp_dir().join(format!("wl-interval-by-{}.jsonl", std::process::id()));
    let load = spread_workload("2", "1.5");
    let mut args = vec![
        "run",
        "--interval",
        "1",
        "--by",
        "process",
        "--format",
        "json",
        "-o",
        file.to_str().unwrap(),
        "--",
    ];
    args.extend(load.iter().map(String::as_str));
    let out = wl(&args);
    assert_eq!(out.status.code(), Some(wl_tests::EXIT_STATUS));
    let text = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    let lines: Vec<Value> = text.lines().map(|l| parse_json(l.as_bytes())).collect();
    let (last, intervals) = lines.split_last().unwrap();
    assert!(intervals.len() >= 3, "{text}");
    let main = last["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["exit_status"] == wl_tests::EXIT_STATUS)
        .expect("the main process in the final report");
    let pid = &main["pid"];
    let mut getppid = 0;
    for line in intervals {
        let procs = line["processes"]
            .as_array()
            .expect("processes per interval");
        for p in procs.iter().filter(|p| &p["pid"] == pid) {
            getppid += p["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["name"] == "getppid" && s["abi"] == NATIVE_ABI)
                .map(|s| s["calls"].as_u64().unwrap())
                .sum::<u64>();
        }
    }
    assert_eq!(getppid, wl_tests::MAIN_GETPPID);
}

fn on_a_terminal(args: &[&str]) -> Option<(Option<i32>, String)> {
    if !has_tool("script") {
        return None;
    }
    let mut line = wl_user().display().to_string();
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    let out = Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Some((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

#[test]
fn on_a_terminal_the_view_is_redrawn_then_the_final_table_follows() {
    require_root();
    let load = spread_workload("2", "0.5");
    let mut args = vec!["run", "--interval", "0.5", "--"];
    args.extend(load.iter().map(String::as_str));
    let Some((code, text)) = on_a_terminal(&args) else {
        return;
    };
    assert_eq!(code, Some(wl_tests::EXIT_STATUS), "{text}");
    let redraw = "\x1b[H\x1b[2J";
    let frames = text.matches(redraw).count();
    assert!(frames >= 2, "{frames} redraws: {text:?}");
    let last_frame = &text[text.rfind(redraw).unwrap()..];
    assert!(last_frame.contains("calls/s"), "{last_frame}");
    assert!(last_frame.contains("traced; interval"), "{last_frame}");
    // Then the final report, below the last frame.
    let table = last_frame
        .find("% wall      wall s")
        .map(|i| &last_frame[i..])
        .unwrap_or_else(|| panic!("no final table after the view: {last_frame}"));
    let getppid = table
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == "getppid"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        getppid.contains(&format!(" {} ", wl_tests::MAIN_GETPPID)),
        "{getppid}"
    );
}

#[test]
fn elsewhere_the_table_gets_a_plain_block_per_interval() {
    require_root();
    let load = spread_workload("1.5", "0.3");
    let mut args = vec!["run", "--interval", "0.5", "--"];
    args.extend(load.iter().map(String::as_str));
    let out = wl(&args);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(wl_tests::EXIT_STATUS), "{text}");
    assert!(!text.contains('\x1b'), "escape codes in a pipe: {text:?}");
    let blocks = text.matches("calls/s").count();
    assert!(blocks >= 2, "{blocks} blocks: {text}");
    assert!(text.contains("interval 0: 0.0-0.5 s"), "{text}");
    let final_table = text.rfind("% wall      wall s").expect("final table");
    assert!(final_table > text.rfind("calls/s").unwrap(), "{text}");
}

/// `--interval` values and formats that are refused: non-zero, one line of error, and
/// the workload never runs.
#[test]
fn bad_intervals_are_refused_before_the_workload_runs() {
    let marker = std::env::temp_dir().join(format!("wl-interval-ran-{}", std::process::id()));
    for (bad, needle) in [
        (
            &["--interval", "0"][..],
            "'0' is not a positive number of seconds",
        ),
        (&["--interval", "x"][..], "'x' is not a number of seconds"),
        (
            &["--interval", "1e30"][..],
            "'1e30' seconds is more than a year",
        ),
        (
            &["--interval", "NaN"][..],
            "'NaN' is not a positive number of seconds",
        ),
        (
            &["--interval", "1", "--format", "csv"][..],
            "--interval reports while tracing as JSON Lines (--format json) or a table; not with --format csv",
        ),
    ] {
        let mut args = vec!["run"];
        args.extend_from_slice(bad);
        args.extend_from_slice(&["--", "touch", marker.to_str().unwrap()]);
        let out = wl(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad:?} was accepted");
        assert!(!err.contains("panicked"), "{err}");
        // clap adds a hint after a blank line to its usage errors; the error is one line.
        let said: Vec<&str> = err
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
            .collect();
        assert_eq!(said.len(), 1, "{bad:?}: {err}");
        assert!(said[0].contains(needle), "{bad:?}: {err}");
        assert!(!marker.exists(), "{bad:?}: the workload ran");
    }
    let out = wl(&["attach", "--pid", "1", "--interval", "1", "--format", "md"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not with --format md"));
    // --duration reads its value the same way: 0 s would trace nothing.
    for (bad, needle) in [
        ("0", "'0' is not a positive number of seconds"),
        ("-1", "'-1' is not a positive number of seconds"),
        ("1e30", "'1e30' seconds is more than a year"),
    ] {
        let out = wl(&["attach", "--pid", "1", &format!("--duration={bad}")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(wl_tests::OWN_ERROR), "{bad}: {err}");
        assert!(
            err.lines().next().unwrap_or("").contains(needle),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_failing_interval_write_does_not_lose_the_final_report() {
    require_root();
    let load = spread_workload("1", "0");
    let mut args = vec![
        "run",
        "--interval",
        "0.3",
        "--format",
        "json",
        "-o",
        "/dev/full",
        "--",
    ];
    args.extend(load.iter().map(String::as_str));
    let out = wl(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    // Said once; tracing goes on, and the final report, which cannot be written to the
    // file either, is on standard error with every call counted.
    assert!(lines[0].starts_with("wl: --interval stops"), "{err}");
    assert_eq!(lines.len(), 3, "{err}");
    assert_workload_counts(&parse_json(lines[1].as_bytes()), 1, true);
    assert!(
        lines[2].contains("cannot write the report to /dev/full"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(wl_tests::OWN_ERROR));
}

#[test]
fn attach_reports_intervals_until_its_duration_ends() {
    require_root();
    let mut target = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = target.id().to_string();
    let out = wl(&[
        "attach",
        "--pid",
        &pid,
        "--duration",
        "1.3",
        "--interval",
        "0.5",
        "--format",
        "json",
    ]);
    let _ = target.kill();
    let _ = target.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text.lines().map(|l| parse_json(l.as_bytes())).collect();
    assert_eq!(
        lines.len(),
        4,
        "two intervals, the last 0.3 s and the final report: {text}"
    );
    assert_eq!(lines[1]["interval"]["index"], 1);
    assert_eq!(lines[2]["interval"]["index"], 2);
    assert_eq!(lines[2]["interval"]["end_ns"], lines[3]["duration_ns"]);
    assert_eq!(lines[3]["target"]["pids"][0].as_u64(), pid.parse().ok());
    assert!(lines[3].get("interval").is_none());
    assert!(lines[3]["duration_ns"].as_u64().unwrap() >= 1_300_000_000);
}
