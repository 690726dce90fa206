//! `--profile`: the sampled kernel stacks, each frame named with its function and source
//! file, and each sample credited to the subsystem doing the work.
//!
//! The rule: walking a stack from the innermost frame out, the first frame whose file
//! is not a shared helper ([`rules::SHARED_HELPERS`]: copy and clear routines, locking,
//! entry code) and has a subsystem gets the sample; where every frame is a helper, the
//! innermost frame with a source file; where no frame has one, "Other". Folded stacks
//! and the flame graph keep every frame.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    collector::profile::ProfileSnapshot,
    syscalls::{self, Knowledge, kallsyms::Kallsyms, rules},
};

/// One kernel address, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The function, or the address in hex where no symbol covers it.
    pub function: String,
    /// The module that holds it (`[module]` in /proc/kallsyms); None for the kernel image.
    pub module: Option<String>,
    /// Its source file, where the function table knows it.
    pub file: Option<String>,
}

impl Frame {
    /// The name frames have in folded stacks and the flame graph: `function`, or
    /// `function [module]`.
    pub fn label(&self) -> String {
        match &self.module {
            Some(m) => format!("{} [{m}]", self.function),
            None => self.function.clone(),
        }
    }

    /// The subsystem of the frame's own file; a BPF program's (kallsyms lists them as
    /// the module `[bpf]`) is BPF.
    pub fn subsystem(&self) -> &'static str {
        self.own_subsystem().unwrap_or(rules::OTHER)
    }

    fn own_subsystem(&self) -> Option<&'static str> {
        if self.module.as_deref() == Some(BPF_PROGRAMS) {
            return Some(BPF);
        }
        self.file.as_deref().and_then(rules::subsystem_of_path)
    }
}

/// The module name /proc/kallsyms gives BPF programs (`bpf_prog_<tag>_<name> [bpf]`).
const BPF_PROGRAMS: &str = "bpf";
/// Their subsystem, as kernel/bpf/ is named.
const BPF: &str = "BPF";

