//! Starting a workload so that its first counted syscall is its `execve` and nothing of
//! wl-user's own is counted.
//!
//! The child stops itself (SIGSTOP) right after `fork`; the parent puts it into the
//! traced cgroup or pid set while it is stopped, then continues it, and the child's next
//! syscall is `execve`. A stop is delivered on the way back to user space, after the
//! `kill` syscall has exited, so no syscall straddles the moment tracing begins.

use std::{
    ffi::{CString, OsString},
    os::{
        fd::{AsRawFd, OwnedFd},
        unix::{ffi::OsStrExt, fs::PermissionsExt},
    },
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail};

use crate::seccomp;
use nix::{
    sys::{
        signal::{Signal, kill},
        wait::{WaitPidFlag, WaitStatus, waitpid},
    },
    unistd::{ForkResult, Pid, fork, pipe2},
};

/// Why a command cannot start, with the exit code a shell would give.
#[derive(Debug)]
pub struct CommandError {
    pub message: String,
    /// 127: not found; 126: found but not executable.
    pub exit_code: i32,
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {}

fn not_found(program: &OsString) -> CommandError {
    CommandError {
        message: format!("{}: command not found", program.to_string_lossy()),
        exit_code: 127,
    }
}

/// Finds `program` as `execvp` would: a path if it has a slash, else in `$PATH`.
pub fn resolve(program: &OsString) -> Result<PathBuf, CommandError> {
    let is_exec = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.as_bytes().contains(&b'/') {
        let p = PathBuf::from(program);
        if !p.exists() {
            return Err(not_found(program));
        }
        if !is_exec(&p) {
            return Err(CommandError {
                message: format!(
                    "{}: not an executable file (permission denied)",
                    p.display()
                ),
                exit_code: 126,
            });
        }
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut non_exec = None;
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        if is_exec(&candidate) {
            return Ok(candidate);
        }
        if candidate.is_file() && non_exec.is_none() {
            non_exec = Some(candidate);
        }
    }
    match non_exec {
        Some(p) => Err(CommandError {
            message: format!(
                "{}: not an executable file (permission denied)",
                p.display()
            ),
            exit_code: 126,
        }),
        None => Err(not_found(program)),
    }
}

/// A forked child, stopped before its `execve`.
pub struct Stopped {
    pub pid: Pid,
    /// Receives the child's errno if its `execve` fails; closes on success (CLOEXEC).
    exec_error: OwnedFd,
}

fn cstring(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).context("an argument or environment variable contains a NUL byte")
}

/// Forks a child that will run `path` with `args` (args[0] included) and the current
/// environment, and waits until it has stopped itself.
///
/// With `filter`, the child installs that seccomp filter when it is continued, right
/// before its `execve`.
pub fn fork_stopped(
    path: &Path,
    args: &[OsString],
    filter: Option<&seccomp::Compiled>,
) -> Result<Stopped> {
    // Everything the child needs is allocated before fork: after it, in a threaded
    // process, the child may only make async-signal-safe calls.
    let path_c = cstring(path.as_os_str().as_bytes())?;
    let argv_c = args
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<Result<Vec<_>>>()?;
    let envp_c = std::env::vars_os()
        .map(|(k, v)| cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect::<Result<Vec<_>>>()?;
    let mut argv: Vec<*const libc::c_char> = argv_c.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = envp_c.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    let (err_r, err_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("cannot create a pipe")?;

    let parent = nix::unistd::getpid().as_raw();

    // SAFETY: the child branch calls only async-signal-safe functions (signal, prctl,
    // getppid, getpid, kill, seccomp, execve, write, _exit) on memory prepared above,
    // and never returns.
    match unsafe { fork() }.context("cannot fork")? {
        ForkResult::Child => unsafe {
            // Rust ignores SIGPIPE; an exec'd program expects the default, as a shell
            // would give it.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            // Should wl-user die (even by SIGKILL) before continuing the child, the kernel
            // continues it: the command then runs, untraced, instead of staying stopped.
            // Checked against the parent's pid, since it may have died already.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGCONT);
            if libc::getppid() == parent {
                libc::kill(libc::getpid(), libc::SIGSTOP);
            }
            // A seccomp failure is sent negated, an exec failure as it is.
            let errno = match filter.map_or(0, |f| f.install()) {
                0 => {
                    libc::execve(path_c.as_ptr(), argv.as_ptr(), envp.as_ptr());
                    *libc::__errno_location()
                }
                e => -e,
            };
            libc::write(
                err_w.as_raw_fd(),
                (&raw const errno).cast(),
                size_of::<i32>(),
            );
            libc::_exit(if errno == libc::ENOENT { 127 } else { 126 });
        },
        ForkResult::Parent { child } => {
            drop(err_w);
            match waitpid(child, Some(WaitPidFlag::WUNTRACED))
                .context("cannot wait for the workload")?
            {
                WaitStatus::Stopped(_, Signal::SIGSTOP) => Ok(Stopped {
                    pid: child,
                    exec_error: err_r,
                }),
                other => bail!("the workload did not start: {other:?}"),
            }
        }
    }
}

impl Stopped {
    /// Lets the child run its `execve`, and reports whether that succeeded.
    pub fn resume(self) -> Result<()> {
        // A test hook: the moment between enrolling and continuing the workload, held
        // open so that a test can kill wl-user there.
        if let Some(ms) = std::env::var("WL_TEST_PAUSE_BEFORE_EXEC_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        kill(self.pid, Signal::SIGCONT).context("cannot continue the workload")?;
        let mut buf = [0u8; 4];
        let n = nix::unistd::read(&self.exec_error, &mut buf).unwrap_or(0);
        if n == 4 {
            // The child exits on its own; the caller's reaping collects it.
            let errno = i32::from_ne_bytes(buf);
            if errno < 0 {
                let e = nix::errno::Errno::from_raw(-errno);
                bail!("cannot apply the seccomp profile: {}", e.desc());
            }
            let errno = nix::errno::Errno::from_raw(errno);
            return Err(CommandError {
                message: format!("cannot execute the command: {}", errno.desc()),
                exit_code: if errno == nix::errno::Errno::ENOENT {
                    127
                } else {
                    126
                },
            }
            .into());
        }
        Ok(())
    }

    /// Kills a child that will not be resumed.
    pub fn abandon(self) {
        let _ = kill(self.pid, Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_a_shell() {
        assert!(resolve(&"sh".into()).unwrap().is_absolute());
        assert_eq!(
            resolve(&"no-such-command-wl".into()).unwrap_err().exit_code,
            127
        );
        assert_eq!(resolve(&"/no/such/file".into()).unwrap_err().exit_code, 127);
        let file = std::env::temp_dir().join(format!("wl-spawn-test-{}", std::process::id()));
        std::fs::write(&file, "").unwrap();
        let err = resolve(&file.clone().into_os_string()).unwrap_err();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(err.exit_code, 126);
        assert_eq!(resolve(&"/".into()).unwrap_err().exit_code, 126);
    }
}
