//! `cargo xtask vm-test`: wl's integration tests on the kernels users run, not only on
//! this machine's. Each of Debian's own kernels is fetched with apt, booted in qemu by
//! virtme-ng with this machine's root filesystem shared read-only, and the prebuilt test
//! binaries run inside it as root; their status and output come back through a
//! directory the guest may write.
//!
//! Nested KVM hangs or stops guests on the machines this project runs on, so guests are
//! emulated (TCG) unless `--kvm` is given: slower, but it always boots. That is why only
//! the test files with exact counts for the known workload run in the guest, not the
//! seed workloads.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use regex_lite::Regex;

use crate::{cargo, status, workspace_root};

/// Kernels tested when none is named.
const DEFAULT_KERNELS: &[&str] = &["6.1", "6.12"];

/// Test files (cargo test targets) run in each guest, with tests left out of them.
/// The seed workloads stay on the host: they take minutes under an emulated CPU.
/// serve's Prometheus and TLS tests stay too: what they add is not the kernel's.
const GUEST_TESTS: &[(&str, &[&str])] = &[
    ("run", &[]),
    ("attach", &[]),
    ("objects", &[]),
    // What the verifier of each kernel must accept beyond the syscall programs: the
    // filters' bit sets, the signal and scheduler tracepoints.
    ("filters", &[]),
    ("events", &[]),
    // io_uring_complete's arguments changed in Linux 6.3: both forms are read.
    ("io_uring", &[]),
    // The sampling clock and the stack map through each kernel's verifier and perf;
    // not the shares of the phases, sized for a real CPU (see the test).
    ("profile", &["each_phase_is_credited_to_its_subsystem"]),
    (
        "serve",
        &[
            "prometheus_scrapes_the_exact_counts_of_a_cgroup",
            "tls_and_basic_auth_with_a_real_client",
            // The event programs' per-cgroup paths, through each kernel's verifier.
            "events_and_io_uring_operations_per_cgroup",
        ],
    ),
];

/// Boot, tests and shutdown of one kernel; an emulated guest takes about a minute.
const GUEST_TIMEOUT_SECS: u64 = 600;

pub struct Options {
    /// `6.1`, `6.12` or a package name such as `linux-image-6.1.0-28-amd64`.
    pub kernels: Vec<String>,
    pub kvm: bool,
}

/// What one guest brought back.
struct Outcome {
    release: String,
    secs: u64,
    test_secs: Option<u64>,
    failures: Vec<String>,
}

pub fn run(opts: Options) -> Result<()> {
    crate::ensure_root("vm-test")?;
    let vm_dir = workspace_root().join("target/vm-test");
    let vng = find_vng(&vm_dir)?;
    if which("qemu-system-x86_64").is_none() {
        bail!("qemu-system-x86_64 is not installed: run ./setup");
    }
    if opts.kvm && !Path::new("/dev/kvm").exists() {
        bail!("--kvm: this machine has no /dev/kvm; leave out --kvm to emulate");
    }
    let kernels = if opts.kernels.is_empty() {
        DEFAULT_KERNELS.iter().map(|s| s.to_string()).collect()
    } else {
        opts.kernels.clone()
    };
    // A mistyped --kernel is a usage error, found before anything is built or booted.
    for spec in &kernels {
        package_pattern(spec)?;
    }
    let tests = build_tests()?;

    let mut outcomes = Vec::new();
    for spec in &kernels {
        let started = Instant::now();
        let outcome = match test_kernel(spec, &vm_dir, &vng, &tests, opts.kvm) {
            Ok(o) => o,
            // A kernel that cannot be fetched or booted fails the matrix: never a skip.
            Err(e) => Outcome {
                release: spec.clone(),
                secs: started.elapsed().as_secs(),
                test_secs: None,
                failures: vec![format!("{e:#}")],
            },
        };
        print_outcome(&outcome);
        outcomes.push(outcome);
    }

    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.failures.is_empty())
        .map(|o| o.release.as_str())
        .collect();
    let total: u64 = outcomes.iter().map(|o| o.secs).sum();
    eprintln!(
        "vm-test: {} passed, {} failed ({total} s)",
        outcomes.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        bail!("the tests failed on {}", failed.join(", "));
    }
    Ok(())
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// `./setup` installs virtme-ng in a virtualenv under target/; one on PATH also does.
fn find_vng(vm_dir: &Path) -> Result<PathBuf> {
    let own = vm_dir.join("venv/bin/vng");
    if own.is_file() {
        return Ok(own);
    }
    which("vng").context("virtme-ng (vng) is not installed: run ./setup")
}

