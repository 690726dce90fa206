//! Builds the kernel side (`wl-ebpf`) for the BPF target and leaves the object in
//! `OUT_DIR` for the loader to embed.
//!
//! The BPF target needs `core` built from source. Two toolchains can do it:
//! - the standard route: rustup's `nightly` with the `rust-src` component;
//! - where rustup cannot fetch `rust-src`: Debian's `rustc-web` (it ships its library
//!   sources), linked into rustup as `wl-bpf` by `./setup`, with `RUSTC_BOOTSTRAP=1`.
//!
//! `WL_BPF_TOOLCHAIN=<rustup toolchain>` overrides the choice.

use std::{env, path::Path, process::Command};

use anyhow::{Context as _, bail};

const LINKED_TOOLCHAIN: &str = "wl-bpf";

fn has_rust_src(toolchain: &str) -> bool {
    let Ok(out) = Command::new("rustup")
        .args(["run", toolchain, "rustc", "--print", "sysroot"])
        .output()
    else {
        return false;
    };
    if !out.status.success() {
        return false;
    }
    let sysroot = String::from_utf8_lossy(&out.stdout);
    Path::new(sysroot.trim())
        .join("lib/rustlib/src/rust/library/core")
        .is_dir()
}

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=WL_BPF_TOOLCHAIN");
    let toolchain = match env::var("WL_BPF_TOOLCHAIN") {
        Ok(t) if !t.is_empty() => t,
        _ if has_rust_src("nightly") => "nightly".to_owned(),
        _ if has_rust_src(LINKED_TOOLCHAIN) => LINKED_TOOLCHAIN.to_owned(),
        _ => bail!(
            "no toolchain can build the eBPF programs: neither rustup's nightly with rust-src \
             nor the '{LINKED_TOOLCHAIN}' toolchain is installed; run ./setup"
        ),
    };
    if toolchain != "nightly" {
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
