//! `wl-user completions SHELL` and the hidden `wl-user man --dir DIR`: shell completions
//! and manual pages, both generated from the command-line definition itself so that they
//! cannot drift from `--help`.

use std::{
    io::{self, Write},
    path::Path,
};

use anyhow::{Context as _, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

pub fn completions(shell: Shell) -> Result<()> {
    // Rendered into memory first: clap_complete panics on a failed write, and a reader
    // that went away (`| head`) is not an error here.
    let script = completion_script(shell);
    match io::stdout().lock().write_all(&script) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write the completion script to standard output")
        }
        _ => Ok(()),
    }
}

/// The completion script for `shell`. clap_complete's bash script names the function
/// of each subcommand after the binary with every `-` replaced, but the dispatch that
/// picks the function replaces it differently (`wl__subcmd__user__subcmd__run` against
/// `wl__user__subcmd__run`), so for a binary with a hyphen nothing past the subcommand
/// completed. The dispatch's names are put right here.
fn completion_script(shell: Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut visible(&Cli::command()), "wl-user", &mut script);
    if shell == Shell::Bash {
        let text = String::from_utf8_lossy(&script).replace("wl__subcmd__user__", "wl__user__");
        script = text.into_bytes();
    }
    script
}

/// Writes wl-user.1 and a page per visible subcommand (wl-user-run.1, ...) into `dir`:
/// clap's sections (synopsis, description, options), then EXIT STATUS, EXAMPLES and SEE
/// ALSO.
/// `cmd` without its hidden subcommands and flags (`man`, `--noop`: for packaging and
/// benchmarks), which clap_complete would offer: completions show what people use.
fn visible(cmd: &clap::Command) -> clap::Command {
    // Built once per process, for a completion script: leaking the names is the price
    // of clap taking them as `&'static str`.
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let mut out = clap::Command::new(leak(cmd.get_name()));
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        out = out.version(leak(version));
    }
    out.args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(visible),
        )
}

pub fn man(dir: &Path) -> Result<()> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let subcommands: Vec<clap::Command> = root
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let siblings: Vec<String> = subcommands
        .iter()
        .map(|s| format!("wl-user-{}", s.get_name()))
        .collect();
    for (name, cmd) in std::iter::once(("", root.clone()))
        .chain(subcommands.iter().map(|s| (s.get_name(), s.clone())))
    {
        let page = clap_mangen::Man::new(cmd);
        let mut text = Vec::new();
        page.render(&mut text)?;
        text.extend_from_slice(sections(name, &siblings).to_roff().as_bytes());
        let path = dir.join(page.get_filename());
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write the manual page {}", path.display()))?;
    }
    Ok(())
}