/// Builds wl-user, wl-testload and the guest's test binaries; returns each test file's
/// name with the path of its binary.
fn build_tests() -> Result<Vec<(String, PathBuf)>> {
    crate::build_for_tests()?;
    let mut t = cargo();
    t.args([
        "test",
        "--release",
        "--no-run",
        "--message-format=json-render-diagnostics",
        "--package",
        "wl-tests",
    ]);
    for (name, _) in GUEST_TESTS {
        t.args(["--test", name]);
    }
    let out = t
        .stderr(Stdio::inherit())
        .output()
        .context("cannot start cargo")?;
    if !out.status.success() {
        bail!("building the integration tests failed: {}", out.status);
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let name = msg["target"]["name"].as_str().unwrap_or_default();
        if msg["reason"] == "compiler-artifact"
            && msg["profile"]["test"] == true
            && let Some(exe) = msg["executable"].as_str()
        {
            found.push((name.to_owned(), PathBuf::from(exe)));
        }
    }
    GUEST_TESTS
        .iter()
        .map(|(name, _)| {
            found
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .cloned()
                .with_context(|| format!("cargo built no test binary for tests/tests/{name}.rs"))
        })
        .collect()
}

/// The Debian package names a kernel spec stands for, as a pattern and as a name to
/// show; the newest match is taken, since Debian's archive keeps only the last few
/// builds of each.
fn package_pattern(spec: &str) -> Result<(Regex, String)> {
    let (pattern, shown) = match spec {
        "6.1" => (
            r"^linux-image-6\.1\.0-([0-9]+)-amd64$".to_owned(),
            "linux-image-6.1.0-*-amd64",
        ),
        "6.12" => (
            r"^linux-image-6\.12\.([0-9]+)\+deb12-amd64$".to_owned(),
            "linux-image-6.12.*+deb12-amd64",
        ),
        s if s.starts_with("linux-image-") => (format!("^({})$", regex_lite::escape(s)), s),
        s => bail!(
            "unknown kernel '{s}': give --kernel 6.1, 6.12 or a Debian package name \
             such as linux-image-6.1.0-28-amd64"
        ),
    };
    Ok((Regex::new(&pattern)?, shown.to_owned()))
}

/// The newest package matching `spec` in apt's lists, and the pattern it matched.
fn newest_package(spec: &str) -> Result<(String, Regex)> {
    let (pattern, shown) = package_pattern(spec)?;
    let out = Command::new("apt-cache")
        .args(["search", "--names-only", pattern.as_str()])
        .output()
        .context("cannot start apt-cache: vm-test needs Debian's apt")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let newest = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|name| {
            let build = pattern.captures(name)?.get(1)?.as_str();
            // An exact package name has no build number; any order will do for one.
            Some((build.parse::<u64>().unwrap_or(0), name.to_owned()))
        })
        .max();
    match newest {
        Some((_, name)) => Ok((name, pattern)),
        None => {
            bail!("apt knows no package {shown}: run `apt-get update` (on Debian 12) and try again")
        }
    }
}

