//! The kernel work no syscall row shows: signals sent to the traced tasks, by name, and
//! their context switches with the time they waited.

mod common;

use common::*;
use wl_tests::{EXIT_STATUS, events::*};

/// The report of `wl-testload --events` under `options`, and its own count of voluntary
/// context switches from getrusage.
fn traced(options: &[&str]) -> (serde_json::Value, u64) {
    let load = testload();
    let mut args = vec!["run", "--format", "json", "-o", "-"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--", load.to_str().unwrap(), "--events"]);
    let out = wl(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_STATUS), "{stderr}");
    let own = stderr
        .lines()
        .find_map(|l| l.strip_prefix("wl-testload: voluntary "))
        .and_then(|rest| rest.split(" involuntary ").next()?.parse().ok())
        .unwrap_or_else(|| panic!("no rusage line in {stderr}"));
    (parse_json(&out.stdout), own)
}

/// The most voluntary switches a workload's exit may add after its getrusage.
const EXIT_WAITS: u64 = 8;

fn event(report: &serde_json::Value, kind: &str, detail: &str) -> Option<serde_json::Value> {
    report["events"]
        .as_array()
        .expect("an events array")
        .iter()
        .find(|e| e["event"] == kind && e["detail"] == detail)
        .cloned()
}

#[test]
fn signals_are_counted_by_name_and_waits_by_switch() {
    require_root();
    for mode in [&[][..], &["--no-latency"], &["--no-cgroup"]] {
        let (report, voluntary) = traced(mode);
        let usr1 = event(&report, "signal", "SIGUSR1").expect("SIGUSR1");
        assert_eq!(usr1["calls"], SIGUSR1_HANDLED, "{mode:?}");
        assert_eq!(usr1["subsystem"], "Signal");
        // An ignored signal is dropped when sent: never queued, not counted.
        assert!(event(&report, "signal", "SIGUSR2").is_none(), "{mode:?}");
        // Each sleep blocks at least once; the workload's own count (since its fork,
        // before tracing began at its exec) bounds wl's from above, but for what its
        // exit does after getrusage: on a network filesystem (9p in the test VMs) the
        // exit's closing of the program's files waits for the server, 5 times on 6.12.
        let switched = event(&report, "context switch", "voluntary").expect("voluntary");
        let n = switched["calls"].as_u64().unwrap();
        assert!(
            (SLEEPS..=voluntary + EXIT_WAITS).contains(&n),
            "{mode:?}: {n} voluntary switches, {SLEEPS} sleeps, getrusage says {voluntary}"
        );
        let waited = switched["total_ns"].as_u64().unwrap();
        assert!(
            waited >= SLEEPS * SLEEP_MS * 1_000_000,
            "{mode:?}: waited {waited} ns in {SLEEPS} sleeps of {SLEEP_MS} ms"
        );
    }
}

#[test]
fn no_events_counts_none() {
    require_root();
    let (report, _) = traced(&["--no-events"]);
    assert!(report.get("events").is_none(), "{report}");
}

/// Calls left out by --syscall can block: the wait is counted, and the record made for
/// it holds no syscall, so nothing but the calls asked for shows.
#[test]
fn waits_in_calls_not_counted_make_no_rows() {
    require_root();
    for mode in [&[][..], &["--no-latency"]] {
        let mut options = vec!["--syscall", "kill"];
        options.extend_from_slice(mode);
        let (report, _) = traced(&options);
        let rows = rows(&report);
        let names: Vec<&(String, String)> = rows.keys().collect();
        assert_eq!(
            names,
            [&("x86_64".to_owned(), "kill".to_owned())],
            "{mode:?}: {rows:?}"
        );
        assert_eq!(
            rows.values().next().unwrap().calls,
            SIGUSR1_HANDLED + SIGUSR2_IGNORED,
            "{mode:?}"
        );
        let switched = event(&report, "context switch", "voluntary").expect("voluntary");
        assert!(switched["calls"].as_u64().unwrap() >= SLEEPS, "{mode:?}");
    }
}
