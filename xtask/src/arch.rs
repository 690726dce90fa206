//! The machines wl is built for: this one, or arm64 cross-built from x86_64.
//!
//! A cross build needs Debian's cross compiler as the linker, rustup's standard library
//! for the target and the target's libseccomp through multiarch (`./setup` installs
//! all three); the eBPF programs follow the target by themselves (aya-build reads
//! cargo's target architecture, and pt_regs differs between the two).

use std::{path::PathBuf, process::Command};

use anyhow::{Result, bail};
use clap::ValueEnum;

use crate::workspace_root;

/// An architecture, by its Debian name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    /// The architecture this xtask was built for, which is the machine's.
    pub fn host() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Arm64
        } else {
            Arch::Amd64
        }
    }

    /// The architecture to build for: the one asked for, else this machine's.
    pub fn or_host(arch: Option<Arch>) -> Arch {
        arch.unwrap_or_else(Arch::host)
    }

    pub fn is_host(self) -> bool {
        self == Arch::host()
    }

    /// Debian's name: `amd64`, `arm64`.
    pub fn debian(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// Rust's target triple.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64-unknown-linux-gnu",
            Arch::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    /// The GNU triple of Debian's cross tools and multiarch directories.
    pub fn gnu(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64-linux-gnu",
            Arch::Arm64 => "aarch64-linux-gnu",
        }
    }

    /// QEMU's name: `qemu-aarch64-static`, `qemu-system-aarch64`.
    pub fn qemu(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }

    /// Where cargo leaves release binaries built for this architecture.
    pub fn release_dir(self) -> PathBuf {
        let target = workspace_root().join("target");
        if self.is_host() {
            target.join("release")
        } else {
            target.join(self.rust_target()).join("release")
        }
    }

    /// A tool of the cross toolchain (`strip` becomes `aarch64-linux-gnu-strip`), or the
    /// machine's own for a native build.
    pub fn tool(self, name: &str) -> String {
        if self.is_host() {
            name.to_owned()
        } else {
            format!("{}-{name}", self.gnu())
        }
    }

    /// Makes a `cargo build`/`cargo test` command build for this architecture: the
    /// target, its linker and where pkg-config finds its libraries. Nothing for a native
    /// build.
    pub fn configure(self, cargo: &mut Command) -> Result<()> {
        if self.is_host() {
            return Ok(());
        }
        self.check_cross_tools()?;
        let target = self.rust_target();
        let env_target = target.to_uppercase().replace('-', "_");
        cargo
            .args(["--target", target])
            .env(
                format!("CARGO_TARGET_{env_target}_LINKER"),
                self.tool("gcc"),
            )
            .env("PKG_CONFIG_ALLOW_CROSS", "1")
            .env(
                "PKG_CONFIG_LIBDIR",
                format!("/usr/lib/{}/pkgconfig:/usr/share/pkgconfig", self.gnu()),
            );
        Ok(())
    }

    /// What a cross build needs, each checked with a line saying how to get it.
    fn check_cross_tools(self) -> Result<()> {
        let gcc = self.tool("gcc");
        if crate::on_path(&gcc).is_none() {
            bail!(
                "cross-building for {} needs {gcc} (Debian's gcc-{}): run ./setup",
                self.debian(),
                self.gnu()
            );
        }
        let installed = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if !installed.lines().any(|l| l.trim() == self.rust_target()) {
            bail!(
                "cross-building for {} needs Rust's standard library for {}: \
                 run ./setup (or `rustup target add {}`)",
                self.debian(),
                self.rust_target(),
                self.rust_target()
            );
        }
        let seccomp = PathBuf::from(format!("/usr/lib/{}/libseccomp.so", self.gnu()));
        if !seccomp.exists() {
            bail!(
                "cross-building for {} needs libseccomp-dev:{}: run ./setup",
                self.debian(),
                self.debian()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cross_build_names_its_target_and_linker() {
        let other = if Arch::host() == Arch::Amd64 {
            Arch::Arm64
        } else {
            Arch::Amd64
        };
        assert!(!other.is_host());
        assert!(
            other
                .release_dir()
                .ends_with(format!("target/{}/release", other.rust_target()))
        );
        assert_eq!(
            Arch::Arm64.tool("strip"),
            if Arch::Arm64.is_host() {
                "strip".to_owned()
            } else {
                "aarch64-linux-gnu-strip".to_owned()
            }
        );
        assert!(Arch::host().release_dir().ends_with("target/release"));
        let mut c = Command::new("cargo");
        Arch::host().configure(&mut c).unwrap();
        assert_eq!(c.get_args().count(), 0, "a native build is left as it is");
    }
}
