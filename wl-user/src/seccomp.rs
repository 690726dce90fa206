//! Seccomp profiles from what a workload did, and their enforcement on a re-run.
//!
//! A profile is written in the OCI format that runc, Docker and Podman read (the part
//! of it that names syscalls: `defaultAction`, `architectures`, `syscalls[].names` and
//! `action`), or as a systemd `SystemCallFilter=`. `run --seccomp` compiles a profile
//! with libseccomp before the workload is forked and installs it in the child just
//! before its `execve`, with two raw syscalls on memory prepared beforehand (a forked
//! child of a threaded process must not allocate). The kernel side counts what the
//! profile denies (see `COUNT_DENIED` in wl-ebpf).

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{Read as _, Seek as _},
    os::fd::{FromRawFd as _, OwnedFd},
    path::Path,
};

use anyhow::{Context as _, Result, bail};
use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext, ScmpSyscall};
use serde::{Deserialize, Serialize};

use crate::syscalls::AbiName;

/// What happens to a call the profile does not allow (`--seccomp-action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Denial {
    /// The call fails with EPERM and the workload goes on.
    Errno,
    /// The process is killed by SIGSYS.
    Kill,
    /// The call is allowed and logged by the kernel (audit); wl reports it as denied.
    Log,
}

impl Denial {
    fn oci(self) -> &'static str {
        match self {
            Denial::Errno => "SCMP_ACT_ERRNO",
            Denial::Kill => "SCMP_ACT_KILL_PROCESS",
            Denial::Log => "SCMP_ACT_LOG",
        }
    }
}

/// An OCI seccomp profile: the fields wl writes and applies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub names: Vec<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Conditions wl cannot apply (argument filters, capability or kernel-version
    /// includes): kept to refuse such rules rather than apply them wrongly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<serde_json::Value>,
}

/// `SCMP_ARCH_*` of an ABI.
fn oci_arch(abi: AbiName) -> &'static str {
    match abi {
        AbiName::X86_64 => "SCMP_ARCH_X86_64",
        AbiName::I386 => "SCMP_ARCH_X86",
        AbiName::Aarch64 => "SCMP_ARCH_AARCH64",
    }
}

fn scmp_arch(oci: &str) -> Result<(ScmpArch, AbiName)> {
    Ok(match oci {
        "SCMP_ARCH_X86_64" => (ScmpArch::X8664, AbiName::X86_64),
        "SCMP_ARCH_X86" => (ScmpArch::X86, AbiName::I386),
        "SCMP_ARCH_AARCH64" => (ScmpArch::Aarch64, AbiName::Aarch64),
        other => bail!("architecture {other} is not one wl traces (x86_64, x86, aarch64)"),
    })
}

/// The syscalls a workload made, by ABI: what a profile allows.
pub type Seen = BTreeMap<AbiName, BTreeSet<String>>;

/// A profile that allows exactly `seen` and treats everything else with `denial`.
/// Rows without a name (`syscall_<nr>`) cannot be written in either format; they are
/// returned so that the caller can say so.
pub fn profile(seen: &Seen, denial: Denial) -> (Profile, Vec<String>) {
    let mut names = BTreeSet::new();
    let mut unnamed = Vec::new();
    for (abi, calls) in seen {
        for name in calls {
            if name.starts_with("syscall_") {
                unnamed.push(format!("{name} ({})", abi.as_str()));
            } else {
                names.insert(name.clone());
            }
        }
    }
    let profile = Profile {
        default_action: denial.oci().to_owned(),
        default_errno_ret: (denial == Denial::Errno).then_some(libc::EPERM as u32),
        architectures: seen.keys().map(|&a| oci_arch(a).to_owned()).collect(),
        syscalls: vec![Rule {
            names: names.into_iter().collect(),
            action: "SCMP_ACT_ALLOW".to_owned(),
            errno_ret: None,
            args: None,
            includes: None,
            excludes: None,
        }],
    };
    (profile, unnamed)
}

