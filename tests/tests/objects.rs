//! Calls split by the object and command that served them: `wl-objects` makes a known
//! number of calls on each kind of object; the report must have exactly those, each
//! under the kernel function and source file that served it, and the commands must
//! agree with strace's decoding of the same run.

mod common;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use common::*;
use serde_json::Value;
use wl_tests::objects::*;

fn wl_objects() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wl-objects"))
}

/// ext4's and tmpfs's superblock magic (include/uapi/linux/magic.h).
const EXT4_SUPER_MAGIC: i64 = 0xEF53;
const TMPFS_MAGIC: i64 = 0x0102_1994;

fn fs_magic(dir: &Path) -> Option<i64> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: a valid path and a zeroed statfs to fill.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        (libc::statfs(c.as_ptr(), &mut st) == 0).then_some(st.f_type as i64)
    }
}

/// Where the workload's scratch file goes, and whether it is on ext4. The host must
/// have an ext4 directory (the test asks for an ext4 file); a guest of `cargo xtask
/// vm-test` names in WL_VM_GUEST the writable directory it shares with the host, whose
/// file system the test checks instead. Never tmpfs: the workload's tmpfs file is
/// another row.
fn scratch_dir() -> Option<(PathBuf, bool)> {
    if let Some(shared) = std::env::var_os("WL_VM_GUEST") {
        // A 9p share reports the host's file system type to statfs: only the
        // report says what served it in the guest.
        let d = PathBuf::from(shared);
        return fs_magic(&d)
            .is_some_and(|m| m != TMPFS_MAGIC)
            .then_some((d, false));
    }
    let here = std::env::current_exe().ok()?.parent()?.to_path_buf();
    [std::env::temp_dir(), here]
        .into_iter()
        .find(|d| fs_magic(d) == Some(EXT4_SUPER_MAGIC))
        .map(|d| (d, true))
}

fn traced(args: &[&str], dir: &std::path::Path) -> Value {
    traced_workload(args, &[dir.to_str().unwrap()])
}

fn traced_workload(args: &[&str], workload_args: &[&str]) -> Value {
    // Tests run in parallel: each run its own report file.
    static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let report = std::env::temp_dir().join(format!("wl-objects-{}-{n}.json", std::process::id()));
    let mut all = vec!["run", "--format", "json", "-o", report.to_str().unwrap()];
    all.extend_from_slice(args);
    let workload = wl_objects();
    all.extend_from_slice(&["--", workload.to_str().unwrap()]);
    all.extend_from_slice(workload_args);
    let out = wl(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = parse_json(&std::fs::read(&report).unwrap());
    std::fs::remove_file(&report).unwrap();
    v
}

fn syscall<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name && s["abi"] == NATIVE_ABI)
        .unwrap_or_else(|| panic!("no {name} in the report"))
}

fn objects(row: &Value) -> &Vec<Value> {
    row["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("{} has no objects: {row}", row["name"]))
}

/// The one object row of `syscall` served by `handler` (`a|b`: either name; Linux 6.18
/// renamed pipe_read to anon_pipe_read).
fn by_handler<'a>(report: &'a Value, syscall_name: &str, handler: &str) -> &'a Value {
    let row = syscall(report, syscall_name);
    let found: Vec<&Value> = objects(row)
        .iter()
        .filter(|o| handler.split('|').any(|h| o["handler"] == h))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{syscall_name}: objects served by {handler}: {:#}",
        row["objects"]
    );
    found[0]
}

/// The one object row of `syscall` with `command`.
fn by_command<'a>(report: &'a Value, syscall_name: &str, command: &str) -> &'a Value {
    let row = syscall(report, syscall_name);
    let found: Vec<&Value> = objects(row)
        .iter()
        .filter(|o| o["command"] == command)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{syscall_name}: objects with command {command}: {:#}",
        row["objects"]
    );
    found[0]
}

