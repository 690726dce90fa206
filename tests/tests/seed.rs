//! The kernel workload-tracing guide's three workloads, shortened: traced with wl, and
//! checked for what the kernel's source says must hold.

mod common;

use common::*;
use serde_json::Value;

/// Runs `cmd` under wl-user; the report goes to a file, apart from the workload's output.
fn run(cmd: &[&str]) -> Value {
    let report =
        std::env::temp_dir().join(format!("wl-seed-{}-{}.json", cmd[0], std::process::id()));
    let mut args = vec![
        "run",
        "--format",
        "json",
        "--output",
        report.to_str().unwrap(),
        "--",
    ];
    args.extend_from_slice(cmd);
    // paxtest kiddie takes minutes on a busy two-core machine.
    let out = wl_within(&args, std::time::Duration::from_secs(1200));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read(&report).unwrap();
    std::fs::remove_file(&report).unwrap();
    parse_json(&json)
}

fn row<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name && s["abi"] == NATIVE_ABI)
        .unwrap_or_else(|| panic!("no {name} in {}", report["syscalls"]))
}

fn subsystem<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["subsystems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} subsystem"))
}

#[test]
fn perf_bench_syscall_basic() {
    require_root();
    if !has_tool("perf") {
        return;
    }
    let r = run(&["perf", "bench", "syscall", "basic", "-l", "100000"]);
    let getppid = row(&r, "getppid");
    // Exactly the loop count: perf makes no other getppid call in this benchmark.
    assert_eq!(getppid["calls"], 100_000);
    assert_eq!(getppid["subsystem"], "Process Mgmt.");
    assert_eq!(getppid["source"], "kernel/sys.c");
    assert_eq!(getppid["api"], "sys_getppid");
    // Everything it calls is named: no syscall_<nr> rows.
    assert!(
        r["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| !s["name"].as_str().unwrap().starts_with("syscall_"))
    );
    let pm = subsystem(&r, "Process Mgmt.");
    assert!(pm["calls"].as_u64().unwrap() >= 100_000);
}

#[test]
fn stress_ng_netdev() {
    require_root();
    if !has_tool("stress-ng") {
        return;
    }
    let r = run(&["stress-ng", "--netdev", "1", "-t", "3"]);
    // The netdev stressor queries interfaces with ioctl on a socket: the ioctl entry
    // point is fs/ioctl.c (the guide's Filesystem), the socket comes from net/socket.c.
    let ioctl = row(&r, "ioctl");
    assert!(ioctl["calls"].as_u64().unwrap() > 100, "{ioctl}");
    assert_eq!(ioctl["source"], "fs/ioctl.c");
    assert_eq!(ioctl["subsystem"], "Filesystem");
    let socket = row(&r, "socket");
    assert_eq!(socket["source"], "net/socket.c");
    assert_eq!(socket["subsystem"], "Network");
    assert_eq!(socket["maintainers"], "NETWORKING [GENERAL]");
    // stress-ng forks its stressor: wait4 is process management, not the guide's "Time".
    assert_eq!(row(&r, "wait4")["subsystem"], "Process Mgmt.");
    // Where the work is: every ioctl went to an AF_INET socket's sock_ioctl with an
    // interface request (SIOCGIF...), served by networking, and the summary counts
    // them there.
    let objects = ioctl["objects"].as_array().expect("ioctl objects");
    let on_sockets: u64 = objects
        .iter()
        .filter(|o| {
            o["kind"] == "socket"
                && o["handler"] == "sock_ioctl"
                && o["subsystem"] == "Network"
                && o["command"].as_str().unwrap_or("").starts_with("SIOCGIF")
        })
        .map(|o| o["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(on_sockets, ioctl["calls"].as_u64().unwrap(), "{objects:#?}");
    assert!(objects.iter().any(|o| o["command"] == "SIOCGIFCONF"));
    let net = r["subsystems_by_object"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Network")
        .expect("Network in subsystems_by_object");
    assert!(net["calls"].as_u64().unwrap() >= on_sockets);
}

#[test]
fn paxtest_kiddie() {
    require_root();
    if !has_tool("paxtest") {
        return;
    }
    let r = run(&["paxtest", "kiddie"]);
    // paxtest's memory-protection tests map and protect memory in dozens of children.
    let mprotect = row(&r, "mprotect");
    assert!(mprotect["calls"].as_u64().unwrap() > 10, "{mprotect}");
    assert_eq!(mprotect["subsystem"], "Memory Mgmt.");
    assert_eq!(row(&r, "mmap")["source"], "arch/x86/kernel/sys_x86_64.c");
    assert!(row(&r, "execve")["calls"].as_u64().unwrap() > 10);
    assert!(subsystem(&r, "Signal")["calls"].as_u64().unwrap() > 0);
}