/// Downloads and unpacks `package` once into the cache; returns the unpacked tree.
fn fetch_kernel(package: &str, cache: &Path) -> Result<PathBuf> {
    let tree = cache.join(package);
    if tree.join(".unpacked").exists() {
        return Ok(tree);
    }
    let download = cache.join("download");
    let _ = fs::remove_dir_all(&download);
    let _ = fs::remove_dir_all(&tree);
    fs::create_dir_all(&download)
        .with_context(|| format!("cannot create {}", download.display()))?;
    eprintln!("vm-test: downloading {package}");
    let out = Command::new("apt-get")
        .args(["download", "-q", package])
        .current_dir(&download)
        .output()
        .context("cannot start apt-get")?;
    if !out.status.success() {
        bail!(
            "cannot download {package}: {}; run `apt-get update` and try again",
            last_line(&out.stderr)
        );
    }
    let deb = fs::read_dir(&download)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("apt-get download left no .deb for {package}"))?;
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&tree)
        .output()
        .context("cannot start dpkg-deb")?;
    if !out.status.success() {
        bail!(
            "cannot unpack {}: {}",
            deb.display(),
            last_line(&out.stderr)
        );
    }
    fs::remove_dir_all(&download)?;
    fs::write(tree.join(".unpacked"), "")?;
    Ok(tree)
}

fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .to_owned()
}

/// The kernel image and its release (`6.1.0-28-amd64`) in an unpacked package.
fn vmlinuz(tree: &Path) -> Result<(PathBuf, String)> {
    let boot = tree.join("boot");
    fs::read_dir(&boot)
        .with_context(|| {
            format!(
                "{} has no boot/: not a kernel image package",
                tree.display()
            )
        })?
        .filter_map(|e| e.ok())
        .find_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let release = name.strip_prefix("vmlinuz-")?.to_owned();
            Some((e.path(), release))
        })
        .with_context(|| format!("no vmlinuz in {}", boot.display()))
}

/// The script the guest runs as its only command. The guest sees the host's paths, so
/// the binaries run where cargo built them; results go to `out`, the writable directory.
fn guest_script(out: &Path, tests: &[(String, PathBuf)]) -> String {
    let q = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    let mut s = String::from(
        "#!/bin/sh\n\
         # Written by `cargo xtask vm-test`; runs inside the guest, as root.\n",
    );
    s += &format!("out={}\n", q(out));
    s += "uname -r > \"$out/release\"\n";
    // The tests fail where they would otherwise skip for want of something; the tools
    // they run are where the host has them (inferno-flamegraph in ~/.cargo/bin).
    s += "export CI=true\n";
    if let Some(path) = std::env::var_os("PATH") {
        s += &format!("export PATH={}\n", q(Path::new(&path)));
    }
    // Tests that need what only the host has (an ext4 directory) check what the guest
    // has instead: the writable directory shared with the host.
    s += "export WL_VM_GUEST=\"$out\"\n";
    s += "cd /tmp\n";
    s += "start=$(date +%s)\n";
    for (name, exe) in tests {
        let skips: String = GUEST_TESTS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, skip)| skip.iter().map(|t| format!(" --skip {t}")).collect())
            .unwrap_or_default();
        // One test at a time: emulated CPUs are slow enough without sharing them.
        s += &format!(
            "{} --test-threads=1 --exact{skips} > \"$out/{name}.log\" 2>&1\n\
             echo $? > \"$out/{name}.status\"\n",
            q(exe)
        );
    }
    s += "echo $(( $(date +%s) - start )) > \"$out/test-secs\"\n";
    s
}

/// The unpacked tree of the newest package for `spec`, fetched if it is not cached.
fn newest_kernel(spec: &str, cache: &Path) -> Result<PathBuf> {
    let (package, pattern) = newest_package(spec)?;
    // A newer build replaces the older ones in the cache: each tree is 400 MB.
    for entry in fs::read_dir(cache).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != package && pattern.is_match(&name) {
            fs::remove_dir_all(entry.path())?;
        }
    }
    fetch_kernel(&package, cache)
}