/// The profile in a report.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Samples a second on each CPU.
    pub hz: u64,
    /// The clock sampled: `cycles` (the PMU) or `cpu-clock`.
    pub clock: &'static str,
    /// Samples of traced tasks in the kernel with their stack: what the shares divide.
    pub samples: u64,
    /// Samples of traced tasks in user space.
    pub user_samples: u64,
    /// Kernel samples whose stack could not be kept (see `lost` for why).
    pub lost: u64,
    /// The kernel time the samples stand for: samples / hz, in CPU seconds.
    pub seconds: f64,
    /// Busiest first.
    pub subsystems: Vec<ProfileSubsystem>,
    /// Every stack with its samples, outermost frame first.
    #[serde(skip)]
    pub stacks: Vec<Stack>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileSubsystem {
    pub name: &'static str,
    pub samples: u64,
    /// Of the profile's `samples`, in percent.
    pub share: f64,
    pub seconds: f64,
    /// Busiest first.
    pub files: Vec<ProfileFile>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileFile {
    /// The source file; null where no function table entry named one.
    pub file: Option<String>,
    pub samples: u64,
    /// Busiest first.
    pub functions: Vec<ProfileFunction>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProfileFunction {
    /// `function`, or `function [module]`.
    pub name: String,
    pub samples: u64,
}

/// One distinct kernel stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Outermost first.
    pub frames: Vec<Frame>,
    pub samples: u64,
}

/// The frame of `frames` (innermost first) a sample counts for, by the rule above (a
/// BPF program counts as work of BPF).
pub fn credited(frames: &[Frame]) -> Option<(&Frame, &'static str)> {
    let working = frames.iter().find_map(|f| {
        if f.file.as_deref().is_some_and(rules::is_shared_helper) {
            return None;
        }
        f.own_subsystem().map(|s| (f, s))
    });
    working.or_else(|| {
        frames
            .iter()
            .find(|f| f.file.is_some())
            .map(|f| (f, f.subsystem()))
    })
}

/// Names every stack of `snap` with `name` and credits its samples.
pub fn build(snap: &ProfileSnapshot, name: &dyn Fn(u64) -> Frame) -> Profile {
    let lost = snap
        .kernel
        .saturating_sub(snap.stacks.values().map(|(_, n)| n).sum());
    let mut names: BTreeMap<u64, Frame> = BTreeMap::new();
    // subsystem → file → function → samples
    type Functions = BTreeMap<String, u64>;
    let mut credit: BTreeMap<&'static str, BTreeMap<Option<String>, Functions>> = BTreeMap::new();
    let mut stacks = Vec::new();
    for (ips, samples) in snap.stacks.values() {
        let frames: Vec<Frame> = ips
            .iter()
            .map(|&ip| names.entry(ip).or_insert_with(|| name(ip)).clone())
            .collect();
        let (subsystem, file, function) = match credited(&frames) {
            Some((f, s)) => (s, f.file.clone(), f.label()),
            None => (
                rules::OTHER,
                None,
                frames.first().map_or_else(|| "?".into(), Frame::label),
            ),
        };
        *credit
            .entry(subsystem)
            .or_default()
            .entry(file)
            .or_default()
            .entry(function)
            .or_default() += samples;
        let mut frames = frames;
        frames.reverse();
        stacks.push(Stack {
            frames,
            samples: *samples,
        });
    }
    let samples: u64 = stacks.iter().map(|s| s.samples).sum();
    let seconds = |n: u64| n as f64 / snap.hz.max(1) as f64;
    let mut subsystems: Vec<ProfileSubsystem> = credit
        .into_iter()
        .map(|(name, files)| {
            let mut files: Vec<ProfileFile> = files
                .into_iter()
                .map(|(file, functions)| {
                    let mut functions: Vec<ProfileFunction> = functions
                        .into_iter()
                        .map(|(name, samples)| ProfileFunction { name, samples })
                        .collect();
                    functions.sort_by(|a, b| b.samples.cmp(&a.samples).then(a.name.cmp(&b.name)));
                    ProfileFile {
                        file,
                        samples: functions.iter().map(|f| f.samples).sum(),
                        functions,
                    }
                })
                .collect();
            files.sort_by(|a, b| b.samples.cmp(&a.samples).then(a.file.cmp(&b.file)));
            let n = files.iter().map(|f| f.samples).sum();
            ProfileSubsystem {
                name,
                samples: n,
                share: 100.0 * n as f64 / samples.max(1) as f64,
                seconds: seconds(n),
                files,
            }
        })
        .collect();
    subsystems.sort_by(|a, b| b.samples.cmp(&a.samples).then(a.name.cmp(b.name)));
    stacks.sort_by_key(|s| std::cmp::Reverse(s.samples));
    Profile {
        hz: snap.hz,
        clock: snap.clock.map_or("", |c| c.name()),
        samples,
        user_samples: snap.user,
        lost,
        seconds: seconds(samples),
        subsystems,
        stacks,
    }
}

/// Names kernel addresses with the kernel's symbols and `knowledge`'s function table
/// (without it, where it cannot be had, the frames have no files and wl says why).
pub fn namer<'a>(knowledge: &'a Knowledge, kallsyms: &'a Kallsyms) -> impl Fn(u64) -> Frame + 'a {
    let functions = knowledge
        .functions()
        .map_err(|e| {
            // Said once, not at every interval's report.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!("wl: profile frames are named without their source files: {e:#}")
            });
        })
        .ok();
    move |ip| match functions.and_then(|f| syscalls::functions::frame(kallsyms, f, ip)) {
        Some(f) => Frame {
            function: f.function.to_owned(),
            module: f.module.map(str::to_owned),
            file: f.file.map(str::to_owned),
        },
        None => match kallsyms.containing(ip) {
            Some((_, s)) => Frame {
                function: s.name.clone(),
                module: s.module.clone(),
                file: None,
            },
            None => Frame {
                function: format!("{ip:#x}"),
                module: None,
                file: None,
            },
        },
    }
}

/// The frame user-space samples stand under in folded stacks and the flame graph.
pub const USER_SPACE: &str = "[user space]";

