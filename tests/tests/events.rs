//! The kernel work no syscall row shows: signals sent to the traced tasks, by name,
//! their context switches with the time they waited, and the block I/O they submitted.

mod common;

use std::collections::BTreeMap;

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
            [&(NATIVE_ABI.to_owned(), "kill".to_owned())],
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

/// A loop device over a 4 MiB file, detached when dropped: a block device whose every
/// bio comes from the test.
struct LoopDevice {
    path: String,
    backing: std::path::PathBuf,
}

impl LoopDevice {
    fn new() -> Option<LoopDevice> {
        if !has_tool("losetup") {
            return None;
        }
        // The loop driver is a module in Debian's kernels, not loaded until asked for.
        if !std::path::Path::new("/dev/loop-control").exists() {
            let _ = std::process::Command::new("modprobe").arg("loop").status();
        }
        let backing = std::env::temp_dir().join(format!("wl-block-{}.img", std::process::id()));
        std::fs::File::create(&backing)
            .and_then(|f| f.set_len(4 << 20))
            .expect("cannot create the loop device's file");
        let out = std::process::Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&backing)
            .output()
            .expect("cannot run losetup");
        if !out.status.success() {
            let _ = std::fs::remove_file(&backing);
            cannot_run(&format!(
                "no loop device: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            return None;
        }
        let path = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        Some(LoopDevice { path, backing })
    }

    /// `loop0` for /dev/loop0.
    fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap()
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup")
            .args(["-d", &self.path])
            .status();
        let _ = std::fs::remove_file(&self.backing);
    }
}

