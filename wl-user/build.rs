//! Builds the kernel side (`wl-ebpf`) for the BPF target and leaves the object in
//! `OUT_DIR` for the loader to embed.
//!
//! The BPF target needs `core` built from source, and bpf-linker can only read bitcode
//! from an LLVM no newer than its own. `wl-ebpf/toolchain.env` names the toolchains that
//! fit (`./setup` installs one of them); this script picks the first one present:
//! - `BPF_NIGHTLY`, a dated rustup nightly with `rust-src`;
//! - `BPF_FALLBACK`, Debian's `rustc-web` linked into rustup, run with `RUSTC_BOOTSTRAP=1`.
//!
//! `WL_BPF_TOOLCHAIN=<rustup toolchain>` overrides the choice.

use std::{env, fs, path::Path, process::Command};

use anyhow::{Context as _, bail};

/// The settings of `wl-ebpf/toolchain.env`.
struct Pins {
    nightly: String,
    fallback: String,
    llvm: u32,
}

fn read_pins(path: &Path) -> anyhow::Result<Pins> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let get = |key: &str| {
        text.lines()
            .filter_map(|l| l.split('#').next()?.trim().split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim().to_owned())
            .with_context(|| format!("{} has no {key}=", path.display()))
    };
    Ok(Pins {
        nightly: get("BPF_NIGHTLY")?,
        fallback: get("BPF_FALLBACK")?,
        llvm: get("BPF_LLVM")?
            .parse()
            .context("BPF_LLVM is not a number")?,
    })
}

fn rustup_run(toolchain: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("rustup")
        .args(["run", toolchain])
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn has_rust_src(toolchain: &str) -> bool {
    rustup_run(toolchain, &["rustc", "--print", "sysroot"]).is_some_and(|sysroot| {
        Path::new(sysroot.trim())
            .join("lib/rustlib/src/rust/library/core")
            .is_dir()
    })
}

/// The major version of the LLVM inside `toolchain`'s rustc (`LLVM version: 22.1.6`).
fn llvm_major(toolchain: &str) -> Option<u32> {
    let info = rustup_run(toolchain, &["rustc", "-vV"])?;
    info.lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))?
        .split('.')
        .next()?
        .trim()
        .parse()
        .ok()
}

fn main() -> anyhow::Result<()> {
    let pins_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wl-ebpf/toolchain.env");
    println!("cargo:rerun-if-changed={}", pins_file.display());
    println!("cargo:rerun-if-env-changed=WL_BPF_TOOLCHAIN");
    let pins = read_pins(&pins_file)?;

    let toolchain = match env::var("WL_BPF_TOOLCHAIN") {
        Ok(t) if !t.is_empty() => t,
        _ if has_rust_src(&pins.nightly) => pins.nightly.clone(),
        _ if has_rust_src(&pins.fallback) => pins.fallback.clone(),
        _ => bail!(
            "no toolchain can build the eBPF programs: neither rustup's {} with rust-src nor \
             the '{}' toolchain is installed; run ./setup",
            pins.nightly,
            pins.fallback
        ),
    };
    match llvm_major(&toolchain) {
        Some(major) if major > pins.llvm => bail!(
            "toolchain {toolchain} has LLVM {major}, newer than the LLVM {} bpf-linker is built \
             on, which cannot read its bitcode; use the toolchain in wl-ebpf/toolchain.env \
             (run ./setup)",
            pins.llvm
        ),
        Some(_) => {}
        None => bail!("cannot run rustc of toolchain {toolchain}; run ./setup"),
    }
    if Command::new("bpf-linker")
        .arg("--version")
        .output()
        .is_err()
    {
        bail!("bpf-linker is not installed (or not on PATH); run ./setup");
    }
    if !toolchain.starts_with("nightly") {
        // A stable compiler only accepts `-Z build-std` with RUSTC_BOOTSTRAP; aya-build
        // reads it from this process's environment.
        // SAFETY: build scripts are single-threaded; nothing reads the environment
        // concurrently.
        unsafe { env::set_var("RUSTC_BOOTSTRAP", "1") };
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wl-ebpf");
    let root = root.to_str().context("non-UTF-8 source path")?;
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "wl-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::Custom(&toolchain),
    )
}
