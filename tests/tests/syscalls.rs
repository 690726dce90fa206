//! `wl-user syscalls` and `--kernel-src`: the syscall knowledge, without tracing.

mod common;

use common::*;

fn fixture() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/linux-mini").to_owned()
}

#[test]
fn explains_one_syscall_for_every_abi() {
    let out = wl(&["syscalls", "futex"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("x86_64   nr 202  sys_futex  (Futex)"),
        "{text}"
    );
    assert!(
        text.contains("i386     nr 240  sys_futex_time32  (Futex)"),
        "{text}"
    );
    assert!(
        text.contains("aarch64  nr 98   sys_futex  (Futex)"),
        "{text}"
    );
    assert!(text.contains("source kernel/futex/syscalls.c"), "{text}");
    assert!(text.contains("MAINTAINERS: FUTEX SUBSYSTEM"), "{text}");
    assert!(text.contains("  M: Thomas Gleixner"), "{text}");
}

#[test]
fn lists_as_json() {
    let out = wl(&["syscalls", "--arch", "i386", "--format", "json"]);
    assert!(out.status.success());
    let rows = parse_json(&out.stdout);
    let rows = rows.as_array().unwrap();
    assert!(rows.len() > 400);
    let mmap = rows.iter().find(|r| r["name"] == "mmap").unwrap();
    assert_eq!(mmap["nr"], 90);
    assert_eq!(mmap["abi"], "i386");
    assert_eq!(mmap["entry"], "compat_sys_ia32_mmap");
    assert_eq!(mmap["source"], "arch/x86/kernel/sys_ia32.c");
    assert_eq!(mmap["subsystem"], "Memory Mgmt.");
    assert_eq!(mmap["maintainers"], "X86 ARCHITECTURE (32-BIT AND 64-BIT)");
}

#[test]
fn kernel_src_replaces_the_embedded_tables() {
    let out = wl(&[
        "syscalls",
        "--kernel-src",
        &fixture(),
        "munmap",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = parse_json(&out.stdout);
    assert_eq!(rows[0]["source"], "mm/mmap.c");
    assert_eq!(rows[0]["maintainers"], "MEMORY MAPPING");
    // The fixture has no such syscall, the embedded table does.
    let out = wl(&["syscalls", "--kernel-src", &fixture(), "io_uring_setup"]);
    assert_eq!(out.status.code(), Some(wl_tests::OWN_ERROR));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(Linux 6.99.0)"));
}

#[test]
fn kernel_src_that_is_not_a_tree_is_one_line() {
    let out = wl(&["syscalls", "--kernel-src", "/tmp"]);
    assert_eq!(out.status.code(), Some(wl_tests::OWN_ERROR));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("wl-user: error: --kernel-src /tmp: not a Linux source tree"),
        "{err}"
    );
}

#[test]
fn unknown_syscall_name() {
    let out = wl(&["syscalls", "no_such_call"]);
    assert_eq!(out.status.code(), Some(wl_tests::OWN_ERROR));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no syscall or command named 'no_such_call'")
    );
}

#[test]
fn a_number_names_the_syscall_of_each_abi() {
    let out = wl(&["syscalls", "110", "--arch", "x86_64", "-f", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = parse_json(&out.stdout);
    assert_eq!(rows[0]["name"], "getppid");
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let out = wl(&["syscalls", "110"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("syscall number 110\n"), "{text}");
    assert!(
        text.contains("x86_64   nr 110  getppid: sys_getppid"),
        "{text}"
    );
    assert!(text.contains("i386     nr 110  iopl: sys_iopl"), "{text}");
}

#[test]
fn a_command_name_says_what_carries_it_and_where_it_is_defined() {
    let out = wl(&["syscalls", "SIOCGIFCONF", "-f", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = parse_json(&out.stdout);
    assert_eq!(found[0]["carried_by"], "ioctl");
    assert_eq!(found[0]["value"], "0x8912");
    assert_eq!(found[0]["header"], "include/uapi/linux/sockios.h");
    // Where it is served: the socket layer's ioctl, with its maintainers.
    let served = found[0]["served_in"].as_array().unwrap();
    assert!(
        served.iter().any(|s| s["function"] == "sock_ioctl"
            && s["file"] == "net/socket.c"
            && s["maintainers"] == "NETWORKING [GENERAL]"),
        "{served:?}"
    );
    let out = wl(&["syscalls", "pr_set_name"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("prctl option 15, defined in include/uapi/linux/prctl.h"),
        "{text}"
    );
}

#[test]
fn a_typo_gets_the_nearest_names() {
    let out = wl(&["syscalls", "opnat"]);
    assert_eq!(out.status.code(), Some(wl_tests::OWN_ERROR));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean openat"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