/// The same allow-list as systemd unit settings.
pub fn systemd(profile: &Profile) -> String {
    let allowed: BTreeSet<&str> = profile
        .syscalls
        .iter()
        .filter(|r| r.action == "SCMP_ACT_ALLOW")
        .flat_map(|r| r.names.iter().map(String::as_str))
        .collect();
    let native = oci_arch(AbiName::native());
    let mut archs = vec!["native"];
    archs.extend(
        profile
            .architectures
            .iter()
            .filter(|a| *a != native)
            .map(|a| match a.as_str() {
                "SCMP_ARCH_X86" => "x86",
                "SCMP_ARCH_X86_64" => "x86-64",
                _ => "arm64",
            }),
    );
    format!(
        "SystemCallFilter={}\nSystemCallArchitectures={}\nSystemCallErrorNumber=EPERM\n",
        allowed.into_iter().collect::<Vec<_>>().join(" "),
        archs.join(" ")
    )
}

/// Reads an OCI profile.
pub fn read(path: &Path) -> Result<Profile> {
    let text = crate::input::read_text(path, crate::input::limit::PROFILE)
        .with_context(|| format!("cannot read --seccomp {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "--seccomp {}: not an OCI seccomp profile (JSON with defaultAction and syscalls)",
            path.display()
        )
    })
}

/// The names a profile allows, per ABI it covers: what `--seccomp-action log` reports
/// as denied when a call falls outside them.
pub fn allowed(profile: &Profile) -> Result<Seen> {
    let names: BTreeSet<String> = profile
        .syscalls
        .iter()
        .filter(|r| r.action == "SCMP_ACT_ALLOW")
        .flat_map(|r| r.names.iter().cloned())
        .collect();
    let mut abis = profile
        .architectures
        .iter()
        .map(|a| scmp_arch(a).map(|(_, abi)| abi))
        .collect::<Result<Vec<_>>>()?;
    if abis.is_empty() {
        abis.push(AbiName::native());
    }
    Ok(abis.into_iter().map(|a| (a, names.clone())).collect())
}

fn action(oci: &str, errno: Option<u32>) -> Result<ScmpAction> {
    Ok(match oci {
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno.unwrap_or(libc::EPERM as u32) as i32),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_LOG" => ScmpAction::Log,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        other => bail!("action {other} is not one wl can apply"),
    })
}

/// A compiled filter, ready for the child to install without allocating.
pub struct Compiled {
    program: Vec<libc::sock_filter>,
}

