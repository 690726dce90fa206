//! io_uring operations as syscall-like rows: a workload whose operations are known
//! (`wl-testload --io-uring`), counted per opcode on submission and completion, with
//! the errno of each failure and the object each request's file was, including the
//! NOPs its SQPOLL thread submits.

mod common;

use common::*;
use wl_tests::{EXIT_STATUS, uring::*};

/// Where the workload's file goes: a directory of the build on the host; in the test
/// VMs, whose shared directories are 9p, the guest's own /tmp.
fn uring_file() -> std::path::PathBuf {
    let dir = if std::env::var_os("WL_VM_GUEST").is_some() {
        std::env::temp_dir()
    } else {
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
    };
    dir.join(format!("wl-uring-{}", std::process::id()))
}

/// The JSON report of `wl-user run OPTIONS -- wl-testload --io-uring FILE`, which must
/// end as the workload does.
fn run_uring(options: &[&str]) -> serde_json::Value {
    let file = uring_file();
    let load = testload();
    let mut args = vec!["run", "--format", "json", "-o", "-"];
    args.extend_from_slice(options);
    args.extend_from_slice(&[
        "--",
        load.to_str().unwrap(),
        "--io-uring",
        file.to_str().unwrap(),
    ]);
    let out = wl(&args);
    let _ = std::fs::remove_file(&file);
    assert_eq!(
        out.status.code(),
        Some(EXIT_STATUS),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_json(&out.stdout)
}

/// (op, submitted, completed, errors, errnos, objects as "name count").
type Op = (
    String,
    u64,
    u64,
    u64,
    Vec<(String, u64)>,
    Vec<(String, u64)>,
);

fn ops(report: &serde_json::Value) -> Vec<Op> {
    report["io_uring"]
        .as_array()
        .expect("an io_uring array")
        .iter()
        .map(|o| {
            assert_eq!(o["subsystem"], "io_uring", "{o}");
            let n = |f: &str| o[f].as_u64().unwrap();
            let errnos = o["errnos"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(e, n)| (e.clone(), n.as_u64().unwrap()))
                .collect();
            let objects = o["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    let name = x["name"].as_str().or(x["kind"].as_str()).unwrap();
                    (name.to_owned(), x["calls"].as_u64().unwrap())
                })
                .collect();
            (
                o["op"].as_str().unwrap().to_owned(),
                n("submitted"),
                n("calls"),
                n("errors"),
                errnos,
                objects,
            )
        })
        .collect()
}