fn test_kernel(
    spec: &str,
    vm_dir: &Path,
    vng: &Path,
    tests: &[(String, PathBuf)],
    kvm: bool,
) -> Result<Outcome> {
    let cache = vm_dir.join("kernels");
    let tree = match newest_kernel(spec, &cache) {
        Ok(tree) => tree,
        // The archive drops old builds: lists older than that name files that are gone.
        Err(e) => {
            eprintln!("vm-test: {e:#}; updating apt's lists and trying again");
            status({
                let mut c = Command::new("apt-get");
                c.args(["update", "-qq"]);
                c
            })?;
            newest_kernel(spec, &cache)?
        }
    };
    let (image, release) = vmlinuz(&tree)?;
    let out = vm_dir.join("runs").join(&release);
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let script = out.join("guest.sh");
    fs::write(&script, guest_script(&out, tests))?;
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let console = out.join("console.log");

    eprintln!(
        "vm-test: booting {release} ({}) ...",
        if kvm { "KVM" } else { "emulated" }
    );
    let started = Instant::now();
    let mut cmd = Command::new(vng);
    cmd.arg("--run").arg(&image);
    if !kvm {
        cmd.arg("--disable-kvm");
    }
    // 9p at once: vng would otherwise try virtiofsd first, which is slow to give up.
    // --verbose puts the kernel's log in console.log: what a failed boot leaves.
    cmd.args(["--force-9p", "--memory", "2G", "--cpus", "2", "--verbose"])
        .arg("--rwdir")
        .arg(&out)
        .arg("--exec")
        .arg(&script)
        .current_dir(workspace_root())
        .stdin(Stdio::null());
    let log = fs::File::create(&console)?;
    cmd.stdout(log.try_clone()?).stderr(log);
    // vng runs virtme-run and friends from its own bin directory.
    if let Some(bin) = vng.parent() {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let paths = std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(paths)?);
    }
    let mut vng_run = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", vng.display()))?;
    let ended = match wait_or_kill(&mut vng_run, Duration::from_secs(GUEST_TIMEOUT_SECS))? {
        Some(st) => format!("vng exited with {st}"),
        None => format!("stopped after {GUEST_TIMEOUT_SECS} s"),
    };
    let secs = started.elapsed().as_secs();

    let read = |name: &str| fs::read_to_string(out.join(name)).ok();
    let mut failures = Vec::new();
    match read("release") {
        Some(r) if r.trim() == release => {}
        Some(r) => failures.push(format!("the guest ran {} instead of {release}", r.trim())),
        None => {
            let hint = if kvm {
                "; nested KVM may not work here, try without --kvm"
            } else {
                ""
            };
            failures.push(format!(
                "the guest never ran its script ({ended}{hint}); see {}\n{}",
                console.display(),
                boot_excerpt(&read("console.log").unwrap_or_default())
            ));
        }
    }
    if failures.is_empty() {
        for (name, _) in tests {
            let log = out.join(format!("{name}.log"));
            let text = read(&format!("{name}.log")).unwrap_or_default();
            match read(&format!("{name}.status")).map(|s| s.trim().to_owned()) {
                Some(code) if code == "0" => {
                    // Only a test that ran counts as passed.
                    if text.contains("SKIPPED") {
                        failures.push(format!("{name}: a test skipped; see {}", log.display()));
                    }
                }
                Some(code) => failures.push(format!(
                    "{name}: exit status {code}; see {}\n{}",
                    log.display(),
                    failure_excerpt(&text)
                )),
                None => failures.push(format!(
                    "{name}: did not finish ({ended}); see {} and {}",
                    log.display(),
                    console.display()
                )),
            }
        }
    }
    let test_secs = read("test-secs").and_then(|s| s.trim().parse().ok());
    Ok(Outcome {
        release,
        secs,
        test_secs,
        failures,
    })
}

/// Waits for `child` at most `limit`; past that kills it with everything it started
/// (vng runs qemu as its child) and returns `None`. vng stays in xtask's process group
/// so that Ctrl-C stops the guest too.
fn wait_or_kill(child: &mut Child, limit: Duration) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut tree = vec![child.id()];
    let mut i = 0;
    while i < tree.len() {
        tree.extend(children_of(tree[i]));
        i += 1;
    }
    for pid in tree {
        // SAFETY: kill has no memory effects; these are processes this task started.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
    child.wait()?;
    Ok(None)
}