fn assert_object(o: &Value, calls: u64, errors: u64, source: &str, subsystem: &str) {
    assert_eq!(o["calls"], calls, "{o:#}");
    assert_eq!(o["errors"], errors, "{o:#}");
    assert_eq!(o["source"], source, "{o:#}");
    assert_eq!(o["subsystem"], subsystem, "{o:#}");
}

/// Every syscall that resolves objects: its objects' calls and errors add up to its own.
fn assert_objects_add_up(report: &Value) {
    for s in report["syscalls"].as_array().unwrap() {
        let Some(objects) = s["objects"].as_array() else {
            continue;
        };
        let sum = |f: &str| objects.iter().map(|o| o[f].as_u64().unwrap()).sum::<u64>();
        assert_eq!(sum("calls"), s["calls"].as_u64().unwrap(), "{s:#}");
        assert_eq!(sum("errors"), s["errors"].as_u64().unwrap(), "{s:#}");
    }
}

fn check_report(r: &Value, on_ext4: bool) {
    assert_objects_add_up(r);
    // Syscalls without an fd or command argument have no objects.
    for name in [
        "brk",
        "rt_sigaction",
        "newfstatat",
        "prlimit64",
        "sigaltstack",
    ] {
        if let Some(s) = r["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
        {
            assert!(s.get("objects").is_none(), "{s:#}");
        }
    }
    // Nothing was lost.
    assert_eq!(r["lost"]["object_map_full"], 0);

    // write: a pipe, /dev/null and an eventfd, nothing else.
    assert_eq!(
        objects(syscall(r, "write")).len(),
        3,
        "{:#}",
        syscall(r, "write")
    );
    let o = by_handler(r, "write", "pipe_write|anon_pipe_write");
    assert_object(o, PIPE_WRITE, 0, "fs/pipe.c", "Filesystem");
    assert_eq!(o["kind"], "pipe");
    let o = by_handler(r, "write", "write_null");
    assert_object(o, NULL_WRITE, 0, "drivers/char/mem.c", "Drivers");
    assert_eq!(o["name"], "/dev/null");
    let o = by_handler(r, "write", "eventfd_write");
    assert_object(o, EVENTFD_WRITE, 0, "fs/eventfd.c", "Filesystem");
    assert_eq!(o["name"], "eventfd");

    // read: the same, /dev/zero, and a closed fd; the dynamic loader's reads of
    // shared libraries are ext4 reads besides.
    let o = by_handler(r, "read", "pipe_read|anon_pipe_read");
    // Two reads more than writes: the last two find the pipe empty.
    assert_object(
        o,
        PIPE_READ,
        PIPE_READ - PIPE_WRITE,
        "fs/pipe.c",
        "Filesystem",
    );
    let o = by_handler(r, "read", "read_zero|read_iter_zero");
    assert_object(o, ZERO_READ, 0, "drivers/char/mem.c", "Drivers");
    assert_eq!(o["name"], "/dev/zero");
    let o = by_handler(r, "read", "eventfd_read");
    // The first read takes the whole counter.
    assert_object(
        o,
        EVENTFD_READ,
        EVENTFD_READ - 1,
        "fs/eventfd.c",
        "Filesystem",
    );
    let bad: Vec<&Value> = objects(syscall(r, "read"))
        .iter()
        .filter(|o| o["kind"] == "no_file")
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["calls"], BADFD_READ);
    assert_eq!(bad[0]["errors"], BADFD_READ);

    // ioctl: FIONREAD on the pipe stays with the pipe; SIOCGIFCONF on an AF_INET
    // socket is networking, not the VFS.
    let o = by_command(r, "ioctl", "FIONREAD");
    assert_object(o, PIPE_FIONREAD, 0, "fs/pipe.c", "Filesystem");
    assert_eq!(o["handler"], "pipe_ioctl");
    let o = by_command(r, "ioctl", "SIOCGIFCONF");
    assert_object(o, INET_SIOCGIFCONF, 0, "net/socket.c", "Network");
    assert_eq!(o["handler"], "sock_ioctl");
    assert_eq!(o["kind"], "socket");
    // FIONBIO on the same socket never reaches it: do_vfs_ioctl answers.
    let o = by_command(r, "ioctl", "FIONBIO");
    assert_object(o, INET_FIONBIO, 0, "fs/ioctl.c", "Filesystem");
    assert_eq!(o["handler"], "do_vfs_ioctl");

    // AF_UNIX stream sockets: the protocol's own operations.
    let o = by_handler(r, "sendto", "unix_stream_sendmsg");
    assert_object(o, UNIX_SENDTO, 0, "net/unix/af_unix.c", "Network");
    let o = by_handler(r, "recvfrom", "unix_stream_recvmsg");
    assert_object(
        o,
        UNIX_RECVFROM,
        UNIX_RECVFROM - UNIX_SENDTO,
        "net/unix/af_unix.c",
        "Network",
    );

    // Files: tmpfs is shmem, the scratch directory ext4.
    // Before Linux 6.6 tmpfs wrote through the page cache's generic function.
    let o = by_handler(
        r,
        "pwrite64",
        "shmem_file_write_iter|generic_file_write_iter",
    );
    assert_eq!(o["calls"], TMPFS_PWRITE);
    assert_eq!(o["subsystem"], "Memory Mgmt.");
    assert_eq!(o["name"], "tmpfs");
    if on_ext4 {
        let o = by_handler(r, "pwrite64", "ext4_file_write_iter");
        assert_object(o, DIR_PWRITE, 0, "fs/ext4/file.c", "Filesystem");
        assert_eq!(o["name"], "ext4");
    } else {
        // The guest's shared directory: whatever file system serves it, its own row.
        let o: Vec<&Value> = objects(syscall(r, "pwrite64"))
            .iter()
            .filter(|o| o["calls"] == DIR_PWRITE && o["kind"] == "file")
            .collect();
        assert_eq!(o.len(), 1, "{:#}", syscall(r, "pwrite64"));
        assert!(
            o[0]["source"].as_str().unwrap().starts_with("fs/"),
            "{:#}",
            o[0]
        );
    }

    // Commands without an fd, and fcntl's on the pipe.
    assert_eq!(by_command(r, "prctl", "PR_SET_NAME")["calls"], PR_SET_NAME);
    assert_eq!(by_command(r, "prctl", "PR_GET_NAME")["calls"], PR_GET_NAME);
    assert_eq!(by_command(r, "futex", "FUTEX_WAKE")["calls"], FUTEX_WAKE);
    let o = by_command(r, "fcntl", "F_GETFL");
    assert_eq!(o["calls"], PIPE_F_GETFL);
    assert_eq!(o["kind"], "pipe");
    // fcntl's and mmap's work is their own code's (fs/fcntl.c, do_mmap), whatever the
    // file: they stay under the syscall's subsystem.
    assert!(o["subsystem"].is_null(), "{o:#}");
    for o in objects(syscall(r, "mmap")) {
        assert!(o["subsystem"].is_null(), "{o:#}");
    }

    // The summary counts the socket calls under networking.
    let net = r["subsystems_by_object"]
        .as_array()
        .expect("subsystems_by_object")
        .iter()
        .find(|s| s["name"] == "Network")
        .expect("a Network row");
    assert!(
        net["calls"].as_u64().unwrap() >= INET_SIOCGIFCONF + UNIX_SENDTO + UNIX_RECVFROM,
        "{net}"
    );
}

