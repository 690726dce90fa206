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
//!
//! `--arch arm64` does the same for Debian's arm64 kernels on an emulated arm64 CPU
//! (qemu-system-aarch64): the tests are cross-built, and since this machine's root
//! filesystem cannot run arm64 programs, the guest's root is an arm64 Debian made once
//! by debootstrap (its second stage run through qemu-user-static) and kept with the
//! kernels in the cache (`cache_dir`), with the workspace shared into it read-only.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use regex_lite::Regex;

use crate::{Arch, cargo, status, workspace_root};

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

/// Tests left out on an arm64 guest only, with why.
const ARM64_SKIPS: &[(&str, &str)] = &[
    // It renders the stacks with inferno-flamegraph, a host tool not in the arm64 root;
    // the stacks themselves are checked by the other profile tests.
    (
        "profile",
        "only_the_workload_is_sampled_and_the_stacks_render",
    ),
    // The emulated CPU's PMU is there, so the profile samples on `cycles`, which TCG
    // does not count in step with the guest's CPU time (half the samples 99 Hz would
    // give): the rate is checked on real CPUs and the x86_64 guests' cpu-clock.
    ("profile", "samples_are_the_rate_times_the_cpu_time"),
    // Two profiled runs sized for a real CPU take minutes here; what it checks is
    // wl-user diff's reading of two reports, the same on every architecture.
    ("profile", "diff_finds_a_new_kernel_path"),
];

/// Boot, tests and shutdown of one kernel; an emulated x86_64 guest takes about a
/// minute to boot and five to test, an arm64 one (every instruction translated) longer.
const GUEST_TIMEOUT_SECS: u64 = 600;
const ARM64_GUEST_TIMEOUT_SECS: u64 = 1800;

/// What the arm64 guest's root holds beyond debootstrap's minbase: busybox-static for
/// virtme-ng's init, and what the guest tests run (strace, perf, losetup, modprobe) or
/// wl-user links (libseccomp2).
const ARM64_ROOT_PACKAGES: &str = "busybox-static,strace,linux-perf,mount,kmod,libseccomp2";
const SUITE: &str = "bookworm";
/// Where a guest with a root of its own writes its results.
const FOREIGN_OUT: &str = "/wl-out";
const MIRROR: &str = "http://deb.debian.org/debian";

pub struct Options {
    /// `6.1`, `6.12` or a package name such as `linux-image-6.1.0-28-amd64`.
    pub kernels: Vec<String>,
    pub kvm: bool,
    /// The guests' architecture: this machine's, or arm64 on an emulated CPU.
    pub arch: Arch,
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
    let cache = cache_dir()?;
    let qemu = format!("qemu-system-{}", opts.arch.qemu());
    if which(&qemu).is_none() {
        bail!("{qemu} is not installed: run ./setup");
    }
    if opts.kvm && !opts.arch.is_host() {
        bail!(
            "--kvm runs guests of this machine's architecture only; leave it out for --arch {}",
            opts.arch.debian()
        );
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
        package_pattern(spec, opts.arch)?;
    }
    let tests = build_tests(opts.arch)?;
    let root = match opts.arch.is_host() {
        true => None,
        false => Some(foreign_root(&cache, opts.arch)?),
    };
    let guest = Guest {
        vng: &vng,
        tests: &tests,
        kvm: opts.kvm,
        arch: opts.arch,
        root: root.as_deref(),
        kernels: cache.join("kernels"),
    };

    let mut outcomes = Vec::new();
    for spec in &kernels {
        let started = Instant::now();
        let outcome = match test_kernel(spec, &vm_dir, &guest) {
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
    crate::on_path(program)
}

/// How each guest is booted and what it runs.
struct Guest<'a> {
    vng: &'a Path,
    tests: &'a [(String, PathBuf)],
    kvm: bool,
    arch: Arch,
    /// The guest's root filesystem; `None`: this machine's own.
    root: Option<&'a Path>,
    /// Where the kernels are kept, unpacked.
    kernels: PathBuf,
}

/// What vm-test keeps between runs, for every checkout on this machine: Debian's
/// kernels (about 120-400 MB each) and the arm64 root (about 400 MB), in
/// `$WL_VM_CACHE`, else `~/.cache/wl/vm-test`.
fn cache_dir() -> Result<PathBuf> {
    let dir = match std::env::var_os("WL_VM_CACHE") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let home = std::env::var_os("HOME")
                .context("HOME is not set: set WL_VM_CACHE to a directory for vm-test's kernels")?;
            PathBuf::from(home).join(".cache/wl/vm-test")
        }
    };
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// `./setup` installs virtme-ng in a virtualenv under target/; one on PATH also does.
fn find_vng(vm_dir: &Path) -> Result<PathBuf> {
    let own = vm_dir.join("venv/bin/vng");
    if own.is_file() {
        return Ok(own);
    }
    which("vng").context("virtme-ng (vng) is not installed: run ./setup")
}

