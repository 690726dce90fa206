//! Hostile and careless input: files that never end, block, are huge or are not what
//! they claim to be, given to every command that reads a file; and malformed, oversized
//! or half-sent HTTP requests to the exporter. A file gets one line of error and a
//! non-zero exit within seconds, with wl-user under an address-space limit that reading
//! an endless file whole would break; a request gets a status or a close, and the
//! exporter goes on serving.

mod common;

use std::{
    io::{Read as _, Write as _},
    net::TcpStream,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use common::*;

/// Address space wl-user may map while it refuses a file: far below what reading
/// /dev/zero or a 1 TiB file would take, well above what it needs.
const ADDRESS_SPACE: u64 = 1 << 30;

/// `wl-user ARGS` under [`ADDRESS_SPACE`], for at most 30 s.
fn wl_bounded(args: &[&str]) -> Output {
    let mut cmd = Command::new(wl_user());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: ADDRESS_SPACE,
                rlim_max: ADDRESS_SPACE,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("start wl-user");
    output_with_timeout(child, Duration::from_secs(30))
}

/// A scratch directory of this test process and test: the tests run at once.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wl-hostile-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Files no command should read whole, each with a name for the failure message.
fn hostile_files(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let fifo = dir.join("fifo");
    if !fifo.exists() {
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    }
    let sparse = dir.join("sparse");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let zero_link = dir.join("zero-link");
    if !zero_link.exists() {
        std::os::unix::fs::symlink("/dev/zero", &zero_link).unwrap();
    }
    // Bytes that are neither text nor JSON, from a fixed LCG: the same every run.
    let mut x: u32 = 0x2545_f491;
    let noise: Vec<u8> = (0..64 << 10)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect();
    vec![
        ("a FIFO nobody writes", fifo),
        ("/dev/zero", PathBuf::from("/dev/zero")),
        ("a symlink to /dev/zero", zero_link),
        ("a directory", dir.to_path_buf()),
        ("a sparse 1 TiB file", sparse),
        ("random bytes", file("noise", &noise)),
        ("an empty file", file("empty", b"")),
        ("100,000 nested arrays", file("nested", &[b'['; 100_000])),
        ("an array", file("array", b"[1, 2, 3]")),
        ("null", file("null", b"null")),
        ("a number past f64", file("big", b"{\"schema\": 1e999999}")),
        (
            "fields of the wrong type",
            file(
                "types",
                b"{\"schema\": \"x\", \"kernel\": [], \"defaultAction\": 7}",
            ),
        ),
        ("not UTF-8", file("latin1", b"{\"name\": \"caf\xe9\"}")),
    ]
}

/// Every command that reads a named file, with the exit status it gives bad input.
#[test]
fn hostile_files_get_one_line_and_a_bounded_read() {
    require_root();
    let dir = scratch("commands");
    let marker = dir.join("ran");
    for (what, path) in hostile_files(&dir) {
        let p = path.to_str().unwrap();
        for (args, code) in [
            (vec!["diff", p, p], 2),
            (vec!["seccomp", p], wl_tests::OWN_ERROR),
            (
                vec![
                    "run",
                    "--seccomp",
                    p,
                    "--",
                    "touch",
                    marker.to_str().unwrap(),
                ],
                wl_tests::OWN_ERROR,
            ),
            (
                vec!["serve", "--listen", "127.0.0.1:0", "--web-config", p],
                wl_tests::OWN_ERROR,
            ),
        ] {
            let started = Instant::now();
            let out = wl_bounded(&args);
            let took = started.elapsed();
            let err = String::from_utf8_lossy(&out.stderr);
            let cmd = format!("wl-user {} on {what}", args[0]);
            assert_eq!(out.status.code(), Some(code), "{cmd}: {err}");
            let lines: Vec<&str> = err.lines().collect();
            assert_eq!(lines.len(), 1, "{cmd}: {err}");
            assert!(lines[0].starts_with("wl-user: error: "), "{cmd}: {err}");
            assert!(!err.contains("panicked"), "{cmd}: {err}");
            // Refused, not waited on or read through.
            assert!(took < Duration::from_secs(10), "{cmd} took {took:?}");
            assert!(!marker.exists(), "{cmd}: the workload ran");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The refusals say what the file is, so the user knows what to give instead.
#[test]
fn a_file_that_is_not_a_regular_one_is_named_for_what_it_is() {
    let dir = scratch("named");
    let files = hostile_files(&dir);
    for (what, needle) in [
        ("a FIFO nobody writes", "a FIFO, not a regular file"),
        ("/dev/zero", "a character device, not a regular file"),
        (
            "a symlink to /dev/zero",
            "a character device, not a regular file",
        ),
        ("a directory", "a directory, not a regular file"),
        (
            "a sparse 1 TiB file",
            "larger than the 256 MiB a file of this kind may be",
        ),
        ("not UTF-8", "not UTF-8 text"),
    ] {
        let path = &files.iter().find(|(w, _)| *w == what).unwrap().1;
        let p = path.to_str().unwrap();
        let out = wl_bounded(&["diff", p, p]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("cannot read {p}: {needle}")),
            "{what}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A request and what is a right answer to it.
struct Hostile<'a> {
    what: &'a str,
    request: &'a [u8],
    /// Shut the write side once it is sent.
    half_close: bool,
    /// The statuses that are right.
    statuses: &'a [u16],
    /// Whether a close without a reply is right too.
    may_close: bool,
}

impl<'a> Hostile<'a> {
    fn new(what: &'a str, request: &'a [u8], statuses: &'a [u16]) -> Self {
        Hostile {
            what,
            request,
            half_close: false,
            statuses,
            may_close: false,
        }
    }

    fn half_closed(self) -> Self {
        Hostile {
            half_close: true,
            ..self
        }
    }

    fn or_close(self) -> Self {
        Hostile {
            may_close: true,
            ..self
        }
    }
}

/// What a request got: its status code, or None for a close without a reply.
fn exchange(port: u16, request: &[u8], half_close: bool) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may close before all of it is sent: that is an answer too.
    let _ = s.write_all(request);
    if half_close {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut reply = Vec::new();
    match s.read_to_end(&mut reply) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("no reply and no close within 20 s: {e}"),
    }
    let text = String::from_utf8_lossy(&reply);
    let status = text.strip_prefix("HTTP/1.")?.get(2..5)?;
    Some(status.parse().expect("a status code"))
}

#[test]
fn hostile_requests_get_a_status_or_a_close_and_serving_goes_on() {
    require_root();
    if cgroup2_mount().is_none() {
        cannot_run("cgroup v2 is not mounted");
        return;
    }
    let serve = Serve::start(&[]);
    let long_header = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Junk: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let long_path = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100_000));
    let many_headers = format!(
        "GET /metrics HTTP/1.1\r\n{}\r\n",
        (0..500)
            .map(|i| format!("X-{i}: {i}\r\n"))
            .collect::<String>()
    );
    let requests = [
        Hostile::new("not HTTP", b"HELLO\r\n\r\n", &[400]).or_close(),
        Hostile::new("binary", &[0, 1, 2, 0xff, 0xfe, b'\r', b'\n', b'\r', b'\n'], &[400]).or_close(),
        Hostile::new("a 200 KB header", long_header.as_bytes(), &[431, 400]).or_close(),
        Hostile::new("a 100 KB path", long_path.as_bytes(), &[414, 404, 400, 431]).or_close(),
        Hostile::new("500 headers", many_headers.as_bytes(), &[431, 400]).or_close(),
        Hostile::new(
            "a body of 1 GB announced",
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n",
            &[405],
        )
        .or_close(),
        Hostile::new(
            "a bad chunked body",
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n",
            &[200, 400],
        )
        .half_closed()
        .or_close(),
        Hostile::new("HTTP/9.9", b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n", &[505, 400]).or_close(),
        Hostile::new(
            "a path outside",
            b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            &[404, 400],
        ),
        Hostile::new(
            "a bad Authorization without auth configured",
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!\r\nConnection: close\r\n\r\n",
            &[200],
        ),
        Hostile::new(
            "HTTP/1.0, then the write side shut",
            b"GET /metrics HTTP/1.0\r\n\r\n",
            &[200],
        )
        .half_closed(),
        Hostile::new("half a request line, then the write side shut", b"GET /met", &[400])
            .half_closed()
            .or_close(),
    ];
    for h in requests {
        match exchange(serve.port, h.request, h.half_close) {
            Some(code) => assert!(h.statuses.contains(&code), "{}: status {code}", h.what),
            None => assert!(h.may_close, "{}: closed without a reply", h.what),
        }
    }
    // A client that sends half a request and waits is let go (10 s for the headers).
    let mut slow = TcpStream::connect(("127.0.0.1", serve.port)).expect("connect");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "a client that never finished its headers was held {:?}",
        started.elapsed()
    );
    // Still serving, and answering right.
    let (head, body) = serve.get("/metrics", "*/*");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains("wl_build_info"), "{body}");
    let (st, _) = serve.stop();
    assert!(st.success());
}
