//! `cargo xtask dist`: the Debian package `target/dist/wl_<version>_<arch>.deb`, and
//! `cargo xtask dist-test`: that package installed into a minimal Debian 12 chroot and
//! used there, so that "installs anywhere" is checked on a system with no Rust, LLVM or
//! kernel headers.
//!
//! The manual pages and completion scripts come from the built wl-user itself (its
//! `man` and `completions` subcommands), so they always describe the binary they ship
//! with.

use std::{
    env, fs,
    io::Read as _,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::{arch::Arch, cargo, ensure_root, status, workspace_root};

/// The package's name; the binary keeps its own name, `wl-user`.
const PACKAGE: &str = "wl";
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
/// What the test needs beyond `--variant=minbase`: `man` to render the pages.
/// Bash is essential, so it is there already.
const CHROOT_EXTRA: &str = "man-db";

fn dist_dir() -> PathBuf {
    workspace_root().join("target/dist")
}

/// Builds wl-user in release mode for `arch` (cross-building it for a foreign one) and
/// packages it; returns the path of the `.deb`.
pub fn build(arch: Arch) -> Result<PathBuf> {
    let started = Instant::now();
    // Checked first, so that a missing tool fails before a build of minutes.
    let strip = arch.tool("strip");
    let objdump = arch.tool("objdump");
    let mut tools = vec!["dpkg-deb", "dpkg-shlibdeps", "gzip", strip.as_str()];
    if !arch.is_host() {
        // dpkg-shlibdeps reads a foreign binary with the cross objdump.
        tools.push(objdump.as_str());
    }
    for tool in tools {
        ensure!(
            crate::on_path(tool).is_some(),
            "'{tool}' is not installed: install dpkg-dev and binutils{} (./setup does)",
            if arch.is_host() {
                String::new()
            } else {
                format!("-{}", arch.gnu())
            }
        );
    }
    // The manual pages and completions come from the built binary, and another
    // architecture's binary runs here only under an emulator.
    let emulator = emulator(arch)?;

    let mut b = cargo();
    b.args(["build", "--release", "--package", "wl-user"]);
    arch.configure(&mut b)?;
    status(b)?;

    let version = env!("CARGO_PKG_VERSION");
    let dist = dist_dir();
    // Laid out as dpkg-shlibdeps expects: the package's tree in debian/<package>, beside
    // a debian/control naming it.
    let work = dist.join("pkg");
    let stage = work.join("debian").join(PACKAGE);
    remove_dir_if_exists(&work)?;
    fs::create_dir_all(&dist).with_context(|| format!("cannot create {}", dist.display()))?;
    // An older version's package would make the README's `apt install ./target/dist/wl_*.deb`
    // match two files. Another architecture's package stays.
    for entry in fs::read_dir(&dist).with_context(|| format!("cannot read {}", dist.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if is_package_of(&name, arch) {
            fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }

    let bin = stage.join("usr/bin/wl-user");
    mkdir(bin.parent().unwrap())?;
    let built = arch.release_dir().join("wl-user");
    ensure_elf_for(&built, arch)?;
    fs::copy(&built, &bin).with_context(|| format!("cannot copy {}", built.display()))?;
    // Debian ships binaries without symbols; the embedded eBPF object is data and stays.
    let mut s = Command::new(&strip);
    s.args(["--strip-unneeded", "--remove-section=.comment"])
        .arg(&bin);
    status(s)?;
    set_mode(&bin, 0o755)?;
    // The built binary, run on this machine (through the emulator for a foreign one).
    let run_bin = || {
        let mut c = match &emulator {
            Some(qemu) => {
                let mut c = Command::new(qemu);
                c.arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        c.stdin(Stdio::null());
        c
    };

    let man_dir = stage.join("usr/share/man/man1");
    mkdir(&man_dir)?;
    let mut m = run_bin();
    m.args(["man", "--dir"]).arg(&man_dir);
    status(m)?;
    let mut pages = Vec::new();
    for entry in fs::read_dir(&man_dir)? {
        pages.push(entry?.path());
    }
    ensure!(!pages.is_empty(), "wl-user man wrote no pages");
    // -n: no name or time stamp inside, so that the same sources give the same package.
    let mut gz = Command::new("gzip");
    gz.args(["-9", "-n", "-f"]).args(&pages);
    status(gz)?;

    for (shell, path) in [
        ("bash", "usr/share/bash-completion/completions/wl-user"),
        ("zsh", "usr/share/zsh/vendor-completions/_wl-user"),
        ("fish", "usr/share/fish/vendor_completions.d/wl-user.fish"),
    ] {
        let script = output_bytes(run_bin().args(["completions", shell]))?;
        write(&stage.join(path), &script)?;
    }

    let doc = stage.join(format!("usr/share/doc/{PACKAGE}"));
    let root = workspace_root();
    let read =
        |path: &Path| fs::read(path).with_context(|| format!("cannot read {}", path.display()));
    write(&doc.join("README.md"), &read(&root.join("README.md"))?)?;
    for entry in fs::read_dir(root.join("docs")).context("cannot read docs/")? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "md") {
            let name = path.file_name().unwrap();
            write(&doc.join("docs").join(name), &read(&path)?)?;
        }
    }
    write(&doc.join("copyright"), copyright().as_bytes())?;
    // `wl-user serve` as a service (installed, not enabled) and on Kubernetes.
    for (from, to) in [
        (
            "deploy/wl-serve.service",
            "lib/systemd/system/wl-serve.service".into(),
        ),
        (
            "deploy/wl-daemonset.yaml",
            doc.join("examples/wl-daemonset.yaml"),
        ),
        ("deploy/prometheus.yml", doc.join("examples/prometheus.yml")),
    ] {
        write(&stage.join(to), &read(&root.join(from))?)?;
    }

    let installed_kib = installed_size_kib(&stage)?;
    // Also how dpkg-shlibdeps finds the package's root.
    mkdir(&stage.join("DEBIAN"))?;
    let depends = shlib_depends(&work, arch)?;
    let control = control(version, arch, &depends, installed_kib);
    write(&stage.join("DEBIAN/control"), control.as_bytes())?;

    let deb = dist.join(package_file(version, arch));
    let mut d = Command::new("dpkg-deb");
    d.args(["--build", "--root-owner-group"])
        .arg(&stage)
        .arg(&deb)
        .stdout(Stdio::null());
    status(d)?;
    let size = fs::metadata(&deb)?.len();
    println!(
        "dist: {} ({} KiB, Depends: {depends}) in {:.0?}",
        deb.display(),
        size.div_ceil(1024),
        started.elapsed()
    );
    Ok(deb)
}

/// The package's `Depends`, as dpkg-shlibdeps derives it from the libraries the binary
/// links (glibc's, libgcc_s and libseccomp) and the symbol versions it uses.
///
/// For a foreign architecture, DEB_HOST_ARCH makes dpkg-shlibdeps cross-aware: it reads
/// the binary with that architecture's objdump, looks for its libraries in the
/// multiarch directories (/lib/aarch64-linux-gnu) and so finds the packages of that
/// architecture (libc6:arm64) and their symbols files.
fn shlib_depends(work: &Path, arch: Arch) -> Result<String> {
    write(
        &work.join("debian/control"),
        format!("Source: {PACKAGE}\n\nPackage: {PACKAGE}\nArchitecture: any\n").as_bytes(),
    )?;
    let out = output(
        Command::new("dpkg-shlibdeps")
            .current_dir(work)
            .env("DEB_HOST_ARCH", arch.debian())
            .env_remove("DEB_BUILD_ARCH")
            .arg("-O")
            .arg(format!("debian/{PACKAGE}/usr/bin/wl-user")),
    )?;
    let depends = out
        .lines()
        .find_map(|l| l.strip_prefix("shlibs:Depends="))
        .with_context(|| format!("dpkg-shlibdeps printed no shlibs:Depends: {out}"))?
        .trim()
        .to_owned();
    check_depends(&depends)?;
    Ok(depends)
}

/// What dpkg-shlibdeps must have found: glibc's own package, not the cross toolchain's
/// copy of it (libc6-arm64-cross), which no target system has.
fn check_depends(depends: &str) -> Result<()> {
    let names: Vec<&str> = depends
        .split([',', '|'])
        .filter_map(|d| d.split_whitespace().next())
        .collect();
    ensure!(
        names.contains(&"libc6"),
        "the package's Depends lacks libc6: {depends}"
    );
    ensure!(
        !names.iter().any(|n| n.ends_with("-cross")),
        "the package's Depends names a cross toolchain's library: {depends}"
    );
    Ok(())
}

/// `wl_<version>_<arch>.deb`, Debian's name for the package file.
fn package_file(version: &str, arch: Arch) -> String {
    format!("{PACKAGE}_{version}_{}.deb", arch.debian())
}

/// Whether `name` is a package file of wl for `arch`, of any version.
fn is_package_of(name: &str, arch: Arch) -> bool {
    name.strip_prefix(&format!("{PACKAGE}_"))
        .and_then(|rest| rest.strip_suffix(&format!("_{}.deb", arch.debian())))
        .is_some_and(|version| !version.is_empty() && !version.contains('_'))
}

/// The user-mode emulator that runs `arch`'s binaries here: none for this machine's.
fn emulator(arch: Arch) -> Result<Option<PathBuf>> {
    if arch.is_host() {
        return Ok(None);
    }
    let qemu = format!("qemu-{}-static", arch.qemu());
    match crate::on_path(&qemu) {
        Some(path) => Ok(Some(path)),
        None => bail!(
            "packaging for {} runs the built wl-user (for its manual pages and completions) \
             under {qemu}, which is not installed: run ./setup",
            arch.debian()
        ),
    }
}

/// Refuses to package a binary of another architecture than the package's, such as a
/// stale file left where the build should have put one.
fn ensure_elf_for(path: &Path, arch: Arch) -> Result<()> {
    const EM_X86_64: u16 = 62;
    const EM_AARCH64: u16 = 183;
    let want = match arch {
        Arch::Amd64 => EM_X86_64,
        Arch::Arm64 => EM_AARCH64,
    };
    let mut header = [0u8; 20];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .with_context(|| format!("cannot read {}", path.display()))?;
    // A little-endian ELF file; e_machine at offset 18.
    let machine = u16::from_le_bytes([header[18], header[19]]);
    ensure!(
        header.starts_with(b"\x7fELF") && header[5] == 1 && machine == want,
        "{} is not an ELF binary for {}",
        path.display(),
        arch.debian()
    );
    Ok(())
}

fn control(version: &str, arch: Arch, depends: &str, installed_kib: u64) -> String {
    format!(
        "Package: {PACKAGE}
Version: {version}
Architecture: {arch}
Maintainer: {maintainer}
Installed-Size: {installed_kib}
Depends: {depends}
Section: utils
Priority: optional
Description: which kernel subsystems a workload uses
 wl-user counts every system call a workload makes (calls, errors by errno,
 time spent, a latency histogram) with eBPF programs on the raw_syscalls
 tracepoints, filtered in the kernel to the workload's cgroup or process tree,
 and says which kernel subsystem, source file and MAINTAINERS entry implements
 each one.
 .
 The eBPF programs are built into the binary. Tracing needs Linux 5.11 or newer
 with BTF (/sys/kernel/btf/vmlinux) and root, or CAP_BPF with CAP_PERFMON.
",
        arch = arch.debian(),
        maintainer = maintainer()
    )
}

/// Debian's own convention for who builds a package (`DEBFULLNAME`, `DEBEMAIL`), else
/// the author of the commit being packaged.
fn maintainer() -> String {
    if let (Ok(name), Ok(mail)) = (env::var("DEBFULLNAME"), env::var("DEBEMAIL")) {
        return format!("{name} <{mail}>");
    }
    output(Command::new("git").current_dir(workspace_root()).args([
        "log",
        "-1",
        "--format=%an <%ae>",
    ]))
    .ok()
    .filter(|m| !m.is_empty())
    .unwrap_or_else(|| "wl maintainers <root@localhost>".into())
}

/// debian/copyright in Debian's machine-readable format: the dual license, the MIT
/// (Expat) text in full, the GPL by reference to the copy every Debian system has.
fn copyright() -> String {
    let expat: String = include_str!("../../LICENSE-MIT")
        .lines()
        .skip_while(|l| !l.starts_with("Copyright"))
        .skip(1)
        .map(|l| {
            if l.is_empty() {
                " .\n".to_owned()
            } else {
                format!(" {l}\n")
            }
        })
        .collect();
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: wl
Comment: wl may be used under the terms of either license. The eBPF programs built
 into wl-user declare the GPL to the kernel, as its GPL-only helpers require.

Files: *
Copyright: the wl authors
License: Expat or GPL-2

License: Expat
{}
License: GPL-2
 On Debian systems the full text of the GNU General Public License version 2
 is in /usr/share/common-licenses/GPL-2.
",
        expat.trim_start_matches(" .\n")
    )
}

fn installed_size_kib(stage: &Path) -> Result<u64> {
    fn walk(dir: &Path, total: &mut u64) -> Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                walk(&entry.path(), total)?;
            }
            // dpkg counts each file in whole KiB, and a directory as one.
            *total += meta.len().div_ceil(1024).max(1);
        }
        Ok(())
    }
    let mut total = 0;
    walk(stage, &mut total)?;
    Ok(total)
}