/// Builds wl-user, wl-testload and the guest's test binaries for `arch`; returns each
/// test file's name with the path of its binary.
fn build_tests(arch: Arch) -> Result<Vec<(String, PathBuf)>> {
    crate::build_for_tests(arch)?;
    let mut t = cargo();
    t.args([
        "test",
        "--release",
        "--no-run",
        "--message-format=json-render-diagnostics",
        "--package",
        "wl-tests",
    ]);
    arch.configure(&mut t)?;
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

/// The root filesystem of `arch`'s guests: a minimal Debian of that architecture with
/// [`ARM64_ROOT_PACKAGES`], made by debootstrap on first use and kept in the cache.
/// A root made for another package list is made again.
fn foreign_root(cache: &Path, arch: Arch) -> Result<PathBuf> {
    let root = cache.join(format!("{}-root", arch.debian()));
    let stamp = root.join(".wl-root");
    let wanted = format!("{SUITE} {ARM64_ROOT_PACKAGES}\n");
    if fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(root);
    }
    if which("debootstrap").is_none() {
        bail!("debootstrap is not installed: run ./setup");
    }
    enable_binfmt(arch)?;
    if root.exists() {
        // A failed debootstrap can leave its /proc and /sys mounted in the tree.
        crate::dist::unmount_below(&root)?;
        fs::remove_dir_all(&root).with_context(|| format!("cannot remove {}", root.display()))?;
    }
    eprintln!(
        "vm-test: making an {} Debian root in {} (debootstrap, a few minutes, once)",
        arch.debian(),
        root.display()
    );
    let started = Instant::now();
    let out = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--arch={}", arch.debian()),
            &format!("--include={ARM64_ROOT_PACKAGES}"),
            SUITE,
        ])
        .arg(&root)
        .arg(MIRROR)
        .output()
        .context("cannot start debootstrap")?;
    if !out.status.success() {
        let log = root.join("debootstrap/debootstrap.log");
        bail!(
            "debootstrap --arch={} failed: {}; see {}",
            arch.debian(),
            last_line(&out.stderr),
            log.display()
        );
    }
    fs::write(&stamp, wanted)?;
    eprintln!("vm-test: root made in {:.0?}", started.elapsed());
    Ok(root)
}

/// Lets this kernel run `arch`'s programs through qemu-user-static (binfmt_misc), which
/// debootstrap's second stage needs: mounts binfmt_misc and registers the emulator as
/// Debian's qemu-user-static describes it, unless that is done already.
fn enable_binfmt(arch: Arch) -> Result<()> {
    let name = format!("qemu-{}", arch.qemu());
    let misc = Path::new("/proc/sys/fs/binfmt_misc");
    if misc.join(&name).exists() {
        return Ok(());
    }
    if !misc.join("register").exists() {
        let mut m = Command::new("mount");
        m.args(["-t", "binfmt_misc", "binfmt_misc"]).arg(misc);
        status(m).context("cannot mount binfmt_misc")?;
    }
    let conf = Path::new("/usr/lib/binfmt.d").join(format!("{name}.conf"));
    let rule = fs::read_to_string(&conf).with_context(|| {
        format!(
            "{} is missing: install qemu-user-static (./setup does)",
            conf.display()
        )
    })?;
    fs::write(misc.join("register"), rule.trim())
        .with_context(|| format!("cannot register {name} with binfmt_misc"))?;
    Ok(())
}

/// The Debian package names a kernel spec stands for, as a pattern and as a name to
/// show; the newest match is taken, since Debian's archive keeps only the last few
/// builds of each.
fn package_pattern(spec: &str, arch: Arch) -> Result<(Regex, String)> {
    let a = arch.debian();
    let (pattern, shown) = match spec {
        "6.1" => (
            format!(r"^linux-image-6\.1\.0-([0-9]+)-{a}$"),
            format!("linux-image-6.1.0-*-{a}"),
        ),
        "6.12" => (
            format!(r"^linux-image-6\.12\.([0-9]+)\+deb12-{a}$"),
            format!("linux-image-6.12.*+deb12-{a}"),
        ),
        s if s.starts_with("linux-image-") => {
            (format!("^({})$", regex_lite::escape(s)), s.to_owned())
        }
        s => bail!(
            "unknown kernel '{s}': give --kernel 6.1, 6.12 or a Debian package name \
             such as linux-image-6.1.0-28-{a}"
        ),
    };
    Ok((Regex::new(&pattern)?, shown))
}