#[test]
fn each_call_under_the_object_and_command_that_served_it() {
    require_root();
    let Some((dir, on_ext4)) = scratch_dir() else {
        return cannot_run("no ext4 directory for the workload's scratch file");
    };
    check_report(&traced(&[], &dir), on_ext4);
}

#[test]
fn objects_without_latency_and_with_sampling() {
    require_root();
    let Some((dir, on_ext4)) = scratch_dir() else {
        return cannot_run("no ext4 directory for the workload's scratch file");
    };
    // Untimed, the entry counts the call under its object and the exit its failure.
    check_report(&traced(&["--no-latency"], &dir), on_ext4);
    check_report(&traced(&["--latency-sample", "7"], &dir), on_ext4);
}

#[test]
fn objects_none_resolves_nothing() {
    require_root();
    let r = traced(&["--objects", "none"], &std::env::temp_dir());
    assert!(
        r["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s.get("objects").is_none())
    );
    assert!(r.get("subsystems_by_object").is_none());
}

/// More distinct keys than the kernel's object map holds (16,384): the calls past it
/// are counted under the syscall's `others` object and in `lost`, so nothing is lost
/// from the totals.
#[test]
fn keys_past_the_object_map_are_counted_as_others() {
    require_root();
    const N: u64 = 20_000;
    let r = traced_workload(&[], &["--ioctl-sweep", &N.to_string()]);
    let ioctl = syscall(&r, "ioctl");
    assert_eq!(ioctl["calls"], N);
    assert_eq!(ioctl["errors"], N);
    assert_objects_add_up(&r);
    let others: Vec<&Value> = objects(ioctl)
        .iter()
        .filter(|o| o["kind"] == "others")
        .collect();
    assert_eq!(others.len(), 1, "{:#}", ioctl["objects"]);
    let lost = r["lost"]["object_map_full"].as_u64().unwrap();
    // Every key of the run fits but for these: the ioctls' 20,000 and a few of the
    // program's start-up calls.
    assert!((N - 16_384..N).contains(&lost), "lost {lost}");
    assert_eq!(others[0]["calls"], lost);
    // The keys that fit are each one request on /dev/null.
    let named = objects(ioctl)
        .iter()
        .filter(|o| o["kind"] == "char_device" && o["name"] == "/dev/null")
        .count() as u64;
    assert_eq!(named + lost, N);
}

/// strace decodes these commands itself: its count of each must equal wl's.
#[test]
fn commands_agree_with_strace() {
    require_root();
    if !has_tool("strace") {
        return;
    }
    let dir = std::env::temp_dir();
    let log = dir.join(format!("wl-objects-strace-{}", std::process::id()));
    let st = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=ioctl,fcntl,prctl,futex", "-o"])
        .arg(&log)
        .arg(wl_objects())
        .arg(&dir)
        .status()
        .expect("start strace");
    assert!(st.success());
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    // strace names the private futex op FUTEX_WAKE_PRIVATE; wl reports the op without
    // its flags, as the kernel's futex code dispatches on it.
    let mut strace: BTreeMap<&str, u64> = BTreeMap::new();
    for (word, ours) in [
        ("FIONREAD", "FIONREAD"),
        ("SIOCGIFCONF", "SIOCGIFCONF"),
        ("FIONBIO", "FIONBIO"),
        ("F_GETFL", "F_GETFL"),
        ("PR_SET_NAME", "PR_SET_NAME"),
        ("PR_GET_NAME", "PR_GET_NAME"),
        ("FUTEX_WAKE_PRIVATE", "FUTEX_WAKE"),
    ] {
        let n = text.lines().filter(|l| l.contains(word)).count() as u64;
        assert!(n > 0, "strace saw no {word}");
        strace.insert(ours, n);
    }
    let r = traced(&[], &dir);
    for (command, n) in strace {
        let syscall_name = match command {
            "FIONREAD" | "SIOCGIFCONF" | "FIONBIO" => "ioctl",
            "F_GETFL" => "fcntl",
            "FUTEX_WAKE" => "futex",
            _ => "prctl",
        };
        assert_eq!(
            by_command(&r, syscall_name, command)["calls"],
            n,
            "{command}: wl against strace"
        );
    }
}
