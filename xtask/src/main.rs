//! Developer tasks for wl. `cargo xtask --help` lists them.

mod arch;
mod bench;
mod dist;
mod gen_syscalls;
mod vm_test;

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

use arch::Arch;

#[derive(Parser)]
#[command(about = "Build, run and test wl; regenerate its tables")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build wl-user (and the eBPF programs it embeds) in release mode.
    Build {
        /// Cross-build for this architecture (default: this machine's); arm64 lands in
        /// target/aarch64-unknown-linux-gnu/release.
        #[arg(long, value_enum)]
        arch: Option<Arch>,
    },
    /// Build, then trace a command: `wl-user run ARGS`, as root (through sudo if needed).
    ///
    /// Example: cargo xtask run -- perf bench syscall basic
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        args: Vec<String>,
    },
    /// Run every test: the benchmark's smoke test, unit tests, integration tests that
    /// load the eBPF programs into the running kernel, the Debian package in a chroot,
    /// and the integration tests again on Debian's 6.1 and 6.12 kernels, for this
    /// machine's architecture and (cross-built, emulated) arm64 (as root).
    Test {
        /// Extra arguments for the test binaries (a test name filter, --nocapture, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Measure the cost of tracing `perf bench syscall basic` with wl, strace, perf trace
    /// and bpftrace, side by side, and write docs/benchmarks.md (as root).
    Bench {
        /// getppid calls per run (strace and perf trace run a twentieth).
        #[arg(long, default_value_t = 10_000_000)]
        loops: u64,
        /// Runs of each variant, alternating.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// A quick check that every variant runs and wl's counts are exact: small loops,
        /// one round, no document written.
        #[arg(long)]
        smoke: bool,
    },
    /// Build the Debian package target/dist/wl_<version>_<arch>.deb: wl-user, its manual
    /// pages and shell completions.
    Dist {
        /// Package for this architecture (default: this machine's), cross-building it.
        #[arg(long, value_enum)]
        arch: Option<Arch>,
    },
    /// Build the package, install it into a minimal Debian 12 chroot (made once by
    /// debootstrap, kept in target/dist) and trace, read the manual and complete there (as root).
    DistTest,
    /// Regenerate wl-user/syscalls/src/generated.rs and generated_objects.rs, and the
    /// table of function definitions functions.bin, from a Linux source tree.
    GenSyscalls {
        /// The top of an unpacked Linux source tree.
        #[arg(long, value_name = "DIR")]
        kernel_src: PathBuf,
        /// Regenerate only these tables.
        #[arg(long, value_enum)]
        only: Option<gen_syscalls::Tables>,
    },
    /// Boot Debian's kernels in qemu (virtme-ng) and run the integration tests with
    /// exact counts inside each (as root). Kernels (and the arm64 root) are kept in
    /// ~/.cache/wl/vm-test, or $WL_VM_CACHE.
    VmTest {
        /// A kernel to test: 6.1 or 6.12 (the newest Debian 12 build of each) or a
        /// package name such as linux-image-6.1.0-28-amd64. Repeatable; default 6.1, 6.12.
        #[arg(long = "kernel", value_name = "KERNEL")]
        kernels: Vec<String>,
        /// Use KVM instead of emulating the CPU (nested KVM hangs on some machines).
        #[arg(long)]
        kvm: bool,
        /// The guests' architecture (default: this machine's). arm64 cross-builds the
        /// tests and boots Debian's arm64 kernels on an emulated CPU, with an arm64
        /// userspace made once by debootstrap.
        #[arg(long, value_enum)]
        arch: Option<Arch>,
    },
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    // Tracing needs root; cargo still builds as the user and only runs binaries via sudo.
    if !is_root() {
        cmd.env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", "sudo -E");
        cmd.env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER", "sudo -E");
    }
    cmd
}

/// `cargo run` arguments that build wl-user and run `wl-user run ARGS`.
fn cargo_run_wl_user(args: &[String]) -> Vec<String> {
    let fixed = [
        "run",
        "--quiet",
        "--release",
        "--package",
        "wl-user",
        "--",
        "run",
    ];
    fixed
        .iter()
        .map(|s| s.to_string())
        .chain(args.iter().cloned())
        .collect()
}