#[test]
fn operations_are_counted_by_opcode_outcome_and_object() {
    require_root();
    for mode in [&[][..], &["--no-cgroup"], &["--no-latency"]] {
        let report = run_uring(mode);
        let got = ops(&report);
        // The file's object is named by its file system, whichever it is here.
        let fs = got
            .iter()
            .find(|o| o.0 == "WRITE")
            .and_then(|o| o.5.first())
            .map(|(name, _)| name.clone())
            .unwrap_or_default();
        let nops = NOPS + SQPOLL_NOPS;
        let expected: Vec<Op> = vec![
            (
                "NOP".into(),
                nops,
                nops,
                0,
                vec![],
                vec![("none".into(), nops)],
            ),
            (
                "READ".into(),
                READS + BAD_READS,
                READS + BAD_READS,
                BAD_READS,
                vec![("EBADF".into(), BAD_READS)],
                vec![(fs.clone(), READS), ("no_file".into(), BAD_READS)],
            ),
            (
                "WRITE".into(),
                WRITES,
                WRITES,
                0,
                vec![],
                vec![(fs.clone(), WRITES)],
            ),
        ];
        assert_eq!(got, expected, "{mode:?}");
        assert!(!fs.is_empty() && fs != "none" && fs != "no_file", "{fs}");
        // The subsystem summaries count the operations: by entry point all under
        // io_uring; by object the reads and writes under their file's subsystem
        // (Filesystem for ext4, where the host keeps it), the rest under io_uring.
        let ops_in = |list: &str, name: &str| {
            report[list]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .map_or(0, |s| s["io_uring_ops"].as_u64().unwrap())
        };
        assert_eq!(
            ops_in("subsystems", "io_uring"),
            nops + READS + BAD_READS + WRITES
        );
        let write = &report["io_uring"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["op"] == "WRITE")
            .unwrap()["objects"][0];
        let served = write["subsystem"].as_str().expect("the file's subsystem");
        assert_ne!(served, "io_uring", "{write}");
        if fs == "ext4" {
            assert_eq!(served, "Filesystem");
        }
        assert_eq!(ops_in("subsystems_by_object", served), READS + WRITES);
        assert_eq!(ops_in("subsystems_by_object", "io_uring"), nops + BAD_READS);
        // Submission to completion was timed, unless calls are not: each completion
        // is in a bucket, one at a time in flight.
        let untimed = mode == ["--no-latency"];
        for o in report["io_uring"].as_array().unwrap() {
            let in_buckets: u64 = o["latency_log2"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .sum();
            let timed = if untimed {
                0
            } else {
                o["calls"].as_u64().unwrap()
            };
            assert_eq!(in_buckets, timed, "{o}");
            assert_eq!(o["timed"], timed, "{o}");
            assert_eq!(o["total_ns"] == 0, untimed, "{o}");
        }
    }
}

/// With `--by thread`, the operations count for the thread that set the ring up (the
/// workload's main thread), the submissions for the thread that made them (its SQPOLL
/// thread submits its ring's NOPs), and the threads add up to the workload's rows.
#[test]
fn operations_are_split_by_task() {
    require_root();
    let report = run_uring(&["--by", "thread"]);
    let threads = report["threads"].as_array().expect("threads");
    let main = threads
        .iter()
        .find(|t| t["tid"] == t["pid"] && t["comm"] == "wl-testload")
        .unwrap_or_else(|| panic!("no main thread of the workload in {threads:#?}"));
    // Everything but what its SQPOLL thread submitted, as the whole report has it.
    let mut own = ops(&serde_json::json!({ "io_uring": main["io_uring"] }));
    for op in &mut own {
        if op.0 == "NOP" {
            op.1 += SQPOLL_NOPS;
        }
    }
    let mut whole = ops(&report);
    // Per task no histogram is kept: percentiles are the workload's only.
    for o in main["io_uring"].as_array().unwrap() {
        assert_eq!(o["timed"], 0, "{o}");
    }
    own.sort();
    whole.sort();
    assert_eq!(own, whole);
    let sqpoll = threads
        .iter()
        .find(|t| t["comm"].as_str().unwrap().starts_with("iou-sqp"))
        .expect("the SQPOLL thread");
    let nop = &sqpoll["io_uring"][0];
    assert_eq!(
        (&nop["op"], &nop["submitted"], &nop["calls"]),
        (&"NOP".into(), &SQPOLL_NOPS.into(), &0.into())
    );
    let submitted: u64 = threads
        .iter()
        .flat_map(|t| t["io_uring"].as_array().cloned().unwrap_or_default())
        .map(|o| o["submitted"].as_u64().unwrap())
        .sum();
    assert_eq!(submitted, NOPS + SQPOLL_NOPS + READS + BAD_READS + WRITES);
}

/// A ring set up before `attach` counts from its first traced submission; a ring of
/// another process, busy meanwhile, does not count.
#[test]
fn a_ring_older_than_the_trace_counts_and_another_process_does_not() {
    require_root();
    let (mut workload, _said) = spawn_ready(&["--io-uring-late"]);
    let (wl, wl_stderr) = attach_json(workload.id());
    // Another process's NOPs while the workload's are counted.
    let other = std::process::Command::new(testload())
        .args(["--bench", "uring-nop", "5000"])
        .output()
        .unwrap();
    assert!(other.status.success(), "{other:?}");
    go(&mut workload);
    let status = wait_with_timeout(&mut workload, std::time::Duration::from_secs(60));
    assert_eq!(status.code(), Some(EXIT_STATUS));
    let out = output_with_timeout(wl, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "{}", wl_stderr.join().unwrap());
    let got = ops(&parse_json(&out.stdout));
    assert_eq!(
        got,
        [(
            "NOP".into(),
            LATE_NOPS,
            LATE_NOPS,
            0,
            vec![],
            vec![("none".into(), LATE_NOPS)]
        )]
    );
}

#[test]
fn no_events_counts_no_operations() {
    require_root();
    assert!(run_uring(&["--events", "none"]).get("io_uring").is_none());
}
