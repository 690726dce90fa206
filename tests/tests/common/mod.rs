//! Helpers shared by the integration tests: where the binaries are, running wl-user,
//! reading its JSON report.
#![allow(dead_code)] // each test file uses a different part

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read as _, Write as _},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
#[allow(unused_imports)] // each test file uses some
pub use wl_tests::{EXEC_CALL, NATIVE_ABI, RMDIR_CALL};

/// target/<profile>/, where cargo put the test binary's neighbours.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// The wl-user binary under test (`WL_USER_BIN` overrides). `cargo xtask test` builds it.
pub fn wl_user() -> PathBuf {
    let p =
        std::env::var_os("WL_USER_BIN").map_or_else(|| bin_dir().join("wl-user"), PathBuf::from);
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo xtask test`",
        p.display()
    );
    p
}

pub fn testload() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wl-testload"))
}

/// Whether this runs in CI, where ./setup has installed every tool the tests use.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// For a test that cannot run here (`why`): in CI that is a failure, since ./setup
/// installs everything the tests need; elsewhere the test is skipped, loudly. Returns
/// so that the caller can `return`.
pub fn cannot_run(why: &str) {
    assert!(
        !in_ci(),
        "{why}: in CI every test must run (./setup installs what they need)"
    );
    eprintln!("SKIPPED: {why}");
}

/// Whether `tool` is installed; if not, the test cannot run (see [`cannot_run`]).
pub fn has_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        cannot_run(&format!("{tool} is not installed (./setup installs it)"));
    }
    found
}

/// Runs `wl-user ARGS` as nobody with no capabilities (util-linux's setpriv), or None
/// when setpriv is missing (see [`cannot_run`]).
pub fn wl_unprivileged(args: &[&str]) -> Option<Output> {
    if Command::new("setpriv").arg("--help").output().is_err() {
        cannot_run("setpriv (util-linux) is not installed");
        return None;
    }
    Some(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(wl_user())
            .args(args)
            .output()
            .expect("start setpriv"),
    )
}

/// The integration tests load eBPF programs: they need root.
pub fn require_root() {
    assert!(
        nix_is_root(),
        "the integration tests load eBPF programs and need root: run `cargo xtask test`"
    );
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Waits for `child` at most `limit`, killing it and failing the test past that.
pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not finish within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `wl-user ARGS` to completion (at most two minutes).
pub fn wl(args: &[&str]) -> Output {
    wl_within(args, Duration::from_secs(120))
}

/// Runs `wl-user ARGS` to completion, failing the test after `limit`.
pub fn wl_within(args: &[&str], limit: Duration) -> Output {
    let child = Command::new(wl_user())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wl-user");
    output_with_timeout(child, limit)
}

pub fn output_with_timeout(mut child: Child, limit: Duration) -> Output {
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = read(stdout.map(|s| Box::new(s) as _));
    let err = read(stderr.map(|s| Box::new(s) as _));
    let status = wait_with_timeout(&mut child, limit);
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Waits until the attached wl-user says it is tracing; returns the rest of its stderr
/// as a thread that collects it.
pub fn wait_until_tracing(child: &mut Child) -> std::thread::JoinHandle<String> {
    let stderr = child.stderr.take().expect("stderr piped");
    let mut reader = BufReader::new(stderr);
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).expect("read wl-user stderr");
        assert!(n > 0, "wl-user ended before tracing: {seen}");
        seen.push_str(&line);
        if line.starts_with("wl: tracing") {
            break;
        }
    }
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
        seen + &rest
    })
}

/// `wl-testload ARGS` for a mode that says `wl-testload: ready` and then waits for a
/// byte on its standard input (`--faults`, `--io-uring-late`), once it is ready: the
/// child, and what it says on standard error after.
pub fn spawn_ready<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut workload = Command::new(testload())
        .args(args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wl-testload");
    let mut said = BufReader::new(workload.stderr.take().expect("stderr piped"));
    let mut line = String::new();
    said.read_line(&mut line)
        .expect("read wl-testload's stderr");
    assert_eq!(line, "wl-testload: ready\n");
    (workload, said)
}

/// Lets a workload of [`spawn_ready`] go on.
pub fn go(workload: &mut Child) {
    workload
        .stdin
        .take()
        .expect("stdin piped")
        .write_all(b"g")
        .expect("write to wl-testload");
}

/// `wl-user attach --pid PID --format json` (the report on standard output), once it
/// traces; with what it says on standard error (see [`wait_until_tracing`]).
pub fn attach_json(pid: u32) -> (Child, std::thread::JoinHandle<String>) {
    let mut wl = Command::new(wl_user())
        .args(["attach", "--pid", &pid.to_string(), "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wl-user attach");
    let stderr = wait_until_tracing(&mut wl);
    (wl, stderr)
}

/// One syscall's numbers in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub calls: u64,
    pub errors: u64,
    pub errno: BTreeMap<String, u64>,
}

/// `(abi, name)` → numbers, from a JSON report.
pub fn rows(report: &Value) -> BTreeMap<(String, String), Row> {
    report["syscalls"]
        .as_array()
        .expect("syscalls array")
        .iter()
        .map(|s| {
            let errno = s["errno"]
                .as_object()
                .expect("errno object")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
                .collect();
            (
                (
                    s["abi"].as_str().unwrap().to_owned(),
                    s["name"].as_str().unwrap().to_owned(),
                ),
                Row {
                    calls: s["calls"].as_u64().unwrap(),
                    errors: s["errors"].as_u64().unwrap(),
                    errno,
                },
            )
        })
        .collect()
}

pub fn calls(rows: &BTreeMap<(String, String), Row>, name: &str) -> u64 {
    rows.get(&(NATIVE_ABI.to_owned(), name.to_owned()))
        .map_or(0, |r| r.calls)
}

pub fn parse_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    })
}

/// Checks every number the test workload promises, at `scale`, with or without the
/// processes below the main one.
pub fn assert_workload_counts(report: &Value, scale: u64, children: bool) {
    use wl_tests::*;
    let r = rows(report);
    let kids = u64::from(children);
    assert_eq!(
        calls(&r, "getppid"),
        MAIN_GETPPID * scale,
        "getppid: {r:#?}"
    );
    assert_eq!(
        calls(&r, "getpgid"),
        THREADS * THREAD_GETPGID * scale,
        "getpgid (threads)"
    );
    assert_eq!(
        calls(&r, "getsid"),
        kids * CHILD_GETSID * scale,
        "getsid (child)"
    );
    assert_eq!(
        calls(&r, "umask"),
        kids * ORPHAN_UMASK * scale,
        "umask (setsid orphan)"
    );
    assert_eq!(calls(&r, "setsid"), kids, "setsid (orphan)");
    assert_eq!(
        calls(&r, EXEC_CALL),
        kids * EXEC_GETPGRP * scale,
        "getpgrp (exec'd child)"
    );
    let dup = &r[&(NATIVE_ABI.into(), "dup".into())];
    assert_eq!((dup.calls, dup.errors), (DUP_EBADF, DUP_EBADF));
    assert_eq!(dup.errno, [("EBADF".to_owned(), DUP_EBADF)].into());
    let rmdir = &r[&(NATIVE_ABI.into(), RMDIR_CALL.into())];
    assert_eq!((rmdir.calls, rmdir.errors), (RMDIR_ENOENT, RMDIR_ENOENT));
    assert_eq!(rmdir.errno, [("ENOENT".to_owned(), RMDIR_ENOENT)].into());
    let chdir = &r[&(NATIVE_ABI.into(), "chdir".into())];
    assert_eq!(
        (chdir.calls, chdir.errors),
        (CHDIR_OK + CHDIR_ENOENT, CHDIR_ENOENT)
    );
    assert_eq!(chdir.errno, [("ENOENT".to_owned(), CHDIR_ENOENT)].into());
    if cfg!(target_arch = "x86_64") {
        let i386 = &r[&("i386".into(), "getppid".into())];
        assert_eq!(i386.calls, I386_GETPPID, "getppid through int 0x80");
    }
    assert!(
        report["lost"].as_object().unwrap().values().all(|v| v == 0),
        "lost: {}",
        report["lost"]
    );
}

/// Starts the test workload (`wl-testload --scale SCALE`) blocked on its stdin.
pub fn paused_workload(scale: u64) -> Child {
    Command::new(testload())
        .args(["--wait-stdin", "--scale", &scale.to_string()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Attaches `wl-user WL_ARGS --format json` to the paused `workload`, releases it once
/// wl-user traces, and returns the report once both have ended.
pub fn attach_and_release(mut workload: Child, wl_args: &[&str]) -> serde_json::Value {
    let mut wl = Command::new(wl_user())
        .args(wl_args)
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = wait_until_tracing(&mut wl);
    workload.stdin.take().unwrap().write_all(b"g").unwrap();
    let st = wait_with_timeout(&mut workload, Duration::from_secs(60));
    assert_eq!(st.code(), Some(wl_tests::EXIT_STATUS));
    let out = output_with_timeout(wl, Duration::from_secs(60));
    assert!(out.status.success(), "wl-user: {}", stderr.join().unwrap());
    parse_json(&out.stdout)
}

/// Where cgroup v2 is mounted, if it is.
pub fn cgroup2_mount() -> Option<PathBuf> {
    std::fs::read_to_string("/proc/self/mounts")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| f[1].into())
        })
}

/// A running `wl-user serve` on a free loopback port; stopped with SIGTERM when dropped.
pub struct Serve {
    pub child: Child,
    pub port: u16,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Serve {
    pub fn start(args: &[&str]) -> Serve {
        let mut child = Command::new(wl_user())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wl-user serve");
        let mut reader = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).expect("read wl-user's stderr");
        let port = line
            .split("://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("wl-user serve did not start: {line}"));
        let stderr = std::thread::spawn(move || {
            let mut rest = String::new();
            let _ = reader.read_to_string(&mut rest);
            line + &rest
        });
        Serve {
            child,
            port,
            stderr: Some(stderr),
        }
    }

    /// One plain-HTTP scrape: (status line, headers and body).
    pub fn get(&self, path: &str, accept: &str) -> (String, String) {
        self.request("GET", path, accept)
    }

    pub fn request(&self, method: &str, path: &str, accept: &str) -> (String, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
        (head.to_owned(), body.to_owned())
    }

    /// Stops the daemon with SIGTERM; returns its exit status and stderr.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let st = wait_with_timeout(&mut self.child, Duration::from_secs(30));
        (st, self.stderr.take().unwrap().join().unwrap())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.stderr.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