/// The newest package matching `spec` in apt's lists, and the pattern it matched.
fn newest_package(spec: &str, arch: Arch) -> Result<(String, Regex)> {
    let (pattern, shown) = package_pattern(spec, arch)?;
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
        None if arch.is_host() => {
            bail!("apt knows no package {shown}: run `apt-get update` (on Debian 12) and try again")
        }
        None => bail!(
            "apt knows no package {shown}: apt needs the {a} architecture \
             (`dpkg --add-architecture {a} && apt-get update`; ./setup does it)",
            a = arch.debian()
        ),
    }
}

/// Downloads and unpacks `package` (of `arch`) once into the cache; returns the unpacked
/// tree.
fn fetch_kernel(package: &str, arch: Arch, cache: &Path) -> Result<PathBuf> {
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
        .args(["download", "-q", &format!("{package}:{}", arch.debian())])
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
fn guest_script(out: &Path, tests: &[(String, PathBuf)], arch: Arch) -> String {
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
    if !arch.is_host() {
        // The guest's own root: the host's PATH names programs it cannot run.
        s += "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n";
    } else if let Some(path) = std::env::var_os("PATH") {
        s += &format!("export PATH={}\n", q(Path::new(&path)));
    }
    // Tests that need what only the host has (an ext4 directory) check what the guest
    // has instead: the writable directory shared with the host.
    s += "export WL_VM_GUEST=\"$out\"\n";
    if !arch.is_host() {
        // virtme's shell init leaves the loopback down; serve's tests need it.
        s += "busybox ip link set lo up || busybox ifconfig lo up\n";
    }
    s += "cd /tmp\n";
    s += "start=$(date +%s)\n";
    for (name, exe) in tests {
        let arch_skips = ARM64_SKIPS
            .iter()
            .filter(|(n, _)| arch == Arch::Arm64 && !arch.is_host() && n == name)
            .map(|(_, t)| *t);
        let skips: String = GUEST_TESTS
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, skip)| skip.iter().copied())
            .chain(arch_skips)
            .map(|t| format!(" --skip {t}"))
            .collect();
        // One test at a time: emulated CPUs are slow enough without sharing them.
        // Standard input empty, as in CI: virtme's shell init (a foreign root's) would
        // leave the console there, where a workload waiting for input never ends.
        s += &format!(
            "{} --test-threads=1 --exact{skips} < /dev/null > \"$out/{name}.log\" 2>&1\n\
             echo $? > \"$out/{name}.status\"\n",
            q(exe)
        );
    }
    s += "echo $(( $(date +%s) - start )) > \"$out/test-secs\"\n";
    s
}

/// The unpacked tree of the newest package for `spec`, fetched if it is not cached.
fn newest_kernel(spec: &str, arch: Arch, cache: &Path) -> Result<PathBuf> {
    let (package, pattern) = newest_package(spec, arch)?;
    // A newer build replaces the older ones in the cache: each tree is 400 MB.
    for entry in fs::read_dir(cache).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != package && pattern.is_match(&name) {
            fs::remove_dir_all(entry.path())?;
        }
    }
    fetch_kernel(&package, arch, cache)
}