/// EXIT STATUS, EXAMPLES and SEE ALSO of the page of subcommand `name` ("" for
/// wl-user.1).
fn sections(name: &str, siblings: &[String]) -> roff::Roff {
    use roff::{Roff, bold, roman};
    let own = "wl-user itself failed: a bad option or format, a file it cannot read or write, \
               a kernel or privileges that do not let it trace. Its error is one line on \
               standard error, and a report of what was traced is still written.";
    let statuses: Vec<(&str, &str)> = match name {
        "" | "run" => vec![
            (
                "N",
                "run: the traced command's own status, or 128+N when signal N killed it.",
            ),
            ("125", own),
            ("126", "run: the command was found but could not be run."),
            ("127", "run: the command was not found."),
        ],
        "diff" => vec![
            ("0", "No --fail-on condition holds."),
            (
                "1",
                "A --fail-on condition holds; each is named on standard error.",
            ),
            ("2", "Trouble: a file that is not a report, a bad option."),
        ],
        "check" => vec![
            ("0", "wl can trace on this machine."),
            ("1", "It cannot: the lines marked NO say why."),
        ],
        _ => vec![("0", "Success."), ("125", own)],
    };
    let examples: &[(&str, &str)] = match name {
        "" | "run" => &[
            (
                "sudo wl-user run -- perf bench syscall basic",
                "Count every syscall of the benchmark and of what it starts, by subsystem.",
            ),
            (
                "sudo wl-user run -f rst -o perf.rst -- perf bench all",
                "The kernel workload-tracing guide's table, to paste into documentation.",
            ),
            (
                "sudo wl-user run -i 1 -- stress-ng --netdev 1 -t 60",
                "A live view, redrawn every second.",
            ),
            (
                "sudo wl-user run -f json -o base.json --by process -- make",
                "Everything, per process, as JSON.",
            ),
        ],
        "attach" => &[
            (
                "sudo wl-user attach -p 1234 -d 10",
                "Trace process 1234 and its children for ten seconds.",
            ),
            (
                "sudo wl-user attach -c /sys/fs/cgroup/system.slice/nginx.service -f json -o nginx.json",
                "Trace a service until Ctrl-C.",
            ),
        ],
        "syscalls" => &[
            (
                "wl-user syscalls openat",
                "Its number in each ABI, entry point, source file, subsystem and maintainers.",
            ),
            (
                "wl-user syscalls --arch i386 -f csv",
                "Every syscall of the 32-bit x86 ABI.",
            ),
        ],
        "diff" => &[(
            "wl-user diff base.json new.json --fail-on new-syscall,new-subsystem,calls:+20%",
            "A CI gate: fail when the workload newly needs something of the kernel.",
        )],
        "seccomp" => &[
            (
                "wl-user seccomp base.json -o make.json",
                "A profile that allows exactly what base.json saw.",
            ),
            (
                "sudo wl-user run --seccomp make.json -- make",
                "Prove it: re-run under it, and see every call it denies.",
            ),
        ],
        "check" => &[(
            "sudo wl-user check",
            "Can wl trace here, and if not, why not.",
        )],
        "serve" => &[
            (
                "sudo wl-user serve",
                "Serve http://127.0.0.1:9464/metrics for Prometheus.",
            ),
            (
                "sudo wl-user serve --listen 0.0.0.0:9464 --web-config /etc/wl/web.yml --by-unit",
                "On every network, with TLS and basic auth, labelled by systemd unit.",
            ),
        ],
        "completions" => &[(
            "wl-user completions bash > /etc/bash_completion.d/wl-user",
            "Install bash completion by hand.",
        )],
        _ => &[],
    };
    let mut page = Roff::new();
    page.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in statuses {
        page.control("TP", [])
            .text([bold(code)])
            .text([roman(meaning)]);
    }
    if !examples.is_empty() {
        page.control("SH", ["EXAMPLES"]);
        for (command, what) in examples {
            page.control("TP", [])
                .text([bold(*command)])
                .text([roman(*what)]);
        }
    }
    page.control("SH", ["SEE ALSO"]);
    let this = format!("wl-user-{name}");
    let mut refs: Vec<(String, &str)> = std::iter::once("wl-user".to_owned())
        .chain(siblings.iter().cloned())
        .filter(|p| *p != this && !(name.is_empty() && p == "wl-user"))
        .map(|p| (p, "1"))
        .collect();
    refs.extend(
        [("strace", "1"), ("perf-trace", "1"), ("bpftrace", "8")].map(|(p, s)| (p.to_owned(), s)),
    );
    if name == "seccomp" || name == "run" {
        refs.push(("seccomp".to_owned(), "2"));
    }
    let mut inline = Vec::new();
    for (i, (p, section)) in refs.iter().enumerate() {
        let sep = if i + 1 == refs.len() { "" } else { ", " };
        inline.push(bold(p.as_str()));
        inline.push(roman(format!("({section}){sep}")));
    }
    page.text(inline);
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What bash offers for the words of `line` (the last one being completed), with
    /// the script loaded as bash-completion would.
    fn bash_completes(line: &[&str]) -> Vec<String> {
        let script = String::from_utf8(completion_script(Shell::Bash)).unwrap();
        let words = line
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let cword = line.len() - 1;
        let prev = if cword > 0 { line[cword - 1] } else { "" };
        let program = format!(
            "{script}\nCOMP_WORDS=({words}); COMP_CWORD={cword}; _wl__user wl-user '{}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            line[cword]
        );
        let out = std::process::Command::new("bash")
            .args(["--norc", "-c", &program])
            .output()
            .expect("bash");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// What a shell prints for `program`, run with the completion script in `file`.
    fn shell(shell: &str, program: &str) -> String {
        let out = std::process::Command::new(shell)
            .args(["-c", program])
            .output()
            .unwrap_or_else(|e| {
                panic!("{shell} is needed for this test (./setup installs it): {e}")
            });
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn script_file(kind: Shell) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("wl-completion-{}.{kind}", std::process::id()));
        std::fs::write(&path, completion_script(kind)).unwrap();
        path
    }

    #[test]
    fn hidden_subcommands_and_flags_are_not_offered() {
        let top = bash_completes(&["wl-user", ""]);
        assert!(top.iter().any(|w| w == "run"), "{top:?}");
        assert!(!top.iter().any(|w| w == "man"), "{top:?}");
        let flags = bash_completes(&["wl-user", "run", "--no"]);
        assert!(flags.iter().any(|w| w == "--no-latency"), "{flags:?}");
        assert!(!flags.iter().any(|w| w == "--noop"), "{flags:?}");
    }

    /// fish completes from the script as loaded: `complete -C` asks it for a line.
    #[test]
    fn fish_completes_from_the_script() {
        let file = script_file(Shell::Fish);
        let got = shell(
            "fish",
            &format!(
                "source {}; complete -C 'wl-user run --fo'; complete -C 'wl-user '",
                file.display()
            ),
        );
        std::fs::remove_file(&file).unwrap();
        let words: Vec<&str> = got.lines().filter_map(|l| l.split('\t').next()).collect();
        assert!(words.contains(&"--format"), "{got}");
        assert!(
            words.contains(&"attach") && !words.contains(&"man"),
            "{got}"
        );
    }

    /// zsh loads the script under compinit and registers it for wl-user.
    #[test]
    fn zsh_loads_the_script() {
        let file = script_file(Shell::Zsh);
        let got = shell(
            "zsh",
            &format!(
                "autoload -U compinit && compinit -u -D; source {}; print -r -- $_comps[wl-user]; whence -w _wl-user",
                file.display()
            ),
        );
        std::fs::remove_file(&file).unwrap();
        assert!(
            got.contains("_wl-user\n") && got.contains("_wl-user: function"),
            "{got}"
        );
    }

    #[test]
    fn bash_completes_past_the_subcommand() {
        assert_eq!(bash_completes(&["wl-user", "ru"]), ["run"]);
        // Before the fix, nothing: the subcommand's function was never reached.
        let flags = bash_completes(&["wl-user", "run", "--fo"]);
        assert_eq!(flags, ["--format"]);
        let formats = bash_completes(&["wl-user", "run", "--format", ""]);
        for f in ["table", "json", "csv", "md", "rst", "svg"] {
            assert!(formats.iter().any(|x| x == f), "{f} not in {formats:?}");
        }
        let abis = bash_completes(&["wl-user", "syscalls", "--arch", ""]);
        assert!(abis.iter().any(|x| x == "x86_64"), "{abis:?}");
    }

    /// The package installs one page per visible subcommand; a hidden one (`man`) or
    /// clap's `help` must not get a page.
    #[test]
    fn man_writes_one_page_per_visible_subcommand() {
        let dir = std::env::temp_dir().join(format!("wl-man-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        man(&dir).unwrap();
        let mut pages: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        pages.sort();
        let page = std::fs::read_to_string(dir.join("wl-user-run.1")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        for expected in [
            "wl-user.1",
            "wl-user-run.1",
            "wl-user-attach.1",
            "wl-user-syscalls.1",
            "wl-user-completions.1",
        ] {
            assert!(
                pages.iter().any(|p| p == expected),
                "{expected} in {pages:?}"
            );
        }
        assert!(
            !pages
                .iter()
                .any(|p| p.contains("-man.") || p.contains("-help."))
        );
        assert!(
            page.contains("no\\-latency"),
            "run's page lists its options"
        );
        for section in [".SH \"EXIT STATUS\"", ".SH EXAMPLES", ".SH \"SEE ALSO\""] {
            assert!(page.contains(section), "{section} in run's page:\n{page}");
        }
        assert!(
            page.contains("\\fB125\\fR") && page.contains("\\fB127\\fR"),
            "{page}"
        );
        assert!(page.contains("\\fBwl\\-user\\-attach\\fR(1)"), "{page}");
    }

    #[test]
    fn bash_completion_knows_the_subcommands() {
        let mut script = Vec::new();
        clap_complete::generate(Shell::Bash, &mut Cli::command(), "wl-user", &mut script);
        let script = String::from_utf8(script).unwrap();
        let top = script
            .lines()
            .find(|l| l.trim_start().starts_with("opts=\"-h -V"))
            .expect("the top-level word list");
        for sub in ["run", "attach", "syscalls", "completions"] {
            assert!(top.split(['"', ' ']).any(|w| w == sub), "{sub} in {top}");
        }
        assert!(
            script.contains("-o default wl-user\n"),
            "registered for the installed name"
        );
    }
}