/// Builds the package, installs it into a cached Debian 12 chroot and checks that it
/// traces, that its manual page renders and that bash completes its subcommands.
pub fn test() -> Result<()> {
    ensure_root("the package test (debootstrap, chroot, mounts)")?;
    if crate::on_path("debootstrap").is_none() {
        if env::var_os("CI").is_some() {
            bail!("debootstrap is not installed: the package test needs it (./setup installs it)");
        }
        eprintln!(
            "\n*** dist-test SKIPPED: debootstrap is not installed (./setup installs it) ***\n"
        );
        return Ok(());
    }
    // The chroot is this machine's architecture, and runs the package's binary natively.
    let deb = build(Arch::host())?;
    let started = Instant::now();
    let chroot = ensure_chroot()?;
    let prepared = Instant::now();
    let deb_name = deb.file_name().unwrap().to_string_lossy().into_owned();
    fs::copy(&deb, chroot.join("tmp").join(&deb_name))
        .with_context(|| format!("cannot copy {} into the chroot", deb.display()))?;

    let mounts = Mounts::new(&chroot)?;
    let result = checks(&chroot, &deb_name);
    let unmounted = mounts.unmount();
    result?;
    unmounted?;
    println!(
        "dist-test: passed ({:.0?} preparing the chroot, {:.0?} testing)",
        prepared - started,
        prepared.elapsed()
    );
    Ok(())
}