/// `--format folded`: one line per stack, `outermost;...;innermost samples`, as
/// flamegraph.pl, inferno and speedscope read it; the samples in user space as one
/// line of their own. Lines in order, so that equal profiles give equal text.
pub fn folded(profile: &Profile) -> String {
    let mut lines: Vec<String> = profile
        .stacks
        .iter()
        .map(|s| {
            let path: Vec<String> = s.frames.iter().map(|f| fold_safe(&f.label())).collect();
            format!("{} {}", path.join(";"), s.samples)
        })
        .collect();
    if profile.user_samples > 0 {
        lines.push(format!("{USER_SPACE} {}", profile.user_samples));
    }
    lines.sort();
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// A frame's name with the folded format's separator taken out (kernel symbols have
/// none; a module name could).
fn fold_safe(label: &str) -> String {
    label.replace(';', ":")
}

/// One line of the table's "kernel time by subsystem": a subsystem, one of its files,
/// or one of a file's functions.
pub enum Line<'a> {
    Subsystem(&'a ProfileSubsystem),
    File(&'a ProfileFile),
    Function(&'a ProfileFunction),
}

impl Line<'_> {
    pub fn samples(&self) -> u64 {
        match self {
            Line::Subsystem(s) => s.samples,
            Line::File(f) => f.samples,
            Line::Function(f) => f.samples,
        }
    }
}

/// The line above the table: what was sampled, and what the samples stand for.
pub fn heading(p: &Profile) -> String {
    let mut line = format!(
        "kernel time by subsystem: {} samples at {} Hz ({}), about {:.3} s of CPU in the kernel",
        p.samples, p.hz, p.clock, p.seconds
    );
    let all = p.samples + p.user_samples;
    if all > 0 {
        line += &format!(
            "; {:.1}% of the traced tasks' samples were in the kernel",
            100.0 * p.samples as f64 / all as f64
        );
    }
    if p.lost > 0 {
        line += &format!("; {} kernel samples lost (see lost)", p.lost);
    }
    line
}

/// How many files of each subsystem, and functions of each file, the tables show.
pub const TOP: usize = 3;

/// The table's lines: each subsystem, its busiest files, and their busiest functions.
pub fn lines(profile: &Profile) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    for s in &profile.subsystems {
        lines.push(Line::Subsystem(s));
        for f in s.files.iter().take(TOP) {
            lines.push(Line::File(f));
            lines.extend(f.functions.iter().take(TOP).map(Line::Function));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::profile::Clock;

    /// A symbolizer over a fixed table: (address, function, module, file).
    fn names(table: &'static [(u64, &str, Option<&str>, Option<&str>)]) -> impl Fn(u64) -> Frame {
        move |ip| {
            let (_, f, m, file) = table
                .iter()
                .find(|t| t.0 == ip)
                .copied()
                .unwrap_or((ip, "?", None, None));
            Frame {
                function: f.into(),
                module: m.map(str::to_owned),
                file: file.map(str::to_owned),
            }
        }
    }

    const TABLE: &[(u64, &str, Option<&str>, Option<&str>)] = &[
        (
            1,
            "entry_SYSCALL_64",
            None,
            Some("arch/x86/entry/entry_64.S"),
        ),
        (2, "do_syscall_64", None, Some("arch/x86/entry/common.c")),
        (3, "ksys_read", None, Some("fs/read_write.c")),
        (4, "pipe_read", None, Some("fs/pipe.c")),
        (5, "_copy_to_iter", None, Some("lib/iov_iter.c")),
        (
            6,
            "asm_exc_page_fault",
            None,
            Some("arch/x86/entry/entry_64.S"),
        ),
        (7, "handle_mm_fault", None, Some("mm/memory.c")),
        (
            8,
            "clear_page_erms",
            None,
            Some("arch/x86/lib/clear_page_64.S"),
        ),
        (9, "_raw_spin_lock", None, Some("kernel/locking/spinlock.c")),
        (10, "virtnet_poll", Some("virtio_net"), None),
    ];

    fn snap(stacks: &[(&[u64], u64)], user: u64, lost: u64) -> ProfileSnapshot {
        ProfileSnapshot {
            hz: 100,
            clock: Some(Clock::CpuClock),
            user,
            kernel: stacks.iter().map(|s| s.1).sum::<u64>() + lost,
            stacks: stacks
                .iter()
                .enumerate()
                .map(|(i, (ips, n))| (i as u32, (ips.to_vec(), *n)))
                .collect(),
        }
    }

    #[test]
    fn samples_count_for_the_first_frame_that_does_the_work() {
        // Innermost first, as the kernel gives them.
        let s = snap(
            &[
                (&[5, 4, 3, 2, 1], 30),
                (&[8, 7, 6], 60),
                (&[9, 2, 1], 5),
                (&[10], 5),
            ],
            40,
            2,
        );
        let p = build(&s, &names(TABLE));
        assert_eq!((p.samples, p.user_samples, p.lost), (100, 40, 2));
        assert_eq!(p.seconds, 1.0);
        let got: Vec<(&str, u64, f64)> = p
            .subsystems
            .iter()
            .map(|s| (s.name, s.samples, s.share))
            .collect();
        // A lock taken by entry code alone counts for its own file (kernel/ is Process
        // Mgmt.); a module function no table names, for "Other".
        assert_eq!(
            got,
            [
                ("Memory Mgmt.", 60, 60.0),
                ("Filesystem", 30, 30.0),
                ("Other", 5, 5.0),
                ("Process Mgmt.", 5, 5.0)
            ]
        );
        let fs = &p.subsystems[1].files[0];
        assert_eq!(
            (fs.file.as_deref(), fs.functions[0].name.as_str()),
            (Some("fs/pipe.c"), "pipe_read")
        );
        let mm = &p.subsystems[0].files[0];
        assert_eq!(
            (mm.file.as_deref(), mm.functions[0].name.as_str()),
            (Some("mm/memory.c"), "handle_mm_fault")
        );
        let first = |i: usize| {
            let f = &p.subsystems[i].files[0];
            (f.file.as_deref(), f.functions[0].name.as_str())
        };
        assert_eq!(first(2), (None, "virtnet_poll [virtio_net]"));
        assert_eq!(
            first(3),
            (Some("kernel/locking/spinlock.c"), "_raw_spin_lock")
        );
    }

    #[test]
    fn folded_stacks_keep_every_frame_outermost_first() {
        let s = snap(&[(&[5, 4, 3, 2, 1], 30), (&[10], 5)], 7, 0);
        let p = build(&s, &names(TABLE));
        assert_eq!(
            folded(&p),
            "[user space] 7\n\
             entry_SYSCALL_64;do_syscall_64;ksys_read;pipe_read;_copy_to_iter 30\n\
             virtnet_poll [virtio_net] 5\n"
        );
    }
}
