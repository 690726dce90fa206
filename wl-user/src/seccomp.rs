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

/// What a written profile gives the calls it does not allow (`wl-user seccomp --action`),
/// and what `run --seccomp-action` puts in place of every action of a profile that
/// stops a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Denial {
    /// The call fails with EPERM and the workload goes on.
    Errno,
    /// The process is killed by SIGSYS.
    Kill,
    /// The call runs and is logged by the kernel (audit); wl reports it as logged.
    Log,
}

impl Denial {
    fn oci(self) -> &'static str {
        self.action().oci()
    }

    fn action(self) -> Action {
        match self {
            Denial::Errno => Action::Errno(libc::EPERM as u32),
            Denial::Kill => Action::KillProcess,
            Denial::Log => Action::Log,
        }
    }
}

/// What a profile does with a call: the actions of the OCI format that libseccomp
/// applies. A call under `Allow` or `Log` runs; the others stop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    /// Runs, and the kernel logs it.
    Log,
    /// Fails with this errno without running.
    Errno(u32),
    /// Does not run; the thread gets SIGSYS.
    Trap,
    /// Handed to a ptrace tracer with this message; without one (wl is none) it fails
    /// with ENOSYS.
    Trace(u32),
    KillThread,
    KillProcess,
}

/// The largest errno a seccomp filter can return (MAX_ERRNO).
const MAX_ERRNO: u32 = 4095;

impl Action {
    /// An OCI action with its `errnoRet` (the errno of `SCMP_ACT_ERRNO`, EPERM when
    /// absent as runc has it; the message of `SCMP_ACT_TRACE`).
    pub fn parse(oci: &str, errno_ret: Option<u32>) -> Result<Action> {
        let errno = || match errno_ret {
            None => Ok(libc::EPERM as u32),
            Some(n) if (1..=MAX_ERRNO).contains(&n) => Ok(n),
            Some(n) => bail!("{oci} with errnoRet {n}: an errno is 1 to {MAX_ERRNO}"),
        };
        Ok(match oci {
            "SCMP_ACT_ALLOW" => Action::Allow,
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_ERRNO" => Action::Errno(errno()?),
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_TRACE" => match errno_ret {
                None => Action::Trace(libc::EPERM as u32),
                Some(n) if n <= u32::from(u16::MAX) => Action::Trace(n),
                Some(n) => bail!("SCMP_ACT_TRACE with errnoRet {n}: a trace message is 0 to 65535"),
            },
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_NOTIFY" => bail!(
                "action SCMP_ACT_NOTIFY hands calls to a supervisor process, which wl does not run"
            ),
            other => bail!(
                "action '{other}' is not a seccomp action (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL, SCMP_ACT_TRAP, SCMP_ACT_LOG, SCMP_ACT_TRACE)"
            ),
        })
    }

    /// The OCI name.
    pub fn oci(self) -> &'static str {
        match self {
            Action::Allow => "SCMP_ACT_ALLOW",
            Action::Log => "SCMP_ACT_LOG",
            Action::Errno(_) => "SCMP_ACT_ERRNO",
            Action::Trap => "SCMP_ACT_TRAP",
            Action::Trace(_) => "SCMP_ACT_TRACE",
            Action::KillThread => "SCMP_ACT_KILL_THREAD",
            Action::KillProcess => "SCMP_ACT_KILL_PROCESS",
        }
    }

    /// Whether the call runs.
    pub fn runs(self) -> bool {
        matches!(self, Action::Allow | Action::Log)
    }

    /// What it does to the caller, in a few words.
    pub fn effect(self) -> String {
        match self {
            Action::Allow => "allowed".to_owned(),
            Action::Log => "logged".to_owned(),
            Action::Errno(n) => crate::syscalls::errno_name(n),
            Action::Trap => "SIGSYS".to_owned(),
            Action::Trace(_) => "ENOSYS, no tracer".to_owned(),
            Action::KillThread => "thread killed".to_owned(),
            Action::KillProcess => "process killed".to_owned(),
        }
    }

    fn scmp(self) -> ScmpAction {
        match self {
            Action::Allow => ScmpAction::Allow,
            Action::Log => ScmpAction::Log,
            Action::Errno(n) => ScmpAction::Errno(n as i32),
            Action::Trap => ScmpAction::Trap,
            Action::Trace(n) => ScmpAction::Trace(n as u16),
            Action::KillThread => ScmpAction::KillThread,
            Action::KillProcess => ScmpAction::KillProcess,
        }
    }
}

/// An OCI seccomp profile: the fields wl writes and applies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    expecting = "a profile: an object with defaultAction, architectures and syscalls"
)]
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
#[serde(
    rename_all = "camelCase",
    expecting = "a syscalls rule: an object with names and action"
)]
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
        AbiName::Arm => "SCMP_ARCH_ARM",
    }
}