fn checks(chroot: &Path, deb_name: &str) -> Result<()> {
    let deb_in = format!("/tmp/{deb_name}");
    // A package left over from an earlier run has the same version, and apt would then
    // keep it instead of installing this build.
    in_chroot(chroot, "dpkg --purge wl >/dev/null 2>&1; true")?;
    in_chroot(
        chroot,
        &format!("apt-get install -y -q --no-install-recommends {deb_in}"),
    )
    .context("the package does not install on a minimal Debian 12")?;

    let files = in_chroot(chroot, "dpkg -L wl")?;
    for path in [
        "/usr/bin/wl-user",
        "/usr/share/man/man1/wl-user.1.gz",
        "/usr/share/man/man1/wl-user-run.1.gz",
        "/usr/share/bash-completion/completions/wl-user",
        "/usr/share/zsh/vendor-completions/_wl-user",
        "/usr/share/fish/vendor_completions.d/wl-user.fish",
        "/usr/share/doc/wl/copyright",
        "/usr/share/doc/wl/README.md",
        "/usr/share/doc/wl/docs/fleet.md",
        "/lib/systemd/system/wl-serve.service",
        "/usr/share/doc/wl/examples/wl-daemonset.yaml",
    ] {
        ensure!(
            files.lines().any(|l| l == path),
            "the package does not install {path}"
        );
    }

    let json = in_chroot(chroot, "wl-user run --format json -o - -- /bin/true")
        .context("wl-user run does not work from the package")?;
    let report: serde_json::Value =
        serde_json::from_str(&json).with_context(|| format!("wl-user printed no JSON: {json}"))?;
    let execve: Vec<_> = report["syscalls"]
        .as_array()
        .context("the report has no syscalls array")?
        .iter()
        .filter(|s| s["name"] == "execve")
        .collect();
    ensure!(
        execve.len() == 1 && execve[0]["calls"] == 1,
        "expected exactly one execve call of /bin/true, the report says: {execve:?}"
    );
    ensure!(
        report["exit_status"] == 0,
        "/bin/true's status is 0, the report says {}",
        report["exit_status"]
    );

    let copyright = in_chroot(chroot, "cat /usr/share/doc/wl/copyright")?;
    ensure!(
        copyright.contains("License: Expat or GPL-2")
            && copyright.contains("License: Expat\n Permission is hereby granted")
            && copyright.contains("/usr/share/common-licenses/GPL-2"),
        "the copyright file lacks the license texts:\n{copyright}"
    );

    let page = in_chroot(chroot, "MANPAGER=cat man wl-user")?;
    ensure!(
        page.contains("EXIT STATUS") && page.contains("wl-user-run(1)"),
        "man wl-user does not show EXIT STATUS and wl-user-run(1):\n{page}"
    );
    let page = in_chroot(chroot, "MANPAGER=cat man wl-user-run")?;
    ensure!(
        page.contains("--format") && page.contains("--kernel-src") && page.contains("EXAMPLES"),
        "man wl-user-run does not show --format, --kernel-src and EXAMPLES:\n{page}"
    );

    // Completes `wl-user ru` the way bash does on Tab, through whatever function the
    // installed script registers.
    let words = in_chroot(
        chroot,
        r#"bash -c '. /usr/share/bash-completion/completions/wl-user
            set -- $(complete -p wl-user)
            while [ "$1" != -F ]; do shift; done
            COMP_WORDS=(wl-user ru); COMP_CWORD=1; COMP_LINE="wl-user ru"; COMP_POINT=10
            "$2" wl-user ru wl-user
            printf "%s\n" "${COMPREPLY[@]}"'"#,
    )?;
    ensure!(
        words.trim() == "run",
        "bash completes 'wl-user ru' to {words:?}, not 'run'"
    );

    in_chroot(
        chroot,
        &format!("dpkg --purge wl >/dev/null && rm -f {deb_in}"),
    )?;
    Ok(())
}