/// One release build of wl-user and the test workload, which the tests, the package and
/// the kernel matrix all use.
fn build_for_tests(arch: Arch) -> Result<()> {
    let mut b = cargo();
    b.args([
        "build",
        "--release",
        "--package",
        "wl-user",
        "--package",
        "wl-tests",
        "--bins",
    ]);
    arch.configure(&mut b)?;
    status(b)
}

/// Where `program` is on PATH, if it is.
fn on_path(program: &str) -> Option<PathBuf> {
    env::var_os("PATH").and_then(|paths| {
        env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

fn ensure_root(what: &str) -> Result<()> {
    if !is_root() {
        bail!("{what} loads eBPF programs and runs tracers: run it as root");
    }
    Ok(())
}

fn bench_options(smoke: bool, loops: u64, rounds: usize) -> bench::Options {
    let root = workspace_root();
    bench::Options {
        loops: if smoke { 20_000 } else { loops },
        rounds: if smoke { 1 } else { rounds },
        smoke,
        wl_user: root.join("target/release/wl-user"),
        doc: (!smoke).then(|| root.join("docs/benchmarks.md")),
    }
}

fn status(mut cmd: Command) -> Result<()> {
    let st = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !st.success() {
        bail!("{cmd:?} failed: {st}");
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.task {
        Task::Build { arch } => {
            let mut c = cargo();
            c.args(["build", "--release", "--package", "wl-user"]);
            Arch::or_host(arch).configure(&mut c)?;
            status(c)
        }
        Task::Run { args } => {
            let mut c = cargo();
            c.args(cargo_run_wl_user(&args));
            // The workload's exit status is wl-user's; pass it through.
            let st = c.status().context("cannot start cargo")?;
            std::process::exit(st.code().unwrap_or(1));
        }
        Task::Test { args } => {
            build_for_tests(Arch::host())?;
            if args.is_empty() {
                // The benchmark's quick form: every tool runs, wl's counts are exact.
                ensure_root("the benchmark smoke test")?;
                bench::run(bench_options(true, 0, 0))?;
            }
            let mut t = cargo();
            // The default members: every crate but the BPF-only one.
            t.args(["test", "--release", "--"]).args(&args);
            status(t)?;
            if args.is_empty() {
                // The package, installed where none of the build tools are.
                dist::test()?;
                // The kernels users run, besides this one, on both architectures.
                let mut archs = vec![Arch::host()];
                if Arch::host() != Arch::Arm64 {
                    archs.push(Arch::Arm64);
                }
                for arch in archs {
                    vm_test::run(vm_test::Options {
                        kernels: Vec::new(),
                        kvm: false,
                        arch,
                    })?;
                }
            }
            Ok(())
        }
        Task::Bench {
            loops,
            rounds,
            smoke,
        } => {
            // wl-user, and wl-testload for the loops of the event benchmarks.
            build_for_tests(Arch::host())?;
            ensure_root("the benchmark")?;
            bench::run(bench_options(smoke, loops, rounds))
        }
        Task::Dist { arch } => dist::build(Arch::or_host(arch)).map(drop),
        Task::DistTest => dist::test(),
        Task::GenSyscalls { kernel_src, only } => {
            let dir = workspace_root().join("wl-user/syscalls/src");
            if only != Some(gen_syscalls::Tables::Functions) {
                gen_syscalls::run(
                    &kernel_src,
                    &dir.join("generated.rs"),
                    &dir.join("generated_objects.rs"),
                )?;
            }
            if only != Some(gen_syscalls::Tables::Syscalls) {
                gen_syscalls::run_functions(&kernel_src, &dir.join("functions.bin"))?;
            }
            Ok(())
        }
        Task::VmTest { kernels, kvm, arch } => vm_test::run(vm_test::Options {
            kernels,
            kvm,
            arch: Arch::or_host(arch),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo xtask run -- perf bench syscall basic`, the README's first command, must
    /// become `wl-user run perf bench syscall basic`.
    #[test]
    fn run_task_traces_the_command() {
        let args: Vec<String> = ["perf", "bench", "syscall", "basic"]
            .map(String::from)
            .to_vec();
        let cmd = cargo_run_wl_user(&args);
        let after = cmd.iter().position(|a| a == "--").unwrap();
        assert_eq!(
            cmd[after + 1..],
            ["run", "perf", "bench", "syscall", "basic"]
        );
        assert!(cmd.contains(&"--release".to_string()));
    }
}
