//! Property tests of the readers of untrusted text: JSON reports (`diff`, `seccomp`),
//! OCI seccomp profiles (`run --seccomp`) and the web config (`serve`). Generated and
//! mutated inputs must never make them panic, and what they allocate while reading a
//! text stays within a small multiple of it: together with the bounded file reads of
//! [`crate::input`], no input can take more memory than its kind's limit allows.
//!
//! Bounded in time for CI (a few thousand cases, seconds); `WL_FUZZ_CASES=N` runs more.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

use proptest::prelude::*;

use crate::{
    report::read::ReadReport,
    seccomp::{Applied, Profile},
    serve::web_config::WebConfig,
};

/// Counts what each thread has allocated and not freed, and the most it had at once.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    // try_with: nothing to count on a thread being torn down.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call goes to the system allocator with the caller's arguments; the
// counting touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller's contract for `alloc`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller's contract for `alloc_zeroed`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is the system's.
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller's contract for `realloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Runs `f` and returns the most it had allocated at once on this thread.
fn peak_of<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let r = f();
    (r, (PEAK.with(Cell::get) - start).max(0) as usize)
}

/// What reading a text of `len` bytes may allocate at most: the parsed form of a JSON
/// or YAML text is a few times its size (a number's 2 bytes become an 8-byte u64, a
/// short string a 24-byte String), plus the parsers' fixed buffers.
fn bound(len: usize) -> usize {
    32 * len + (256 << 10)
}

fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("WL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number)),
        ".{0,12}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("SCMP_ACT_ALLOW"),
            Just("SCMP_ACT_ERRNO"),
            Just("SCMP_ACT_KILL"),
            Just("SCMP_ACT_TRACE"),
            Just("SCMP_ARCH_X86_64"),
            Just("execve"),
            Just("x86_64"),
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::vec((field_name(), inner), 0..8)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// The field names the readers look for, and others.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("schema"),
            Just("kernel"),
            Just("release"),
            Just("arch"),
            Just("duration_ns"),
            Just("latency"),
            Just("latency_sample"),
            Just("lost"),
            Just("syscalls"),
            Just("subsystems"),
            Just("syscall_tables"),
            Just("linux"),
            Just("origin"),
            Just("name"),
            Just("abi"),
            Just("calls"),
            Just("errors"),
            Just("errno"),
            Just("min_ns"),
            Just("max_ns"),
            Just("latency_log2"),
            Just("subsystem"),
            Just("timed_calls"),
            Just("defaultAction"),
            Just("defaultErrnoRet"),
            Just("architectures"),
            Just("names"),
            Just("action"),
            Just("errnoRet"),
            Just("args"),
        ]
        .prop_map(str::to_owned),
        "[a-z_]{1,10}",
    ]
}

/// A report as the json format writes it.
fn report_text() -> String {
    let mut buf = Vec::new();
    crate::report::tests::sample()
        .write(
            crate::report::Render::plain(crate::report::Format::Json),
            &mut buf,
        )
        .unwrap();
    String::from_utf8(buf).unwrap()
}

