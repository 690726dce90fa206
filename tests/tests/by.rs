//! `--by process|thread|comm`: the counts split by process, thread or command name. Each
//! part is checked against what the test workload's processes and threads do, and the
//! parts against the report's totals; a fork storm overflows the kernel side's per-task
//! map and the calls it could not keep apart must still add up.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::Duration,
};

use common::*;
use serde_json::Value;
use wl_tests::*;

/// A number field of a JSON object, failing the test with the object if it is missing.
fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no number {field} in {v}"))
}

/// The entries of `list` (`processes`, `threads` or `commands`) of a report.
fn entries<'a>(report: &'a Value, list: &str) -> &'a Vec<Value> {
    report[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} array in the report: {report}"))
}

/// `(calls, errors)` of syscall `name` of `abi` in one entry (0, 0 if it made none).
fn made_abi(entry: &Value, abi: &str, name: &str) -> (u64, u64) {
    entry["syscalls"]
        .as_array()
        .unwrap_or_else(|| panic!("no syscalls array in {entry}"))
        .iter()
        .find(|s| s["name"] == name && s["abi"] == abi)
        .map_or((0, 0), |s| (n(s, "calls"), n(s, "errors")))
}

/// Calls of x86_64 syscall `name` in one entry.
fn made(entry: &Value, name: &str) -> u64 {
    made_abi(entry, NATIVE_ABI, name).0
}

/// Runs `wl-user run --format json --by BY [EXTRA] -- COMMAND` within `limit`.
fn run_by(
    by: &str,
    extra: &[&str],
    command: &[&str],
    limit: Duration,
) -> (Value, std::process::Output) {
    let mut args = vec!["run", "--format", "json", "--output", "-", "--by", by];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(command);
    let out = wl_within(&args, limit);
    assert!(
        !out.stdout.is_empty(),
        "no report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (parse_json(&out.stdout), out)
}

/// The test workload at scale 1, as a command line.
fn workload_command() -> Vec<String> {
    vec![
        testload().to_str().unwrap().to_owned(),
        "--scale".into(),
        "1".into(),
    ]
}

/// Each entry of `list` adds up its own syscalls, and the entries add up, syscall by
/// syscall, to the report's rows: the split neither loses nor invents a call.
fn assert_split_adds_up(report: &Value, list: &str) {
    let mut summed: BTreeMap<(String, String), (u64, u64, u64)> = BTreeMap::new();
    for e in entries(report, list) {
        let mut own = (0, 0, 0);
        for s in e["syscalls"].as_array().unwrap() {
            let (c, er, t) = (n(s, "calls"), n(s, "errors"), n(s, "total_ns"));
            assert!(c > 0, "a row without calls: {s}");
            own = (own.0 + c, own.1 + er, own.2 + t);
            let key = (
                s["abi"].as_str().unwrap().to_owned(),
                s["name"].as_str().unwrap().to_owned(),
            );
            let sum = summed.entry(key).or_default();
            *sum = (sum.0 + c, sum.1 + er, sum.2 + t);
        }
        assert_eq!(
            own,
            (n(e, "calls"), n(e, "errors"), n(e, "total_ns")),
            "calls, errors, total_ns of an entry of {list} are not its syscalls' sums: {e}"
        );
    }
    let top: BTreeMap<(String, String), (u64, u64, u64)> = report["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                (
                    s["abi"].as_str().unwrap().to_owned(),
                    s["name"].as_str().unwrap().to_owned(),
                ),
                (n(s, "calls"), n(s, "errors"), n(s, "total_ns")),
            )
        })
        .collect();
    assert_eq!(
        summed, top,
        "{list}, summed per syscall as (calls, errors, total_ns), differ from the report's rows"
    );
}

/// The one entry of `list` for which `is` holds.
fn only<'a>(list: &'a [Value], what: &str, is: impl Fn(&Value) -> bool) -> &'a Value {
    let found: Vec<&Value> = list.iter().filter(|e| is(e)).collect();
    assert_eq!(found.len(), 1, "{what}: {found:#?}");
    found[0]
}

/// The path of the workload's executable as /proc/PID/exe shows it.
fn testload_exe() -> PathBuf {
    testload().canonicalize().unwrap()
}

/// The test workload's five processes in a `--by process` report, told apart by what each
/// did (their pids are not known in advance).
struct Workload<'a> {
    main: &'a Value,
    child: &'a Value,
    middle: &'a Value,
    orphan: &'a Value,
    exec: &'a Value,
}

