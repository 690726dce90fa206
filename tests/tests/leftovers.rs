//! What a wl-user killed with SIGKILL leaves behind: the workload runs on (never stays
//! stopped), and its cgroup is removed by the next wl-user run.

mod common;

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::*;

/// The state letter of process `pid` (`R`, `S`, `T`, ...), or None once it is gone.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// The first child of `pid`, waiting up to ten seconds for one that `ready` accepts.
fn child_of(pid: u32, ready: impl Fn(u32) -> bool) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(c) = children.split_whitespace().next() {
            let c: u32 = c.parse().unwrap();
            if ready(c) {
                return c;
            }
        }
        assert!(Instant::now() < deadline, "no ready child of {pid}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The cgroup a `wl-user run` with pid `wl_pid` made: next to the test's own cgroup, or
/// below the root.
fn run_cgroup(wl_pid: u32) -> Option<PathBuf> {
    let root = cgroup2_mount()?;
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix("0::")
                .map(|p| p.trim_start_matches('/').to_owned())
        })?;
    [root.join(own), root]
        .into_iter()
        .map(|d| d.join(format!("wl-{wl_pid}")))
        .find(|d| d.is_dir())
}

#[test]
fn a_killed_run_leaves_the_workload_running_and_the_next_run_removes_its_cgroup() {
    require_root();
    if cgroup2_mount().is_none() {
        cannot_run("cgroup v2 is not mounted");
        return;
    }
    let mut tracer = Command::new(wl_user())
        .args(["run", "--", "sleep", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let wl_pid = tracer.id();
    let sleeper = child_of(wl_pid, |c| {
        std::fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|n| n.trim() == "sleep")
    });
    let cgroup = run_cgroup(wl_pid).expect("wl-user run made a cgroup");
    tracer.kill().unwrap();
    tracer.wait().unwrap();

    std::thread::sleep(Duration::from_millis(200));
    let st = state(sleeper);
    assert!(
        matches!(st, Some('S' | 'R')),
        "the workload should run on after wl-user is killed, state {st:?}"
    );
    assert!(cgroup.is_dir(), "a killed wl-user cannot remove its cgroup");
    // SAFETY: kill has no memory preconditions.
    assert_eq!(unsafe { libc::kill(sleeper as i32, libc::SIGKILL) }, 0);
    wait_for(
        "the workload to leave its cgroup",
        Duration::from_secs(10),
        || std::fs::read_to_string(cgroup.join("cgroup.procs")).is_ok_and(|p| p.trim().is_empty()),
    );

    let out = wl(&["run", "--", "true"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !cgroup.exists(),
        "the next run should remove the stale {}",
        cgroup.display()
    );
}

#[test]
fn a_run_killed_before_the_workload_starts_does_not_leave_it_stopped() {
    require_root();
    let marker = std::env::temp_dir().join(format!("wl-leftover-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let mut tracer = Command::new(wl_user())
        .args(["run", "--", "sh", "-c"])
        .arg(format!("echo ran > {}", marker.display()))
        // Holds wl-user between enrolling the stopped child and continuing it.
        .env("WL_TEST_PAUSE_BEFORE_EXEC_MS", "30000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = child_of(tracer.id(), |c| state(c) == Some('T'));
    tracer.kill().unwrap();
    tracer.wait().unwrap();
    wait_for(
        "the orphaned workload to run",
        Duration::from_secs(20),
        || std::fs::read_to_string(&marker).is_ok_and(|m| m == "ran\n"),
    );
    let _ = std::fs::remove_file(&marker);
    assert_ne!(state(child), Some('T'));
}