/// Edits of a text: cut, repeat, or put bytes at a place.
#[derive(Debug, Clone)]
enum Edit {
    Cut(usize, usize),
    Repeat(usize, usize, usize),
    Insert(usize, String),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), 0..64usize).prop_map(|(at, n)| Edit::Cut(at, n)),
        (any::<usize>(), 1..64usize, 1..50usize).prop_map(|(at, n, k)| Edit::Repeat(at, n, k)),
        (
            any::<usize>(),
            prop_oneof![
                Just("1e999999".to_owned()),
                Just("-1".to_owned()),
                Just("18446744073709551616".to_owned()),
                Just("null".to_owned()),
                Just("[".to_owned()),
                Just("{".to_owned()),
                Just("\"\\ud800\"".to_owned()),
                ".{0,8}",
            ]
        )
            .prop_map(|(at, s)| Edit::Insert(at, s)),
    ];
    prop::collection::vec(edit, 1..6)
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for e in edits {
        let at = |i: usize| if bytes.is_empty() { 0 } else { i % bytes.len() };
        match e {
            Edit::Cut(i, n) => {
                let a = at(*i);
                let b = (a + n).min(bytes.len());
                bytes.drain(a..b);
            }
            Edit::Repeat(i, n, k) => {
                let a = at(*i);
                let piece = bytes[a..(a + n).min(bytes.len())].to_vec();
                for _ in 0..*k {
                    bytes.splice(a..a, piece.iter().copied());
                }
            }
            Edit::Insert(i, s) => {
                let a = at(*i);
                bytes.splice(a..a, s.bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(cases(3000))]

    #[test]
    fn a_mutated_report_is_read_or_refused(edits in edits()) {
        let text = apply(&report_text(), &edits);
        let (read, peak) = peak_of(|| ReadReport::parse(&text));
        prop_assert!(peak <= bound(text.len()), "{peak} bytes for {} bytes of text", text.len());
        if let Err(e) = read {
            prop_assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn any_json_is_read_as_a_report_or_refused(v in json()) {
        let text = v.to_string();
        let (read, peak) = peak_of(|| ReadReport::parse(&text));
        prop_assert!(peak <= bound(text.len()), "{peak} bytes for {} bytes of text", text.len());
        if let Err(e) = read {
            prop_assert!(!e.contains('\n') && !e.contains("struct "), "{e}");
        }
    }

    #[test]
    fn any_json_is_applied_as_a_profile_or_refused(v in json(), replace in prop::option::of(prop_oneof![
        Just(crate::seccomp::Denial::Errno), Just(crate::seccomp::Denial::Kill), Just(crate::seccomp::Denial::Log),
    ])) {
        let text = v.to_string();
        let (applied, peak) = peak_of(|| {
            serde_json::from_str::<Profile>(&text)
                .map_err(anyhow::Error::from)
                .and_then(|p| Applied::new(&p, replace))
        });
        prop_assert!(peak <= bound(text.len()), "{peak} bytes for {} bytes of text", text.len());
        if let Ok(a) = applied {
            // Whatever it says, what is applied lets the command start.
            prop_assert!(a.action_of(crate::syscalls::AbiName::native(), "execve").runs());
        }
    }

    #[test]
    fn a_profile_with_any_actions_compiles_or_is_refused(
        default in "SCMP_ACT_[A-Z_]{2,14}",
        errno in prop::option::of(any::<u32>()),
        rules in prop::collection::vec(
            (prop::collection::vec(prop_oneof![
                Just("execve"), Just("getppid"), Just("mount"), Just("read"), Just("no_such_call"),
            ], 1..4), prop_oneof![
                Just("SCMP_ACT_ALLOW".to_owned()), Just("SCMP_ACT_ERRNO".to_owned()),
                Just("SCMP_ACT_KILL_PROCESS".to_owned()), Just("SCMP_ACT_LOG".to_owned()),
                Just("SCMP_ACT_TRAP".to_owned()), Just("SCMP_ACT_TRACE".to_owned()),
                "SCMP_ACT_[A-Z]{1,8}",
            ], prop::option::of(any::<u32>())),
            0..5,
        ),
    ) {
        let profile = serde_json::json!({
            "defaultAction": default,
            "defaultErrnoRet": errno,
            "syscalls": rules.iter().map(|(names, action, errno)| serde_json::json!({
                "names": names, "action": action, "errnoRet": errno,
            })).collect::<Vec<_>>(),
        });
        let profile: Profile = serde_json::from_value(profile).unwrap();
        if let Ok(applied) = Applied::new(&profile, None) {
            // A name libseccomp does not know is refused there; nothing panics.
            let _ = applied.compile();
        }
    }

    #[test]
    fn any_yaml_is_a_web_config_or_refused(lines in prop::collection::vec(prop_oneof![
        Just("tls_server_config:".to_owned()),
        Just("  cert_file: /dev/zero".to_owned()),
        Just("  key_file: /nonexistent".to_owned()),
        Just("  min_version: TLS13".to_owned()),
        Just("basic_auth_users:".to_owned()),
        Just("  prom: $2y$04$abcdefghijklmnopqrstuu".to_owned()),
        Just("  x: !!binary aGVsbG8=".to_owned()),
        Just("- [".to_owned()),
        Just("&a [*a, *a]".to_owned()),
        ".{0,16}",
    ], 0..8)) {
        let text = lines.join("\n");
        let (config, peak) = peak_of(|| WebConfig::parse(&text, "--web-config F"));
        prop_assert!(peak <= bound(text.len()), "{peak} bytes for {} bytes of text", text.len());
        if let Err(e) = config {
            prop_assert!(!format!("{e:#}").contains('\n'), "{e:#}");
        }
    }
}

/// Reading a file whose size says nothing (procfs) stops at the limit: what was
/// allocated is the limit, not the file.
#[test]
fn a_bounded_read_allocates_no_more_than_its_limit() {
    let (read, peak) =
        peak_of(|| crate::input::read_bytes(std::path::Path::new("/proc/self/maps"), 100));
    assert!(read.is_err());
    assert!(
        peak < 4096,
        "{peak} bytes allocated to refuse a file past 100 bytes"
    );
}

/// The counter sees what is allocated: without it every bound above holds trivially.
#[test]
fn the_counter_sees_allocations() {
    let (v, peak) = peak_of(|| vec![1u8; 1 << 20]);
    assert_eq!(v.len(), 1 << 20);
    assert!(peak >= 1 << 20, "{peak}");
    // A valid report is read, and reading it allocates.
    let text = report_text();
    let (read, peak) = peak_of(|| ReadReport::parse(&text));
    assert!(read.is_ok());
    assert!(peak > 0 && peak <= bound(text.len()), "{peak}");
}