fn workload_processes(report: &Value) -> Workload<'_> {
    assert_eq!(report["by"], "process");
    let procs = entries(report, "processes");
    // main, its forked child, the middle child that forks the orphan and exits, the
    // setsid orphan and the child that execs: nothing else runs.
    assert_eq!(procs.len(), 5, "{procs:#?}");
    let pids: BTreeSet<u64> = procs.iter().map(|p| n(p, "pid")).collect();
    assert_eq!(pids.len(), 5, "one entry per pid: {pids:?}");
    assert!(
        !pids.contains(&0),
        "no calls went to \"others\": {procs:#?}"
    );
    let main = only(procs, "the main process (threads' getpgid)", |p| {
        made(p, "getpgid") > 0
    });
    let child = only(procs, "the forked child (getsid)", |p| {
        made(p, "getsid") > 0
    });
    let orphan = only(procs, "the orphan (setsid)", |p| made(p, "setsid") > 0);
    let exec = only(procs, "the exec'd child (getpgrp)", |p| {
        made(p, EXEC_CALL) > 0
    });
    let known = [main, child, orphan, exec].map(|p| n(p, "pid"));
    let middle = only(procs, "the middle child", |p| !known.contains(&n(p, "pid")));
    Workload {
        main,
        child,
        middle,
        orphan,
        exec,
    }
}

/// Every number the workload promises, process by process. `run`: traced from its
/// execve (wl-user run) rather than attached to while it waited.
fn assert_workload_processes(report: &Value, run: bool) {
    let w = workload_processes(report);
    let main_pid = n(w.main, "pid");

    // The main process, its threads' calls summed in.
    let m = w.main;
    assert_eq!(made(m, "getppid"), MAIN_GETPPID, "{m}");
    assert_eq!(made(m, "getpgid"), THREADS * THREAD_GETPGID, "{m}");
    assert_eq!(
        made_abi(m, NATIVE_ABI, "dup"),
        (DUP_EBADF, DUP_EBADF),
        "{m}"
    );
    assert_eq!(
        made_abi(m, NATIVE_ABI, RMDIR_CALL),
        (RMDIR_ENOENT, RMDIR_ENOENT),
        "{m}"
    );
    assert_eq!(
        made_abi(m, NATIVE_ABI, "chdir"),
        (CHDIR_OK + CHDIR_ENOENT, CHDIR_ENOENT),
        "{m}"
    );
    if cfg!(target_arch = "x86_64") {
        assert_eq!(made_abi(m, "i386", "getppid").0, I386_GETPPID, "{m}");
    }
    // Its own execve is counted only when wl-user started it.
    assert_eq!(made(m, "execve"), u64::from(run), "{m}");
    for other in ["getsid", "umask", "setsid", EXEC_CALL] {
        assert_eq!(made(m, other), 0, "{other} is its children's: {m}");
    }
    assert_eq!(m["exit_status"], EXIT_STATUS, "{m}");

    let c = w.child;
    assert_eq!(made(c, "getsid"), CHILD_GETSID, "{c}");
    assert_eq!(made(c, "getppid") + made(c, "getpgid"), 0, "{c}");
    assert_eq!(n(c, "ppid"), main_pid, "{c}");

    // The middle child only forks the orphan and exits.
    let mid = w.middle;
    assert_eq!(n(mid, "ppid"), main_pid, "{mid}");
    assert_eq!(made(mid, "clone") + made(mid, "clone3"), 1, "{mid}");
    assert_eq!(made(mid, "exit_group"), 1, "{mid}");
    assert_eq!(
        made(mid, "getppid") + made(mid, "getpgid") + made(mid, "umask"),
        0,
        "{mid}"
    );

    let o = w.orphan;
    assert_eq!(made(o, "umask"), ORPHAN_UMASK, "{o}");
    assert_eq!(made(o, "setsid"), 1, "{o}");
    // Forked by the middle child, which exits at once: its parent is that child or,
    // once re-parented, a reaper outside the workload, never the main process.
    let o_ppid = n(o, "ppid");
    assert!(
        o_ppid == n(mid, "pid")
            || entries(report, "processes")
                .iter()
                .all(|p| n(p, "pid") != o_ppid),
        "the orphan's parent {o_ppid} is neither the middle child nor outside the workload: {o}"
    );

    let e = w.exec;
    assert_eq!(made(e, EXEC_CALL), EXEC_GETPGRP, "{e}");
    assert_eq!(made(e, "execve"), 1, "{e}");
    assert_eq!(n(e, "ppid"), main_pid, "{e}");

    // The children keep the main process's name, except the exec'd one: the kernel
    // names a process after the file it execs, /proc/self/exe here, so "exe".
    for p in [m, c, mid, o] {
        assert_eq!(p["comm"], "wl-testload", "{p}");
    }
    assert_eq!(e["comm"], "exe", "{e}");

    // All five have ended by the report, the children through _exit(0) or exit(0).
    for p in [c, mid, o, e] {
        assert_eq!(p["exit_status"], 0, "{p}");
    }
    // Every one runs the workload's executable; a process gone before wl-user could
    // read /proc/PID/exe may have none.
    let exe = testload_exe();
    for p in [m, c, mid, o, e] {
        assert!(
            p["exe"].is_null() || p["exe"].as_str().map(PathBuf::from) == Some(exe.clone()),
            "exe of {p}, expected {} or null",
            exe.display()
        );
    }
    // Each started after the one that forked it or that it waited for.
    let start = |p: &Value| n(p, "start_ns");
    assert!(
        start(m) <= start(c)
            && start(c) <= start(mid)
            && start(mid) <= start(o)
            && start(mid) <= start(e),
        "start_ns out of order: main {}, child {}, middle {}, orphan {}, exec {}",
        start(m),
        start(c),
        start(mid),
        start(o),
        start(e)
    );

    assert_split_adds_up(report, "processes");
    assert!(
        report["lost"].as_object().unwrap().values().all(|v| v == 0),
        "lost: {}",
        report["lost"]
    );
}