/// Direct I/O makes one bio per call of a block of 64 KiB (16 pages, far below a bio's
/// 256): 16 reads and 8 writes by two processes, counted on the loop device alone.
#[test]
fn block_io_is_counted_by_device_and_operation() {
    require_root();
    let Some(dev) = LoopDevice::new() else {
        return;
    };
    let script = format!(
        "dd if={d} of=/dev/null bs=64k count=16 iflag=direct status=none && \
         dd if=/dev/zero of={d} bs=64k count=8 oflag=direct status=none",
        d = dev.path
    );
    for mode in [&[][..], &["--no-cgroup"]] {
        let mut args = vec!["run", "--format", "json", "-o", "-"];
        args.extend_from_slice(mode);
        args.extend_from_slice(&["--", "sh", "-c", &script]);
        let out = wl(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = parse_json(&out.stdout);
        let on_loop: Vec<(String, u64, u64)> = report["events"]
            .as_array()
            .expect("an events array")
            .iter()
            .filter(|e| e["event"] == "block I/O")
            .filter(|e| {
                e["detail"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{} ", dev.name()))
            })
            .map(|e| {
                assert_eq!(e["subsystem"], "Block layer");
                (
                    e["detail"].as_str().unwrap().to_owned(),
                    e["calls"].as_u64().unwrap(),
                    e["bytes"].as_u64().unwrap(),
                )
            })
            .collect();
        let name = dev.name();
        assert_eq!(
            on_loop,
            [
                (format!("{name} read"), 16, 16 << 16),
                (format!("{name} write"), 8, 8 << 16)
            ],
            "{mode:?}"
        );
    }
}

/// The page-fault rows of a report: (detail, object) → faults.
fn fault_rows(report: &serde_json::Value) -> BTreeMap<(String, Option<String>), u64> {
    report["events"]
        .as_array()
        .expect("an events array")
        .iter()
        .filter(|e| e["event"] == "page fault")
        .map(|e| {
            assert_eq!(e["subsystem"], "Memory Mgmt.", "{e}");
            let key = (
                e["detail"].as_str().unwrap().to_owned(),
                e["object"].as_str().map(str::to_owned),
            );
            (key, e["calls"].as_u64().unwrap())
        })
        .collect()
}

/// Where the workload's file goes: on the host a directory of the build (a disk's file
/// system, whose pages can be dropped and read again: major faults); in the test VMs,
/// whose shared directories are 9p, the guest's own /tmp.
fn faults_file() -> std::path::PathBuf {
    let dir = if std::env::var_os("WL_VM_GUEST").is_some() {
        std::env::temp_dir()
    } else {
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
    };
    dir.join(format!("wl-faults-{}", std::process::id()))
}

/// Attached to a workload that waits with its own pages locked in memory, wl counts
/// exactly the faults of the pages it then writes, as the kernel's own per-task
/// counters (getrusage) count them: anonymous ones, shared anonymous memory (shmem,
/// which the kernel backs with a tmpfs file), copy-on-write faults of a mapped file,
/// and pages of it dropped from the page cache before (major where the file system
/// can drop them).
#[test]
fn page_faults_are_counted_by_memory_and_outcome() {
    use std::io::Read as _;
    use wl_tests::faults::*;
    require_root();
    let file = faults_file();
    let (mut workload, mut said) =
        spawn_ready(&[std::ffi::OsStr::new("--faults"), file.as_os_str()]);
    let (wl, wl_stderr) = attach_json(workload.id());
    go(&mut workload);
    let mut rest = String::new();
    said.read_to_string(&mut rest).unwrap();
    let status = wait_with_timeout(&mut workload, std::time::Duration::from_secs(60));
    let _ = std::fs::remove_file(&file);
    assert_eq!(status.code(), Some(EXIT_STATUS), "{rest}");
    let out = output_with_timeout(wl, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "{}", wl_stderr.join().unwrap());
    let (minor, major): (u64, u64) = rest
        .strip_prefix("wl-testload: minor ")
        .and_then(|r| {
            let (min, maj) = r.trim().split_once(" major ")?;
            Some((min.parse().ok()?, maj.parse().ok()?))
        })
        .unwrap_or_else(|| panic!("no fault counts in {rest:?}"));
    let rows = fault_rows(&parse_json(&out.stdout));
    let sum = |outcome: &str| -> u64 {
        rows.iter()
            .filter(|((d, _), _)| d.ends_with(outcome))
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!((sum(" minor"), sum(" major")), (minor, major), "{rows:?}");
    assert_eq!(
        minor + major,
        ANON_PAGES + SHARED_PAGES + COW_PAGES + DROPPED_PAGES
    );
    assert!(!rows.keys().any(|(d, _)| d == "failed"), "{rows:?}");
    assert_eq!(
        rows.get(&("anon minor".into(), None)),
        Some(&ANON_PAGES),
        "{rows:?}"
    );
    let file_faults: u64 = rows
        .iter()
        .filter(|((d, _), _)| d.starts_with("file "))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        file_faults,
        SHARED_PAGES + COW_PAGES + DROPPED_PAGES,
        "{rows:?}"
    );
    let tmpfs = rows.get(&("file minor".into(), Some("tmpfs".into())));
    assert!(tmpfs.is_some_and(|&n| n >= SHARED_PAGES), "{rows:?}");
    if std::env::var_os("WL_VM_GUEST").is_none() {
        // A page dropped from the cache of a disk's file system is read again.
        assert!(major > 0, "no major fault: {rows:?}");
    }
}

/// wl's page faults are `perf stat -e page-faults`' for the same process over the same
/// time: both attached while it waits, before it faults, and both there at its end.
#[test]
fn page_faults_are_perf_stats() {
    use std::io::Read as _;
    require_root();
    if !has_tool("perf") {
        return;
    }
    let file = faults_file();
    let (mut workload, mut said) =
        spawn_ready(&[std::ffi::OsStr::new("--faults"), file.as_os_str()]);
    let pid = workload.id().to_string();
    // perf stat writes a line every 100 ms once it counts: the first says it does.
    let counts = file.with_extension("perf");
    let perf = std::process::Command::new("perf")
        .args([
            "stat",
            "-e",
            "page-faults",
            "-x,",
            "-I",
            "100",
            "-p",
            &pid,
            "-o",
        ])
        .arg(&counts)
        .spawn()
        .unwrap();
    let read_counts = || std::fs::read_to_string(&counts).unwrap_or_default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !read_counts().contains("page-faults") {
        assert!(
            std::time::Instant::now() < deadline,
            "perf stat did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (wl, wl_stderr) = attach_json(workload.id());
    go(&mut workload);
    let mut rest = String::new();
    said.read_to_string(&mut rest).unwrap();
    let status = wait_with_timeout(&mut workload, std::time::Duration::from_secs(60));
    let _ = std::fs::remove_file(&file);
    assert_eq!(status.code(), Some(EXIT_STATUS), "{rest}");
    // SAFETY: signalling our own child; perf stat writes its last interval and ends by
    // the same signal.
    unsafe { libc::kill(perf.id() as i32, libc::SIGINT) };
    let perf = output_with_timeout(perf, std::time::Duration::from_secs(30));
    {
        use std::os::unix::process::ExitStatusExt as _;
        assert!(
            perf.status.success() || perf.status.signal() == Some(libc::SIGINT),
            "{perf:?}"
        );
    }
    let out = output_with_timeout(wl, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "{}", wl_stderr.join().unwrap());
    // Interval lines: time,count,unit,event,...
    let text = read_counts();
    let _ = std::fs::remove_file(&counts);
    let perf_total: u64 = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f.get(3) == Some(&"page-faults")).then(|| f[1].trim().parse::<u64>().ok())?
        })
        .sum();
    let rows = fault_rows(&parse_json(&out.stdout));
    let wl_total: u64 = rows.values().sum();
    assert_eq!(wl_total, perf_total, "{rows:?}\n{text}");
    assert!(perf_total >= wl_tests::faults::ANON_PAGES, "{text}");
}

/// Under `run` (the cgroup filter) the same faults are there, with those of the
/// workload's start.
#[test]
fn page_faults_of_a_run_include_the_workloads() {
    use wl_tests::faults::*;
    require_root();
    let file = faults_file();
    let load = testload();
    // The workload's standard input is empty: it goes on at once.
    let out = wl(&[
        "run",
        "--format",
        "json",
        "-o",
        "-",
        "--",
        load.to_str().unwrap(),
        "--faults",
        file.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(EXIT_STATUS));
    let rows = fault_rows(&parse_json(&out.stdout));
    let anon = rows.get(&("anon minor".into(), None)).copied().unwrap_or(0);
    assert!(anon >= ANON_PAGES, "{rows:?}");
    let all: u64 = rows.values().sum();
    assert!(
        all >= ANON_PAGES + SHARED_PAGES + COW_PAGES + DROPPED_PAGES,
        "{rows:?}"
    );
}

/// The (event, detail) of a report's event row as a task's row names it: a task's page
/// faults are split by outcome only (`anon minor` is `minor`), its block I/O by
/// operation only (`vda read` is `read`).
fn per_task_key(e: &serde_json::Value) -> (String, String) {
    let event = e["event"].as_str().unwrap().to_owned();
    let detail = e["detail"].as_str().unwrap();
    let detail = match event.as_str() {
        "page fault" | "block I/O" => detail.rsplit(' ').next().unwrap(),
        _ => detail,
    };
    (event, detail.to_owned())
}

/// (calls, total_ns) per key of a list of event rows.
fn event_sums(rows: &[serde_json::Value]) -> BTreeMap<(String, String), (u64, u64)> {
    let mut sums: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for e in rows {
        let s = sums.entry(per_task_key(e)).or_default();
        s.0 += e["calls"].as_u64().unwrap();
        s.1 += e["total_ns"].as_u64().unwrap();
    }
    sums
}

/// With `--by`, each process, thread and command has its events, and they add up to
/// the workload's, kind by kind, time included: the split neither loses nor invents
/// one. The workload's process has its handled signals.
#[test]
fn events_are_split_by_task_and_add_up() {
    require_root();
    for (by, list) in [
        ("process", "processes"),
        ("thread", "threads"),
        ("comm", "commands"),
    ] {
        let (report, _) = traced(&["--by", by]);
        let tasks = report[list].as_array().expect("a list of tasks");
        let split: Vec<serde_json::Value> = tasks
            .iter()
            .flat_map(|t| t["events"].as_array().cloned().unwrap_or_default())
            .collect();
        let whole = event_sums(report["events"].as_array().unwrap());
        assert_eq!(event_sums(&split), whole, "--by {by}");
        assert!(whole.contains_key(&("page fault".into(), "minor".into())));
        assert_eq!(report["lost"]["task_events_full"], 0, "{}", report["lost"]);
        let load = tasks
            .iter()
            .find(|t| t["comm"] == "wl-testload")
            .expect("the workload's entry");
        let usr1 = load["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event"] == "signal" && e["detail"] == "SIGUSR1")
            .expect("SIGUSR1 in the workload's entry");
        assert_eq!(usr1["calls"], SIGUSR1_HANDLED, "--by {by}");
        assert_eq!(usr1["subsystem"], "Signal");
    }
}