/// Compiles `profile` with libseccomp; `denial` replaces its default action.
pub fn compile(profile: &Profile, denial: Denial) -> Result<Compiled> {
    let default = match denial {
        Denial::Errno => ScmpAction::Errno(profile.default_errno_ret.unwrap_or(1) as i32),
        Denial::Kill => ScmpAction::KillProcess,
        Denial::Log => ScmpAction::Log,
    };
    let mut ctx = ScmpFilterContext::new(default).context("libseccomp: cannot start a filter")?;
    // wl-user installs the filter itself, and only sets no_new_privs when it must.
    ctx.set_ctl_nnp(false)?;
    let native = ScmpArch::native();
    let archs = profile
        .architectures
        .iter()
        .map(|a| scmp_arch(a).map(|(arch, _)| arch))
        .collect::<Result<Vec<_>>>()?;
    for &arch in &archs {
        ctx.add_arch(arch)?;
    }
    if !archs.is_empty() && !archs.contains(&native) {
        ctx.remove_arch(native)?;
    }
    for rule in &profile.syscalls {
        if [&rule.args, &rule.includes, &rule.excludes]
            .iter()
            .any(|c| {
                c.as_ref().is_some_and(|v| {
                    !v.is_null() && v != &serde_json::json!([]) && v != &serde_json::json!({})
                })
            })
        {
            bail!(
                "the rule for {} has argument, capability or kernel conditions, which wl does not apply; use a profile that lists names only",
                rule.names.join(", ")
            );
        }
        let act = action(&rule.action, rule.errno_ret)?;
        if act == default {
            continue;
        }
        for name in &rule.names {
            let syscall = ScmpSyscall::from_name(name).with_context(|| {
                format!("the profile names '{name}', which libseccomp does not know")
            })?;
            ctx.add_rule(act, syscall)
                .with_context(|| format!("libseccomp: cannot add a rule for '{name}'"))?;
        }
    }
    // The BPF program, exported through a memory file: libseccomp 2.5 has no export
    // to memory.
    // SAFETY: memfd_create with a valid name and no flags besides CLOEXEC.
    let fd = unsafe { libc::memfd_create(c"wl-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("cannot create a memory file");
    }
    // SAFETY: `fd` was just opened and is owned here.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file)
        .context("libseccomp: cannot export the filter")?;
    let mut bytes = Vec::new();
    file.rewind()?;
    file.read_to_end(&mut bytes)?;
    let size = size_of::<libc::sock_filter>();
    if bytes.is_empty() || bytes.len() % size != 0 {
        bail!("libseccomp exported a filter of {} bytes", bytes.len());
    }
    let program = bytes
        .chunks_exact(size)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Ok(Compiled { program })
}

impl Compiled {
    /// Installs the filter on the calling thread; returns 0 or an errno. For the forked
    /// child: two raw syscalls on memory prepared before the fork, nothing allocated.
    ///
    /// # Safety
    /// Async-signal-safe; call it in the child between fork and execve.
    pub unsafe fn install(&self) -> i32 {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr().cast_mut(),
        };
        let load = || {
            // SAFETY: `prog` points at a valid program for the duration of the call.
            unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &raw const prog,
                )
            }
        };
        // Without CAP_SYS_ADMIN the kernel requires no_new_privs first.
        // SAFETY: plain syscalls; errno is read right after each.
        unsafe {
            if load() == 0 {
                return 0;
            }
            if *libc::__errno_location() == libc::EACCES
                && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
                && load() == 0
            {
                return 0;
            }
            *libc::__errno_location()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen() -> Seen {
        [
            (
                AbiName::X86_64,
                ["read", "execve", "exit_group", "syscall_500"]
                    .map(String::from)
                    .into(),
            ),
            (
                AbiName::I386,
                ["read", "socketcall"].map(String::from).into(),
            ),
        ]
        .into()
    }

    #[test]
    fn profiles_list_what_ran() {
        let (p, unnamed) = profile(&seen(), Denial::Errno);
        assert_eq!(p.default_action, "SCMP_ACT_ERRNO");
        assert_eq!(p.default_errno_ret, Some(1));
        assert_eq!(p.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
        assert_eq!(
            p.syscalls[0].names,
            ["execve", "exit_group", "read", "socketcall"]
        );
        assert_eq!(unnamed, ["syscall_500 (x86_64)"]);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["syscalls"][0]["action"], "SCMP_ACT_ALLOW");
        assert!(json["syscalls"][0].get("args").is_none());
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                systemd(&p),
                "SystemCallFilter=execve exit_group read socketcall\nSystemCallArchitectures=native x86\nSystemCallErrorNumber=EPERM\n"
            );
        }
    }

    #[test]
    fn compiles_to_a_program_and_refuses_conditions() {
        let (mut p, _) = profile(&seen(), Denial::Errno);
        assert!(!compile(&p, Denial::Kill).unwrap().program.is_empty());
        p.syscalls[0].args =
            Some(serde_json::json!([{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]));
        let err = compile(&p, Denial::Errno).err().unwrap().to_string();
        assert!(err.contains("conditions"), "{err}");
        p.syscalls[0].args = None;
        p.syscalls[0].names.push("no_such_call".into());
        let err = format!("{:#}", compile(&p, Denial::Errno).err().unwrap());
        assert!(err.contains("no_such_call"), "{err}");
    }
}