#[test]
fn by_process_splits_the_workload_into_its_processes() {
    require_root();
    let cmd = workload_command();
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let (report, out) = run_by("process", &[], &cmd, Duration::from_secs(120));
    assert_eq!(
        out.status.code(),
        Some(EXIT_STATUS),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["exit_status"], EXIT_STATUS);
    // The totals are those of a run without --by.
    assert_workload_counts(&report, 1, true);
    assert_workload_processes(&report, true);
}

#[test]
fn without_by_the_report_has_no_split() {
    require_root();
    let out = wl(&[
        "run",
        "--format",
        "json",
        "--output",
        "-",
        "--",
        testload().to_str().unwrap(),
    ]);
    let report = parse_json(&out.stdout);
    for key in ["by", "processes", "threads", "commands"] {
        assert!(report.get(key).is_none(), "{key} without --by: {report}");
    }
}

#[test]
fn by_process_when_attached_to_a_running_workload() {
    require_root();
    let w = paused_workload(1);
    let pid = w.id();
    let report = attach_and_release(w, &["attach", "--by", "process", "--pid", &pid.to_string()]);
    assert_workload_counts(&report, 1, true);
    assert_workload_processes(&report, false);
    let main = workload_processes(&report).main;
    assert_eq!(n(main, "pid"), u64::from(pid));
    assert_eq!(
        n(main, "ppid"),
        u64::from(std::process::id()),
        "the test started it"
    );
}

#[test]
fn by_thread_keeps_the_workload_threads_apart() {
    require_root();
    let cmd = workload_command();
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let (report, out) = run_by("thread", &[], &cmd, Duration::from_secs(120));
    assert_eq!(
        out.status.code(),
        Some(EXIT_STATUS),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["by"], "thread");
    assert_workload_counts(&report, 1, true);
    let threads = entries(&report, "threads");
    // The main process's main thread and its THREADS threads, and the four other
    // processes' single threads.
    assert_eq!(threads.len() as u64, 5 + THREADS, "{threads:#?}");
    let tids: BTreeSet<u64> = threads.iter().map(|t| n(t, "tid")).collect();
    assert_eq!(tids.len(), threads.len(), "one entry per tid");

    let main = only(threads, "the main thread (getppid)", |t| {
        made(t, "getppid") > 0
    });
    let pid = n(main, "pid");
    assert_eq!(
        n(main, "tid"),
        pid,
        "the main thread's tid is the pid: {main}"
    );
    assert_eq!(made(main, "getppid"), MAIN_GETPPID, "{main}");
    assert_eq!(made(main, "getpgid"), 0, "{main}");
    assert_eq!(made_abi(main, NATIVE_ABI, "dup"), (DUP_EBADF, DUP_EBADF));

    let workers: Vec<&Value> = threads.iter().filter(|t| made(t, "getpgid") > 0).collect();
    assert_eq!(workers.len() as u64, THREADS, "{workers:#?}");
    for t in &workers {
        assert_eq!(made(t, "getpgid"), THREAD_GETPGID, "{t}");
        assert_eq!(n(t, "pid"), pid, "a thread of the main process: {t}");
        assert_ne!(n(t, "tid"), pid, "{t}");
        assert_eq!(made(t, "getppid"), 0, "{t}");
    }
    // Every other thread is a single-threaded process of its own.
    for t in threads {
        if n(t, "pid") != pid {
            assert_eq!(n(t, "tid"), n(t, "pid"), "{t}");
        }
    }
    assert_eq!(
        threads.iter().filter(|t| n(t, "pid") == pid).count() as u64,
        1 + THREADS
    );
    assert_split_adds_up(&report, "threads");
}

