//! `wl-user attach`: processes and cgroups that already run, their threads and children.

mod common;

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use common::*;

#[test]
fn attach_to_a_running_process_counts_it_and_its_new_children() {
    require_root();
    let w = paused_workload(2);
    let pid = w.id().to_string();
    let report = attach_and_release(w, &["attach", "--pid", &pid]);
    assert_workload_counts(&report, 2, true);
    assert_eq!(report["target"]["pids"][0], w_id(&pid));
}

fn w_id(pid: &str) -> u64 {
    pid.parse().unwrap()
}

#[test]
fn attach_no_children_counts_only_the_given_process() {
    require_root();
    let w = paused_workload(1);
    let pid = w.id().to_string();
    let report = attach_and_release(w, &["attach", "--no-children", "--pid", &pid]);
    assert_workload_counts(&report, 1, false);
}

#[test]
fn attach_includes_descendants_that_already_exist() {
    require_root();
    // A shell whose child is the paused workload: attaching to the shell must count it.
    let mut sh = Command::new("sh")
        .arg("-c")
        .arg(format!("{} --wait-stdin; exit 0", testload().display()))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the shell to have started the workload.
    let sh_pid = sh.id();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{sh_pid}/task/{sh_pid}/children"))
        .is_ok_and(|c| !c.trim().is_empty())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the shell did not start the workload"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut wl = Command::new(wl_user())
        .args(["attach", "--format", "json", "--pid", &sh_pid.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = wait_until_tracing(&mut wl);
    sh.stdin.take().unwrap().write_all(b"g").unwrap();
    wait_with_timeout(&mut sh, Duration::from_secs(60));
    let out = output_with_timeout(wl, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr.join().unwrap());
    assert_workload_counts(&parse_json(&out.stdout), 1, true);
}

#[test]
fn attach_to_a_cgroup_counts_everything_in_it() {
    require_root();
    let Some(root) = cgroup2_mount() else {
        cannot_run("cgroup v2 is not mounted");
        return;
    };
    let cg = root.join(format!("wl-test-{}", std::process::id()));
    std::fs::create_dir(&cg).unwrap();
    let w = paused_workload(1);
    std::fs::write(cg.join("cgroup.procs"), w.id().to_string()).unwrap();
    let report = attach_and_release(w, &["attach", "--cgroup", cg.to_str().unwrap()]);
    // The workload's orphan ends a little after it; wl-user waited for the cgroup to empty.
    let _ = std::fs::remove_dir(&cg);
    assert_workload_counts(&report, 1, true);
    assert_eq!(report["target"]["cgroup"], cg.to_str().unwrap());
}

/// The kernel side finds a task's ancestor at the traced level by walking up kernfs
/// parents: a workload two cgroups below the traced one is counted, one in a sibling
/// cgroup running at the same time is not.
#[test]
fn attach_to_a_cgroup_counts_its_descendant_cgroups_only() {
    require_root();
    let Some(root) = cgroup2_mount() else {
        cannot_run("cgroup v2 is not mounted");
        return;
    };
    let traced = root.join(format!("wl-test-tree-{}", std::process::id()));
    let deep = traced.join("a/b");
    let sibling = root.join(format!("wl-test-sibling-{}", std::process::id()));
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::create_dir(&sibling).unwrap();
    let inside = paused_workload(1);
    std::fs::write(deep.join("cgroup.procs"), inside.id().to_string()).unwrap();
    let mut outside = paused_workload(3);
    std::fs::write(sibling.join("cgroup.procs"), outside.id().to_string()).unwrap();
    // Released together with the traced one, so both run while wl-user traces.
    let mut release_outside = outside.stdin.take().unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        release_outside.write_all(b"g").unwrap();
    });
    let report = attach_and_release(inside, &["attach", "--cgroup", traced.to_str().unwrap()]);
    releaser.join().unwrap();
    wait_with_timeout(&mut outside, Duration::from_secs(60));
    // Orphans may linger a moment; the directories go when they are empty.
    for dir in [
        deep.clone(),
        traced.join("a"),
        traced.clone(),
        sibling.clone(),
    ] {
        for _ in 0..100 {
            if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_workload_counts(&report, 1, true);
}

#[test]
fn attach_stops_after_duration_and_reports() {
    require_root();
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = sleeper.id().to_string();
    let out = wl(&[
        "attach",
        "--pid",
        &pid,
        "--duration",
        "0.3",
        "--format",
        "json",
    ]);
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = parse_json(&out.stdout);
    assert!(
        report["syscalls"].as_array().unwrap().is_empty(),
        "a sleeping process makes no calls"
    );
    let d = report["duration_ns"].as_u64().unwrap();
    assert!((300_000_000..30_000_000_000).contains(&d), "duration {d}");
}

/// The root of the cgroup v2 hierarchy holds every process and has no `cgroup.events`:
/// tracing it lasts the whole `--duration`, counts what runs meanwhile, and leaves
/// wl-user's own calls out.
#[test]
fn attach_to_the_root_cgroup_traces_for_the_whole_duration() {
    require_root();
    let Some(root) = cgroup2_mount() else {
        cannot_run("cgroup v2 is not mounted");
        return;
    };
    let mut wl = Command::new(wl_user())
        .args(["attach", "--format", "json", "--duration", "2", "--cgroup"])
        .arg(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = wait_until_tracing(&mut wl);
    let mut w = paused_workload(1);
    w.stdin.take().unwrap().write_all(b"g").unwrap();
    wait_with_timeout(&mut w, Duration::from_secs(60));
    let out = output_with_timeout(wl, Duration::from_secs(60));
    let stderr = stderr.join().unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("stopping"), "{stderr}");
    let report = parse_json(&out.stdout);
    let d = report["duration_ns"].as_u64().unwrap();
    assert!(d >= 2_000_000_000, "stopped after {d} ns");
    // Everything on the machine is counted, so the workload's calls are a lower bound.
    let r = rows(&report);
    assert!(calls(&r, "getppid") >= wl_tests::MAIN_GETPPID, "{r:#?}");
    assert!(calls(&r, "getpgid") >= wl_tests::THREADS * wl_tests::THREAD_GETPGID);
}

/// An empty cgroup with --duration: traced for all of it, since processes may enter it
/// meanwhile; a workload moved in after the start is counted exactly.
#[test]
fn attach_to_an_empty_cgroup_waits_out_its_duration() {
    require_root();
    let Some(root) = cgroup2_mount() else {
        cannot_run("cgroup v2 is not mounted");
        return;
    };
    let cg = root.join(format!("wl-test-empty-{}", std::process::id()));
    std::fs::create_dir(&cg).unwrap();
    let mut wl = Command::new(wl_user())
        .args(["attach", "--format", "json", "--duration", "3", "--cgroup"])
        .arg(&cg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = wait_until_tracing(&mut wl);
    // Still empty a while after the start, when wl-user would have stopped before.
    std::thread::sleep(Duration::from_millis(500));
    let mut w = paused_workload(1);
    std::fs::write(cg.join("cgroup.procs"), w.id().to_string()).unwrap();
    w.stdin.take().unwrap().write_all(b"g").unwrap();
    assert_eq!(
        wait_with_timeout(&mut w, Duration::from_secs(60)).code(),
        Some(wl_tests::EXIT_STATUS)
    );
    let out = output_with_timeout(wl, Duration::from_secs(60));
    let stderr = stderr.join().unwrap();
    let _ = std::fs::remove_dir(&cg);
    assert!(out.status.success(), "{stderr}");
    let report = parse_json(&out.stdout);
    let d = report["duration_ns"].as_u64().unwrap();
    assert!(d >= 3_000_000_000, "stopped after {d} ns");
    assert_workload_counts(&report, 1, true);
}

/// A cgroup whose only process is wl-user itself: nothing is counted, where wl-user's
/// own map reads and timers would otherwise fill the report.
#[test]
fn attach_to_its_own_cgroup_leaves_its_calls_out() {
    require_root();
    let Some(root) = cgroup2_mount() else {
        cannot_run("cgroup v2 is not mounted");
        return;
    };
    let cg = root.join(format!("wl-test-self-{}", std::process::id()));
    std::fs::create_dir(&cg).unwrap();
    // The shell moves itself into the cgroup, then becomes wl-user.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {cg}/cgroup.procs && exec {wl} attach --cgroup {cg} --duration 1 --format json",
            cg = cg.display(),
            wl = wl_user().display()
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = output_with_timeout(out, Duration::from_secs(60));
    for _ in 0..100 {
        if std::fs::remove_dir(&cg).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = parse_json(&out.stdout);
    assert!(
        report["duration_ns"].as_u64().unwrap() >= 1_000_000_000,
        "a cgroup holding wl-user never empties: it traces for the whole --duration"
    );
    assert_eq!(
        report["syscalls"].as_array().unwrap().len(),
        0,
        "wl-user counted itself: {}",
        report["syscalls"]
    );
}