fn scmp_arch(oci: &str) -> Result<(ScmpArch, AbiName)> {
    Ok(match oci {
        "SCMP_ARCH_X86_64" => (ScmpArch::X8664, AbiName::X86_64),
        "SCMP_ARCH_X86" => (ScmpArch::X86, AbiName::I386),
        "SCMP_ARCH_AARCH64" => (ScmpArch::Aarch64, AbiName::Aarch64),
        "SCMP_ARCH_ARM" => (ScmpArch::Arm, AbiName::Arm),
        other => bail!("architecture {other} is not one wl traces (x86_64, x86, aarch64, arm)"),
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
                "SCMP_ARCH_ARM" => "arm",
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

/// A profile as it is applied: each call's action, `--seccomp-action` put in place of
/// the actions that stop a call where the user asked.
#[derive(Debug)]
pub struct Applied {
    default: Action,
    /// By name, for every ABI of the profile.
    rules: BTreeMap<String, Action>,
    /// The ABIs the filter lets through; a call of another is killed (libseccomp's
    /// bad-architecture action). Empty: the native one.
    abis: Vec<(ScmpArch, AbiName)>,
}

impl Applied {
    /// Checks everything the filter will do before anything runs: unknown actions,
    /// conditions wl cannot apply, a name given two actions, and a profile under which
    /// the command could not even be started.
    pub fn new(profile: &Profile, replace: Option<Denial>) -> Result<Applied> {
        let instead = |a: Action| match replace {
            Some(d) if !a.runs() => d.action(),
            _ => a,
        };
        let default = instead(
            Action::parse(&profile.default_action, profile.default_errno_ret)
                .context("defaultAction")?,
        );
        let mut rules = BTreeMap::new();
        for rule in &profile.syscalls {
            let names = rule.names.join(", ");
            if [&rule.args, &rule.includes, &rule.excludes]
                .iter()
                .any(|c| {
                    c.as_ref().is_some_and(|v| {
                        !v.is_null() && v != &serde_json::json!([]) && v != &serde_json::json!({})
                    })
                })
            {
                bail!(
                    "the rule for {names} has argument, capability or kernel conditions, which wl does not apply; use a profile that lists names only",
                );
            }
            let act = instead(
                Action::parse(&rule.action, rule.errno_ret)
                    .with_context(|| format!("the rule for {names}"))?,
            );
            for name in &rule.names {
                match rules.insert(name.clone(), act) {
                    Some(before) if before != act => bail!(
                        "the profile gives '{name}' two actions, {} and {}",
                        before.oci(),
                        act.oci()
                    ),
                    _ => {}
                }
            }
        }
        let mut abis = profile
            .architectures
            .iter()
            .map(|a| scmp_arch(a))
            .collect::<Result<Vec<_>>>()?;
        abis.dedup();
        let applied = Applied {
            default,
            rules,
            abis,
        };
        // wl-user starts the command with execve once the filter is in place.
        let exec = applied.action_of(AbiName::native(), "execve");
        if !exec.runs() {
            bail!(
                "the profile does not allow execve ({}), so no command can start under it; allow execve",
                exec.oci()
            );
        }
        Ok(applied)
    }

    /// What a call of `name` made through `abi` gets.
    pub fn action_of(&self, abi: AbiName, name: &str) -> Action {
        let covered = if self.abis.is_empty() {
            abi == AbiName::native()
        } else {
            self.abis.iter().any(|&(_, a)| a == abi)
        };
        if !covered {
            return Action::KillThread;
        }
        self.rules.get(name).copied().unwrap_or(self.default)
    }

    /// Compiles the filter with libseccomp.
    pub fn compile(&self) -> Result<Compiled> {
        let mut ctx = ScmpFilterContext::new(self.default.scmp())
            .context("libseccomp: cannot start a filter")?;
        // wl-user installs the filter itself, and only sets no_new_privs when it must.
        ctx.set_ctl_nnp(false)?;
        let native = ScmpArch::native();
        for &(arch, _) in &self.abis {
            ctx.add_arch(arch)?;
        }
        if !self.abis.is_empty() && !self.abis.iter().any(|&(a, _)| a == native) {
            ctx.remove_arch(native)?;
        }
        for (name, &act) in &self.rules {
            if act == self.default {
                continue;
            }
            let syscall = ScmpSyscall::from_name(name).with_context(|| {
                format!("the profile names '{name}', which libseccomp does not know")
            })?;
            ctx.add_rule(act.scmp(), syscall)
                .with_context(|| format!("libseccomp: cannot add a rule for '{name}'"))?;
        }
        export(&ctx)
    }
}

/// A compiled filter, ready for the child to install without allocating.
pub struct Compiled {
    program: Vec<libc::sock_filter>,
}

/// The BPF program of `ctx`, exported through a memory file: libseccomp 2.5 has no
/// export to memory.
fn export(ctx: &ScmpFilterContext) -> Result<Compiled> {
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
        let applied = Applied::new(&p, Some(Denial::Kill)).unwrap();
        assert!(!applied.compile().unwrap().program.is_empty());
        p.syscalls[0].args =
            Some(serde_json::json!([{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]));
        let err = Applied::new(&p, None).err().unwrap().to_string();
        assert!(err.contains("conditions"), "{err}");
        p.syscalls[0].args = None;
        p.syscalls[0].names.push("no_such_call".into());
        let err = format!(
            "{:#}",
            Applied::new(&p, None).unwrap().compile().err().unwrap()
        );
        assert!(err.contains("no_such_call"), "{err}");
    }

    fn oci(json: serde_json::Value) -> Profile {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_profile_is_applied_as_written() {
        let native = AbiName::native();
        // A deny-list: everything runs but what is named.
        let deny = oci(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["mount"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["uname"], "action": "SCMP_ACT_LOG"},
                {"names": ["getpgid"], "action": "SCMP_ACT_TRAP"},
                {"names": ["getsid"], "action": "SCMP_ACT_KILL"},
                {"names": ["umask"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}
            ]
        }));
        let a = Applied::new(&deny, None).unwrap();
        assert_eq!(a.action_of(native, "execve"), Action::Allow);
        assert_eq!(a.action_of(native, "getppid"), Action::Errno(13));
        assert_eq!(a.action_of(native, "mount"), Action::Errno(1));
        assert_eq!(a.action_of(native, "ptrace"), Action::KillProcess);
        assert_eq!(a.action_of(native, "uname"), Action::Log);
        assert_eq!(a.action_of(native, "getpgid"), Action::Trap);
        assert_eq!(a.action_of(native, "getsid"), Action::KillThread);
        assert_eq!(a.action_of(native, "umask"), Action::Trace(7));
        assert!(!a.compile().unwrap().program.is_empty());
        // --seccomp-action replaces what stops a call, and only that.
        let a = Applied::new(&deny, Some(Denial::Log)).unwrap();
        assert_eq!(a.action_of(native, "execve"), Action::Allow);
        assert_eq!(a.action_of(native, "getppid"), Action::Log);
        assert_eq!(a.action_of(native, "ptrace"), Action::Log);
        let a = Applied::new(&deny, Some(Denial::Kill)).unwrap();
        assert_eq!(a.action_of(native, "getppid"), Action::KillProcess);
        assert_eq!(a.action_of(native, "uname"), Action::Log);

        // An allow-list whose default kills.
        let kill = oci(serde_json::json!({
            "defaultAction": "SCMP_ACT_KILL_PROCESS",
            "syscalls": [{"names": ["execve", "exit_group"], "action": "SCMP_ACT_ALLOW"}]
        }));
        let a = Applied::new(&kill, None).unwrap();
        assert_eq!(a.action_of(native, "getppid"), Action::KillProcess);
        assert_eq!(a.action_of(native, "exit_group"), Action::Allow);
        let a = Applied::new(&kill, Some(Denial::Errno)).unwrap();
        assert_eq!(a.action_of(native, "getppid"), Action::Errno(1));
    }

    #[test]
    fn what_cannot_be_applied_is_refused_in_one_line() {
        let refused =
            |json: serde_json::Value| format!("{:#}", Applied::new(&oci(json), None).unwrap_err());
        let e = refused(serde_json::json!({"defaultAction": "SCMP_ACT_BOGUS"}));
        assert!(
            e.starts_with("defaultAction: action 'SCMP_ACT_BOGUS' is not a seccomp action"),
            "{e}"
        );
        let e = refused(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_DENY"}]
        }));
        assert!(
            e.starts_with("the rule for mount: action 'SCMP_ACT_DENY' is not a seccomp action"),
            "{e}"
        );
        // An empty allow-list: not even the command's execve would run.
        let e = refused(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}));
        assert_eq!(
            e,
            "the profile does not allow execve (SCMP_ACT_ERRNO), so no command can start under it; allow execve"
        );
        let e = refused(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["mount"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["mount"], "action": "SCMP_ACT_KILL_PROCESS"}
            ]
        }));
        assert_eq!(
            e,
            "the profile gives 'mount' two actions, SCMP_ACT_ERRNO and SCMP_ACT_KILL_PROCESS"
        );
        let e = refused(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000
        }));
        assert!(e.contains("errnoRet 70000: an errno is 1 to 4095"), "{e}");
        let e = refused(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        assert!(e.contains("supervisor process"), "{e}");
        assert!(!e.contains('\n'));
    }
}