/// The children of every thread of `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// What a failed boot's console says: the lines before a kernel panic (they name what
/// was missing), else its last lines.
fn boot_excerpt(console: &str) -> String {
    let lines: Vec<&str> = console.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.contains("Kernel panic"))
        .map_or(lines.len(), |i| i + 1);
    lines[end.saturating_sub(8)..end].join("\n")
}

/// The part of a libtest log that says what failed, with the long JSON dumps of the
/// assertions cut to a readable width.
fn failure_excerpt(log: &str) -> String {
    const WIDTH: usize = 600;
    let from = log.find("\nfailures:").map_or(0, |i| i + 1);
    let lines: Vec<String> = log[from..]
        .lines()
        .map(|l| match l.char_indices().nth(WIDTH) {
            Some((i, _)) => format!("{} ...", &l[..i]),
            None => l.to_owned(),
        })
        .collect();
    let keep = lines.len().min(80);
    lines[..keep].join("\n")
}

fn print_outcome(o: &Outcome) {
    let tests = o
        .test_secs
        .map(|t| {
            format!(
                ", boot and shutdown {} s, tests {t} s",
                o.secs.saturating_sub(t)
            )
        })
        .unwrap_or_default();
    if o.failures.is_empty() {
        eprintln!("vm-test: {}: passed in {} s{tests}", o.release, o.secs);
    } else {
        eprintln!("vm-test: {}: FAILED in {} s{tests}", o.release, o.secs);
        for f in &o.failures {
            eprintln!("  {}", f.replace('\n', "\n  "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_specs_match_debian_package_names() {
        let p = package_pattern("6.1").unwrap().0;
        assert_eq!(&p.captures("linux-image-6.1.0-28-amd64").unwrap()[1], "28");
        assert!(!p.is_match("linux-image-6.1.0-28-cloud-amd64"));
        assert!(!p.is_match("linux-image-6.1.0-28-amd64-dbg"));
        let p = package_pattern("6.12").unwrap().0;
        assert_eq!(
            &p.captures("linux-image-6.12.117+deb12-amd64").unwrap()[1],
            "117"
        );
        assert!(!p.is_match("linux-image-6.12.117+deb12-rt-amd64"));
        assert!(package_pattern("linux-image-6.1.0-28-rt-amd64").is_ok());
        assert!(package_pattern("5.10").is_err());
    }

    #[test]
    fn a_failure_shows_libtest_failures_section_with_long_lines_cut() {
        let long = "x".repeat(5000);
        let log = format!(
            "running 2 tests\ntest a ... ok\ntest b ... FAILED\n\nfailures:\n\n\
             ---- b stdout ----\n  left: {long}\n\ntest result: FAILED. 1 passed; 1 failed\n"
        );
        let e = failure_excerpt(&log);
        assert!(e.starts_with("failures:"), "{e}");
        assert!(e.contains("---- b stdout ----") && e.contains("test result: FAILED"));
        assert!(e.lines().all(|l| l.len() < 700));
    }

    #[test]
    fn guest_script_runs_each_test_file_where_nothing_may_skip() {
        let tests = vec![
            ("run".to_owned(), PathBuf::from("/t/run-1")),
            ("attach".to_owned(), PathBuf::from("/t/attach-1")),
        ];
        let s = guest_script(Path::new("/o/6.1"), &tests);
        assert!(
            s.contains("'/t/run-1' --test-threads=1 --exact > \"$out/run.log\""),
            "{s}"
        );
        assert!(s.contains("'/t/attach-1' --test-threads=1 --exact > \"$out/attach.log\""));
        assert!(!s.contains("--skip"), "{s}");
        assert!(s.contains("export CI=true"));
    }
}