/// Runs `script` with sh inside the chroot, with a clean environment; returns its
/// standard output, or an error with its standard error.
fn in_chroot(chroot: &Path, script: &str) -> Result<String> {
    let out = Command::new("chroot")
        .arg(chroot)
        .args(["/bin/sh", "-c", script])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", "/root")
        .env("LANG", "C")
        .env("TERM", "dumb")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .context("cannot run chroot")?;
    if !out.status.success() {
        bail!(
            "in the chroot, `{script}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The cached chroot: made once by debootstrap, then reused while it looks whole.
fn ensure_chroot() -> Result<PathBuf> {
    let chroot = dist_dir().join(format!("chroot-{SUITE}"));
    let ready = chroot.join(".wl-chroot-ready");
    // Mounts left by a run that was killed before it could unmount.
    unmount_below(&chroot)?;
    let whole = ["usr/bin/apt-get", "usr/bin/man", "bin/bash", "usr/bin/dpkg"]
        .iter()
        .all(|p| chroot.join(p).exists());
    if ready.exists() && whole {
        println!("dist-test: reusing {}", chroot.display());
        return Ok(chroot);
    }
    let partial = dist_dir().join(format!("chroot-{SUITE}.partial"));
    unmount_below(&partial)?;
    remove_dir_if_exists(&partial)?;
    remove_dir_if_exists(&chroot)?;
    println!(
        "dist-test: debootstrap {SUITE} into {} (a few minutes)",
        chroot.display()
    );
    let started = Instant::now();
    let mut d = Command::new("debootstrap");
    d.args([
        "--variant=minbase",
        &format!("--include={CHROOT_EXTRA}"),
        SUITE,
    ])
    .arg(&partial)
    .arg(MIRROR)
    .stdout(Stdio::null());
    let result = status(d);
    // debootstrap mounts /proc and /sys inside while it works, and may leave them on failure.
    unmount_below(&partial)?;
    result.context("debootstrap failed; is deb.debian.org reachable?")?;
    fs::rename(&partial, &chroot)?;
    write(&ready, b"")?;
    println!("dist-test: chroot ready in {:.0?}", started.elapsed());
    Ok(chroot)
}

/// What wl-user needs of the host inside the chroot: /proc, sysfs (which holds
/// /sys/kernel/btf), and the cgroup v2 hierarchy to create the workload's cgroup in.
/// The cgroup v1 hierarchies of a hybrid host stay outside. Unmounted on drop, so that
/// an early return cannot leave them behind.
struct Mounts {
    /// Mount points inside the chroot, in the order mounted.
    points: Vec<PathBuf>,
}

impl Mounts {
    fn new(chroot: &Path) -> Result<Mounts> {
        let mut mounts = Mounts { points: Vec::new() };
        let mut m = Command::new("mount");
        m.args(["-t", "proc", "proc"]).arg(chroot.join("proc"));
        mounts.mount(m, chroot.join("proc"))?;
        mounts.bind(chroot, Path::new("/sys"))?;
        if let Some(cgroup2) = cgroup2_mount()? {
            // On a hybrid host cgroup v2 sits on a tmpfs at /sys/fs/cgroup, a mount of
            // its own that a bind of /sys leaves out: bind the tmpfs alone (its v1
            // mount points come along as empty directories), then cgroup v2 on it.
            let tmpfs = Path::new("/sys/fs/cgroup");
            if cgroup2 != tmpfs && cgroup2.starts_with(tmpfs) && is_mount_point(tmpfs)? {
                mounts.bind(chroot, tmpfs)?;
            }
            mounts.bind(chroot, &cgroup2)?;
        }
        Ok(mounts)
    }

    fn bind(&mut self, chroot: &Path, host: &Path) -> Result<()> {
        let inside = chroot.join(host.strip_prefix("/").unwrap());
        let mut m = Command::new("mount");
        m.arg("--bind").arg(host).arg(&inside);
        self.mount(m, inside)
    }

    fn mount(&mut self, cmd: Command, point: PathBuf) -> Result<()> {
        status(cmd)?;
        self.points.push(point);
        Ok(())
    }

    fn unmount(mut self) -> Result<()> {
        let mut failed = Vec::new();
        while let Some(point) = self.points.pop() {
            if !unmount(&point) {
                failed.push(point.display().to_string());
            }
        }
        ensure!(
            failed.is_empty(),
            "cannot unmount {}: unmount it by hand (umount -l)",
            failed.join(", ")
        );
        Ok(())
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        while let Some(point) = self.points.pop() {
            unmount(&point);
        }
    }
}

fn unmount(point: &Path) -> bool {
    let quiet = |lazy: bool| {
        let mut u = Command::new("umount");
        if lazy {
            u.arg("-l");
        }
        u.arg(point)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    // A process that still holds a file there only delays the release, not the unmount.
    quiet(false) || quiet(true)
}

/// Mount points from /proc/self/mounts (octal escapes decoded).
fn mounts() -> Result<Vec<(PathBuf, String)>> {
    let text = fs::read_to_string("/proc/self/mounts").context("cannot read /proc/self/mounts")?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            let point = unescape(f.nth(1)?);
            Some((PathBuf::from(point), f.next()?.to_owned()))
        })
        .collect())
}

fn unescape(field: &str) -> String {
    let mut out = Vec::new();
    let bytes = field.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && bytes
                .get(i + 1..i + 4)
                .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
        {
            out.push(u8::from_str_radix(&field[i + 1..i + 4], 8).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn cgroup2_mount() -> Result<Option<PathBuf>> {
    Ok(mounts()?
        .into_iter()
        .find(|(_, fstype)| fstype == "cgroup2")
        .map(|(point, _)| point))
}

fn is_mount_point(path: &Path) -> Result<bool> {
    Ok(mounts()?.iter().any(|(p, _)| p == path))
}

/// Unmounts everything at or below `dir`, deepest first, and refuses to go on if
/// something stays: removing a directory with the host's /sys bound inside it would
/// reach the host.
pub(crate) fn unmount_below(dir: &Path) -> Result<()> {
    let mut stale: Vec<PathBuf> = mounts()?
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.starts_with(dir))
        .collect();
    stale.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in &stale {
        unmount(point);
    }
    let left: Vec<_> = mounts()?
        .into_iter()
        .filter(|(p, _)| p.starts_with(dir))
        .map(|(p, _)| p.display().to_string())
        .collect();
    ensure!(
        left.is_empty(),
        "cannot unmount {} left by an earlier run: unmount it by hand",
        left.join(", ")
    );
    Ok(())
}

fn output(cmd: &mut Command) -> Result<String> {
    Ok(String::from_utf8(output_bytes(cmd)?)?.trim().to_owned())
}

fn output_bytes(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    ensure!(out.status.success(), "{cmd:?} failed: {}", out.status);
    Ok(out.stdout)
}

fn mkdir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    set_mode(dir, 0o755)
}

/// Writes a file of the package, mode 0644, whatever the umask.
fn write(path: &Path, contents: &[u8]) -> Result<()> {
    mkdir(path.parent().unwrap())?;
    fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    set_mode(path, 0o644)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The control file of a cross-built package names the target's architecture, and
    /// keeps Debian's format.
    #[test]
    fn an_arm64_package_says_arm64() {
        let depends = "libc6 (>= 2.34), libgcc-s1 (>= 4.2), libseccomp2 (>= 2.5.0)";
        let text = control("1.2.3", Arch::Arm64, depends, 4096);
        assert!(text.starts_with("Package: wl\nVersion: 1.2.3\nArchitecture: arm64\n"));
        assert!(text.contains(&format!("\nDepends: {depends}\n")));
        assert!(text.contains("\nInstalled-Size: 4096\n"));
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"));
        for line in text.lines() {
            assert!(
                line.starts_with(' ') || line.split_once(": ").is_some(),
                "not a field or a continuation: {line:?}"
            );
        }
        assert_eq!(package_file("1.2.3", Arch::Arm64), "wl_1.2.3_arm64.deb");
    }

    /// Building one architecture's package replaces its older versions, not the other
    /// architecture's package.
    #[test]
    fn only_the_same_architectures_packages_are_replaced() {
        assert!(is_package_of("wl_0.1.0_arm64.deb", Arch::Arm64));
        assert!(is_package_of("wl_0.0.9~rc1_arm64.deb", Arch::Arm64));
        assert!(!is_package_of("wl_0.1.0_amd64.deb", Arch::Arm64));
        assert!(is_package_of("wl_0.1.0_amd64.deb", Arch::Amd64));
        assert!(!is_package_of("wl_0.1.0_arm64.deb.partial", Arch::Arm64));
        assert!(!is_package_of("wl-other_0.1.0_arm64.deb", Arch::Arm64));
        assert!(!is_package_of("wl__arm64.deb", Arch::Arm64));
    }

    #[test]
    fn depends_must_name_the_targets_own_libc() {
        check_depends("libc6 (>= 2.34), libgcc-s1 (>= 4.2), libseccomp2 (>= 2.5.0)").unwrap();
        assert!(check_depends("libc6-arm64-cross (>= 2.34), libgcc-s1 (>= 4.2)").is_err());
        assert!(check_depends("libgcc-s1 (>= 4.2)").is_err());
    }

    /// Debian's format: paragraphs of `Field: value` lines, continuation lines start
    /// with a space, and a blank line inside a text is a lone " .".
    #[test]
    fn the_copyright_file_is_machine_readable() {
        let text = super::copyright();
        for paragraph in text.split("\n\n") {
            for line in paragraph.lines() {
                assert!(
                    line.starts_with(' ') || line.split_once(": ").is_some(),
                    "not a field or a continuation: {line:?}"
                );
                assert_ne!(line.trim(), "", "an empty line inside a paragraph");
            }
        }
        assert!(text.contains("License: Expat\n Permission is hereby granted"));
        assert!(text.contains("\n .\n THE SOFTWARE IS PROVIDED"));
    }
}
