//! `--syscall`, `--failed` and `--errno`: the kernel side counts only the calls asked
//! for, exactly, timed and untimed, and the report says what it counted.

mod common;

use std::collections::BTreeMap;

use common::*;
use wl_tests::*;

/// The JSON report of the test workload traced with `options`, and its stderr.
fn traced(options: &[&str]) -> (serde_json::Value, String) {
    let load = testload();
    let mut args = vec!["run", "--format", "json", "--output", "-"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--", load.to_str().unwrap()]);
    let out = wl(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(EXIT_STATUS),
        "{options:?}: {stderr}"
    );
    (parse_json(&out.stdout), stderr)
}

fn row(rows: &BTreeMap<(String, String), Row>, abi: &str, name: &str) -> Option<Row> {
    rows.get(&(abi.to_owned(), name.to_owned())).cloned()
}

fn errno(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|&(e, n)| (e.to_owned(), n)).collect()
}

#[test]
fn only_the_syscalls_named_are_counted() {
    require_root();
    for mode in [&[][..], &["--no-latency"], &["--latency-sample", "4"]] {
        let mut options = vec!["--syscall", "getppid", "-s", "chdir"];
        options.extend_from_slice(mode);
        let (report, _) = traced(&options);
        let r = rows(&report);
        let mut names: Vec<(String, String)> = r.keys().cloned().collect();
        names.sort();
        let mut expected = vec![
            (NATIVE_ABI.to_owned(), "chdir".to_owned()),
            (NATIVE_ABI.to_owned(), "getppid".to_owned()),
        ];
        if cfg!(target_arch = "x86_64") {
            // A name counts in every ABI that has it.
            expected.push(("i386".to_owned(), "getppid".to_owned()));
            assert_eq!(row(&r, "i386", "getppid").unwrap().calls, I386_GETPPID);
        }
        expected.sort();
        assert_eq!(names, expected, "{mode:?}: nothing else is counted");
        assert_eq!(calls(&r, "getppid"), MAIN_GETPPID, "{mode:?}");
        let chdir = row(&r, NATIVE_ABI, "chdir").unwrap();
        assert_eq!(
            (chdir.calls, chdir.errors, chdir.errno),
            (
                CHDIR_OK + CHDIR_ENOENT,
                CHDIR_ENOENT,
                errno(&[("ENOENT", CHDIR_ENOENT)])
            ),
            "{mode:?}"
        );
        assert_eq!(
            report["only"],
            serde_json::json!({"syscalls": ["getppid", "chdir"], "failed": false, "errnos": []})
        );
        // The summary's syscall rows; the events (not filtered) add their own.
        let with_calls = report["subsystems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["syscalls"].as_u64().unwrap() > 0)
            .count();
        assert_eq!(with_calls, 2, "{mode:?}");
    }
}

#[test]
fn only_failed_calls_are_counted() {
    require_root();
    for mode in [&[][..], &["--no-latency"]] {
        let mut options = vec!["--failed"];
        options.extend_from_slice(mode);
        let (report, _) = traced(&options);
        let r = rows(&report);
        // Every row counts failures only: the calls that succeeded are not there.
        for (key, row) in &r {
            assert_eq!(row.calls, row.errors, "{mode:?} {key:?}: {row:?}");
            assert!(row.calls > 0);
        }
        let failed = |name| row(&r, NATIVE_ABI, name).map(|r| (r.calls, r.errno));
        assert_eq!(
            failed("dup"),
            Some((DUP_EBADF, errno(&[("EBADF", DUP_EBADF)]))),
            "{mode:?}"
        );
        assert_eq!(
            failed(RMDIR_CALL),
            Some((RMDIR_ENOENT, errno(&[("ENOENT", RMDIR_ENOENT)]))),
            "{mode:?}"
        );
        // Two of chdir's five calls succeeded.
        assert_eq!(
            failed("chdir"),
            Some((CHDIR_ENOENT, errno(&[("ENOENT", CHDIR_ENOENT)]))),
            "{mode:?}"
        );
        assert_eq!(failed("getppid"), None, "{mode:?}: getppid never fails");
        assert_eq!(report["only"]["failed"], true);
    }
}

#[test]
fn only_the_errnos_named_are_counted() {
    require_root();
    let names = format!("{RMDIR_CALL},chdir,dup");
    let (report, stderr) = traced(&["--errno", "ENOENT", "--syscall", &names]);
    let r = rows(&report);
    assert_eq!(row(&r, NATIVE_ABI, RMDIR_CALL).unwrap().calls, RMDIR_ENOENT);
    assert_eq!(row(&r, NATIVE_ABI, "chdir").unwrap().calls, CHDIR_ENOENT);
    assert_eq!(row(&r, NATIVE_ABI, "dup"), None, "dup fails with EBADF");
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(report["only"]["errnos"], serde_json::json!(["ENOENT"]));
    assert_eq!(report["only"]["failed"], true);
    assert!(stderr.is_empty() || !stderr.contains("error"), "{stderr}");

    // The table says what it counted.
    let load = testload();
    let out = wl(&[
        "run",
        "-e",
        "ENOENT",
        "-s",
        RMDIR_CALL,
        "--",
        load.to_str().unwrap(),
    ]);
    let table = String::from_utf8_lossy(&out.stderr);
    assert!(
        table.contains(&format!(
            "wl: counted only syscalls {RMDIR_CALL}; calls that failed with ENOENT"
        )),
        "{table}"
    );
}

#[test]
fn unknown_names_are_refused_with_the_nearest() {
    let marker = std::env::temp_dir().join(format!("wl-filter-ran-{}", std::process::id()));
    let touch = ["--", "touch", marker.to_str().unwrap()];
    for (option, word, near) in [
        ("--syscall", "opnat", "did you mean openat"),
        ("--syscall", "%netwrk", "did you mean network"),
        ("--errno", "ENOENTT", "did you mean ENOENT"),
    ] {
        let out = wl(&[&["run", option, word][..], &touch].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(OWN_ERROR), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(near), "{word}: {stderr}");
        assert!(!marker.exists(), "the workload ran");
    }
}

/// A profile needs every syscall a workload makes: filters and profiles do not mix.
#[test]
fn profiles_are_not_made_or_applied_from_part_of_the_calls() {
    require_root();
    let dir = std::env::temp_dir().join(format!("wl-filter-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    for args in [
        vec![
            "run",
            "--seccomp-out",
            &p("out.json"),
            "-s",
            "read",
            "--",
            "true",
        ],
        vec!["run", "--seccomp", &p("in.json"), "--failed", "--", "true"],
    ] {
        let out = wl(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(OWN_ERROR), "{args:?}: {err}");
        assert!(err.contains("cannot be used with"), "{args:?}: {err}");
    }
    // A report of a filtered run makes no profile either.
    let load = testload();
    let report = p("filtered.json");
    let out = wl(&[
        "run",
        "-e",
        "ENOENT",
        "-f",
        "json",
        "-o",
        &report,
        "--",
        load.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(EXIT_STATUS));
    let out = wl(&["seccomp", &report]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(OWN_ERROR), "{err}");
    assert!(
        err.contains("counted only some calls (--errno ENOENT)"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