fn test_kernel(spec: &str, vm_dir: &Path, guest: &Guest) -> Result<Outcome> {
    let Guest {
        vng,
        tests,
        kvm,
        arch,
        root,
        ref kernels,
    } = *guest;
    let tree = match newest_kernel(spec, arch, kernels) {
        Ok(tree) => tree,
        // The archive drops old builds: lists older than that name files that are gone.
        Err(e) => {
            eprintln!("vm-test: {e:#}; updating apt's lists and trying again");
            status({
                let mut c = Command::new("apt-get");
                c.args(["update", "-qq"]);
                c
            })?;
            newest_kernel(spec, arch, kernels)?
        }
    };
    let (image, release) = vmlinuz(&tree)?;
    let out = vm_dir.join("runs").join(&release);
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let script = out.join("guest.sh");
    // Where the guest sees the results directory: with a root of its own, outside the
    // workspace it mounts read-only.
    let guest_out = match root {
        Some(_) => PathBuf::from(FOREIGN_OUT),
        None => out.clone(),
    };
    fs::write(&script, guest_script(&guest_out, tests, arch))?;
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
    cmd.args(["--force-9p", "--memory", "2G", "--cpus", "2", "--verbose"]);
    let mut rwdir = out.as_os_str().to_owned();
    if let Some(root) = root {
        // A root of its own: the workspace (the binaries, the script), the kernels (their
        // modules) and the results directory are mounted into it, made in the root first.
        let ws = workspace_root();
        for dir in [&ws, kernels, &guest_out] {
            let point = root.join(dir.strip_prefix("/").unwrap_or(dir));
            fs::create_dir_all(&point)
                .with_context(|| format!("cannot create {}", point.display()))?;
        }
        // virtme takes the modules from the root's /lib/modules then: the kernel's own,
        // in the workspace the guest sees at the same path.
        let modules = tree.join("lib/modules").join(&release);
        let link = root.join("lib/modules").join(&release);
        fs::create_dir_all(root.join("lib/modules"))?;
        if fs::read_link(&link).ok().as_deref() != Some(modules.as_path()) {
            let _ = fs::remove_file(&link);
            std::os::unix::fs::symlink(&modules, &link)
                .with_context(|| format!("cannot link {}", link.display()))?;
        }
        let mut rodir = ws.as_os_str().to_owned();
        rodir.push("=");
        rodir.push(&ws);
        rwdir = guest_out.as_os_str().to_owned();
        rwdir.push("=");
        rwdir.push(&out);
        let mut kernels_dir = kernels.as_os_str().to_owned();
        kernels_dir.push("=");
        kernels_dir.push(kernels);
        cmd.args(["--arch", arch.debian()])
            .arg("--root")
            .arg(root)
            .arg("--rodir")
            .arg(rodir)
            .arg("--rodir")
            .arg(kernels_dir);
    }
    cmd.arg("--rwdir")
        .arg(rwdir)
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
    let limit = match arch {
        Arch::Arm64 if !arch.is_host() => ARM64_GUEST_TIMEOUT_SECS,
        _ => GUEST_TIMEOUT_SECS,
    };
    let ended = match wait_or_kill(&mut vng_run, Duration::from_secs(limit))? {
        Some(st) => format!("vng exited with {st}"),
        None => format!("stopped after {limit} s"),
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
        let p = package_pattern("6.1", Arch::Amd64).unwrap().0;
        assert_eq!(&p.captures("linux-image-6.1.0-28-amd64").unwrap()[1], "28");
        assert!(!p.is_match("linux-image-6.1.0-28-cloud-amd64"));
        assert!(!p.is_match("linux-image-6.1.0-28-amd64-dbg"));
        let p = package_pattern("6.12", Arch::Amd64).unwrap().0;
        assert_eq!(
            &p.captures("linux-image-6.12.117+deb12-amd64").unwrap()[1],
            "117"
        );
        assert!(!p.is_match("linux-image-6.12.117+deb12-rt-amd64"));
        assert!(package_pattern("linux-image-6.1.0-28-rt-amd64", Arch::Amd64).is_ok());
        let p = package_pattern("6.12", Arch::Arm64).unwrap().0;
        assert_eq!(
            &p.captures("linux-image-6.12.118+deb12-arm64").unwrap()[1],
            "118"
        );
        assert!(!p.is_match("linux-image-6.12.118+deb12-amd64"));
        let p = package_pattern("6.1", Arch::Arm64).unwrap().0;
        assert!(p.is_match("linux-image-6.1.0-57-arm64"));
        assert!(!p.is_match("linux-image-6.1.0-57-rt-arm64"));
        assert!(package_pattern("5.10", Arch::Amd64).is_err());
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
        let s = guest_script(Path::new("/o/6.1"), &tests, Arch::host());
        assert!(
            s.contains("'/t/run-1' --test-threads=1 --exact < /dev/null > \"$out/run.log\""),
            "{s}"
        );
        assert!(
            s.contains("'/t/attach-1' --test-threads=1 --exact < /dev/null > \"$out/attach.log\"")
        );
        assert!(!s.contains("--skip"), "{s}");
        assert!(s.contains("export CI=true"));
    }

    /// An arm64 guest runs its own root's programs, and leaves out what needs a host tool.
    #[test]
    fn an_arm64_guest_script_uses_its_own_path_and_skips() {
        let tests = vec![("profile".to_owned(), PathBuf::from("/t/profile-1"))];
        let s = guest_script(Path::new(FOREIGN_OUT), &tests, Arch::Arm64);
        if !Arch::Arm64.is_host() {
            assert!(s.contains("export PATH=/usr/local/sbin:"), "{s}");
            assert!(
                s.contains("--skip only_the_workload_is_sampled_and_the_stacks_render"),
                "{s}"
            );
        }
        assert!(
            s.contains("--skip each_phase_is_credited_to_its_subsystem"),
            "{s}"
        );
        assert!(s.contains("out='/wl-out'"), "{s}");
    }
}