#[test]
fn by_thread_when_attached_to_a_running_workload() {
    require_root();
    let w = paused_workload(1);
    let pid = u64::from(w.id());
    let report = attach_and_release(w, &["attach", "--by", "thread", "--pid", &pid.to_string()]);
    assert_workload_counts(&report, 1, true);
    let threads = entries(&report, "threads");
    let main = only(threads, "the main thread (getppid)", |t| {
        made(t, "getppid") > 0
    });
    assert_eq!((n(main, "tid"), n(main, "pid")), (pid, pid), "{main}");
    assert_eq!(made(main, "getppid"), MAIN_GETPPID, "{main}");
    let workers: Vec<&Value> = threads.iter().filter(|t| made(t, "getpgid") > 0).collect();
    assert_eq!(workers.len() as u64, THREADS, "{workers:#?}");
    for t in &workers {
        assert_eq!(made(t, "getpgid"), THREAD_GETPGID, "{t}");
        assert_eq!(n(t, "pid"), pid, "a thread of the attached process: {t}");
        assert_ne!(n(t, "tid"), pid, "{t}");
    }
    assert_split_adds_up(&report, "threads");
}

/// The text formats carry the split too: CSV a row per (process, syscall), Markdown and
/// reStructuredText a table per process.
#[test]
fn by_process_in_csv_md_and_rst() {
    require_root();
    let cmd = workload_command();
    let text = |format: &str| {
        let mut args = vec![
            "run", "--format", format, "--output", "-", "--by", "process", "--",
        ];
        args.extend(cmd.iter().map(String::as_str));
        let out = wl_within(&args, Duration::from_secs(120));
        assert_eq!(out.status.code(), Some(EXIT_STATUS));
        String::from_utf8(out.stdout).unwrap()
    };
    let csv = text("csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("pid,tid,comm,abi,nr,name,calls,errors,total_ns,subsystem")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let pids: BTreeSet<&str> = rows.iter().map(|r| r[0]).collect();
    assert_eq!(pids.len(), 5, "{csv}");
    assert!(
        rows.iter().all(|r| r[1].is_empty()),
        "processes have no tid"
    );
    let getppid: u64 = rows
        .iter()
        .filter(|r| r[3] == NATIVE_ABI && r[5] == "getppid")
        .map(|r| r[6].parse::<u64>().unwrap())
        .sum();
    assert_eq!(getppid, MAIN_GETPPID);
    let umask: Vec<&Vec<&str>> = rows.iter().filter(|r| r[5] == "umask").collect();
    assert_eq!(umask.len(), 1, "only the orphan calls umask");
    assert_eq!(umask[0][6], ORPHAN_UMASK.to_string());

    let md = text("md");
    assert_eq!(md.matches("\n### pid ").count(), 5, "{md}");
    assert!(
        md.contains(&format!("| getsid | {CHILD_GETSID} | 0 |")),
        "{md}"
    );

    let rst = text("rst");
    let titles = rst.lines().filter(|l| l.starts_with("pid ")).count();
    assert_eq!(titles, 5, "{rst}");
    assert!(rst.contains("| getpgrp "), "{rst}");
}

#[test]
fn by_comm_groups_processes_by_name() {
    require_root();
    // The shell forks a child that execs the workload (`; true` keeps dash and bash
    // from exec'ing it in place).
    let script = format!("{} --scale 1; true", testload().display());
    let (report, out) = run_by(
        "comm",
        &[],
        &["sh", "-c", &script],
        Duration::from_secs(120),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["by"], "comm");
    let commands = entries(&report, "commands");
    let names: BTreeSet<&str> = commands
        .iter()
        .map(|c| c["comm"].as_str().unwrap())
        .collect();
    // A process counts under the name it ended with: the shell's child became
    // wl-testload, and the workload's exec'd child "exe" (after /proc/self/exe).
    assert_eq!(names, ["exe", "sh", "wl-testload"].into(), "{commands:#?}");
    let command = |name: &str| only(commands, name, |c| c["comm"] == name);
    let (sh, load, exe) = (command("sh"), command("wl-testload"), command("exe"));
    assert_eq!(n(sh, "processes"), 1, "the shell: {sh}");
    // main, forked child, middle child, orphan.
    assert_eq!(n(load, "processes"), 4, "{load}");
    assert_eq!(n(exe, "processes"), 1, "{exe}");

    assert_eq!(made(load, "getppid"), MAIN_GETPPID, "{load}");
    assert_eq!(made(load, "getpgid"), THREADS * THREAD_GETPGID, "{load}");
    assert_eq!(made(load, "getsid"), CHILD_GETSID, "{load}");
    assert_eq!(made(load, "umask"), ORPHAN_UMASK, "{load}");
    assert_eq!(made(load, "setsid"), 1, "{load}");
    assert_eq!(made(load, EXEC_CALL), 0, "{load}");
    assert_eq!(made_abi(load, NATIVE_ABI, "dup"), (DUP_EBADF, DUP_EBADF));
    if cfg!(target_arch = "x86_64") {
        assert_eq!(made_abi(load, "i386", "getppid").0, I386_GETPPID, "{load}");
    }
    assert_eq!(made(exe, EXEC_CALL), EXEC_GETPGRP, "{exe}");
    assert_eq!(made(exe, "execve"), 1, "{exe}");
    // The shell's execve, by wl-user, and its child's of the workload.
    assert_eq!(made(sh, "execve"), 1, "{sh}");
    assert_eq!(made(load, "execve"), 1, "{load}");
    // (The shell may call getppid itself, for $PPID.)
    for name in ["getpgid", "getsid", "umask", EXEC_CALL] {
        assert_eq!(made(sh, name), 0, "{name} in {sh}");
    }
    assert_split_adds_up(&report, "commands");
}

/// More short-lived processes than the kernel side keeps apart: whatever it could not
/// keep goes to one "others" entry, and every total stays exact.
#[test]
fn by_process_folds_a_fork_storm_into_others_and_stays_exact() {
    require_root();
    const CHILDREN: u64 = 20_000;
    let load = testload();
    let (report, out) = run_by(
        "process",
        &[],
        &[
            load.to_str().unwrap(),
            "--fork-storm",
            &CHILDREN.to_string(),
        ],
        Duration::from_secs(300),
    );
    assert_eq!(
        out.status.code(),
        Some(EXIT_STATUS),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["exit_status"], EXIT_STATUS);
    let r = rows(&report);
    // The main process makes neither call itself.
    assert_eq!(calls(&r, "getppid"), CHILDREN * STORM_CHILD_GETPPID);
    assert_eq!(calls(&r, "getuid"), CHILDREN * STORM_CHILD_GETUID);
    assert_split_adds_up(&report, "processes");

    let procs = entries(&report, "processes");
    let folded = n(&report["lost"], "task_map_full");
    let others: Vec<&Value> = procs.iter().filter(|p| n(p, "pid") == 0).collect();
    if folded == 0 {
        assert!(others.is_empty(), "{others:#?}");
    } else {
        assert_eq!(others.len(), 1, "{others:#?}");
        assert_eq!(others[0]["comm"], "others", "{}", others[0]);
        assert_eq!(n(others[0], "calls"), folded, "{}", others[0]);
    }
    let listed: Vec<&Value> = procs.iter().filter(|p| n(p, "pid") != 0).collect();
    let pids: BTreeSet<u64> = listed.iter().map(|p| n(p, "pid")).collect();
    assert_eq!(pids.len(), listed.len(), "one entry per pid");
    assert!(listed.len() as u64 <= 1 + CHILDREN);
    // The main process is the first the kernel side sees: never folded.
    let main = only(procs, "the main process (execve)", |p| {
        made(p, "execve") == 1
    });
    assert_eq!(main["exit_status"], EXIT_STATUS, "{main}");
    assert_eq!(made(main, "getppid") + made(main, "getuid"), 0, "{main}");
    let main_pid = n(main, "pid");
    assert_ne!(main_pid, 0);
    for p in listed.iter().filter(|p| n(p, "pid") != main_pid) {
        assert_eq!(n(p, "ppid"), main_pid, "a storm child: {p}");
        assert_eq!(p["exit_status"], 0, "{p}");
        let (g, u) = (made(p, "getppid"), made(p, "getuid"));
        if folded == 0 {
            assert_eq!((g, u), (STORM_CHILD_GETPPID, STORM_CHILD_GETUID), "{p}");
        } else {
            // A child seen as the map filled may have part of its calls in "others".
            assert!(g <= STORM_CHILD_GETPPID && u <= STORM_CHILD_GETUID, "{p}");
        }
    }
    if folded == 0 {
        assert_eq!(listed.len() as u64, 1 + CHILDREN);
    }
    eprintln!(
        "fork storm of {CHILDREN}: {} processes listed, {folded} calls folded into \"others\"",
        listed.len()
    );
}

/// `--top 1`: the table shows one process's block, the busiest, and one line for the
/// other four whose calls and errors are the rest of the totals.
#[test]
fn top_shows_the_busiest_process_and_sums_up_the_rest() {
    require_root();
    let report = std::env::temp_dir().join(format!("wl-top-{}.txt", std::process::id()));
    let out = wl(&[
        "run",
        "--by",
        "process",
        "--top",
        "1",
        "-o",
        report.to_str().unwrap(),
        "--",
        testload().to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(EXIT_STATUS),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&report).unwrap();
    std::fs::remove_file(&report).unwrap();
    // `pid P (COMM), ppid Q, exit S: C calls, E errors, T s`, one per process shown.
    let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("pid ")).collect();
    assert_eq!(headers.len(), 1, "{text}");
    // Busiest by time: the orphan, which sleeps ORPHAN_DELAY_MS before its calls.
    let block = text.split("\n\n").find(|b| b.starts_with("pid ")).unwrap();
    assert!(
        block.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.first() == Some(&ORPHAN_UMASK.to_string().as_str())
                && cols.last() == Some(&"umask")
        }),
        "the orphan's block, with its umask calls: {block}"
    );
    let number_before = |line: &str, word: &str| -> u64 {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let i = cols
            .iter()
            .position(|c| c.trim_end_matches(',') == word)
            .unwrap_or_else(|| panic!("no {word} in {line}"));
        cols[i - 1].trim_end_matches(':').parse().unwrap()
    };
    let shown = (
        number_before(headers[0], "calls"),
        number_before(headers[0], "errors"),
    );
    let more = text
        .lines()
        .find(|l| l.starts_with("4 more: "))
        .unwrap_or_else(|| panic!("no line for the 4 other processes in\n{text}"));
    let rest = (number_before(more, "calls"), number_before(more, "errors"));
    // The main table's last line: `100.00 SECONDS USECS CALLS ERRORS total` (the
    // workload always fails some calls, so ERRORS is there).
    let total: Vec<&str> = text
        .lines()
        .find(|l| l.ends_with(" total"))
        .unwrap()
        .split_whitespace()
        .collect();
    let (calls, errors): (u64, u64) = (
        total[total.len() - 3].parse().unwrap(),
        total[total.len() - 2].parse().unwrap(),
    );
    assert_eq!(
        (shown.0 + rest.0, shown.1 + rest.1),
        (calls, errors),
        "{text}"
    );
}

#[test]
fn by_refuses_what_it_does_not_know() {
    for args in [
        &["run", "--by", "nonsense", "--", "true"][..],
        &["attach", "--by", "nonsense", "--pid", "1"][..],
    ] {
        let out = wl(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(wl_tests::OWN_ERROR),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains("nonsense") && stderr.contains("process"),
            "names the bad value and the good ones: {stderr}"
        );
    }
    let out = wl(&["run", "--by", "process", "--top", "0", "--", "true"]);
    assert_eq!(
        out.status.code(),
        Some(wl_tests::OWN_ERROR),
        "--top 0 shows nothing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
