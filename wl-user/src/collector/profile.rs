//! `--profile`: the sampling clock the kernel side's `profile` program runs on, and
//! reading the kernel stacks it counted.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf,
    maps::{Array, MapData, PerCpuArray, StackTraceMap},
    programs::{
        PerfEvent,
        perf_event::{HardwareEvent, PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent},
    },
    util::online_cpus,
};
use wl_common::{PROFILE_STACK_DEPTH, names, profile_mode};

use super::{Collector, map};

/// The default sampling rate: a prime near 100 per second, so the samples do not keep
/// step with work the kernel does on a timer (HZ 100, 250, 1000).
pub const DEFAULT_HZ: u64 = 99;

/// The clock samples were taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The PMU's cycle counter: samples inside code that runs with interrupts off too.
    Cycles,
    /// The kernel's cpu-clock timer (where there is no PMU, as in most VMs).
    CpuClock,
}

impl Clock {
    pub fn name(self) -> &'static str {
        match self {
            Clock::Cycles => "cycles",
            Clock::CpuClock => "cpu-clock",
        }
    }
}

/// What the profile gathered so far; cumulative, like every reading.
#[derive(Debug, Clone, Default)]
pub struct ProfileSnapshot {
    pub hz: u64,
    pub clock: Option<Clock>,
    /// Samples of traced tasks running in user space.
    pub user: u64,
    /// Samples of traced tasks in the kernel, those lost included.
    pub kernel: u64,
    /// Kernel stacks by id: the frames' addresses innermost first, and the samples.
    pub stacks: BTreeMap<u32, (Vec<u64>, u64)>,
}

/// The most samples a second perf allows on this machine.
fn max_sample_rate() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_max_sample_rate")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Checks `hz` against what the kernel allows, before anything is loaded.
pub fn check_rate(hz: u64) -> Result<()> {
    if hz == 0 {
        bail!(
            "--profile=0: the rate is samples per second per CPU, at least 1 (default {DEFAULT_HZ})"
        );
    }
    if let Some(max) = max_sample_rate()
        && hz > max
    {
        bail!(
            "--profile={hz}: this kernel samples at most {max} times a second \
             (kernel.perf_event_max_sample_rate); ask for less, e.g. --profile={DEFAULT_HZ}"
        );
    }
    Ok(())
}

/// Checks that the kernel lets a stack map hold the frames wl keeps of a stack
/// ([`PROFILE_STACK_DEPTH`]): it refuses to make one deeper than
/// `kernel.perf_event_max_stack`, and wl's eBPF object has one whether or not stacks
/// are sampled.
pub fn check_stack_depth() -> Result<()> {
    let max: Option<usize> = std::fs::read_to_string("/proc/sys/kernel/perf_event_max_stack")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    match max {
        Some(max) if max < PROFILE_STACK_DEPTH => bail!(
            "kernel.perf_event_max_stack is {max}, below the {PROFILE_STACK_DEPTH} frames wl's \
             stack map holds: raise it (sysctl kernel.perf_event_max_stack={PROFILE_STACK_DEPTH}, \
             the kernel's default)"
        ),
        _ => Ok(()),
    }
}

/// `--profile` while it runs: the rate, the clock, and the stacks read so far by id.
pub struct Sampling {
    pub hz: u64,
    pub clock: Clock,
    /// A stack id keeps its stack for the whole run, so each is read once. Reading one
    /// takes it out of its bucket for the copy, and a new stack hashing there meanwhile
    /// would be given the same id and then dropped: reading each once keeps that
    /// window to the first reading of each stack.
    frames: std::sync::Mutex<BTreeMap<u32, Vec<u64>>>,
}

impl Sampling {
    pub fn new(hz: u64, clock: Clock) -> Sampling {
        Sampling {
            hz,
            clock,
            frames: Default::default(),
        }
    }
}

/// Attaches the loaded `profile` program to a sampling clock of every online CPU: the
/// cycle counter where the PMU has one, else cpu-clock.
pub fn attach(ebpf: &mut Ebpf, hz: u64) -> Result<Clock> {
    let cpus = online_cpus().map_err(|(path, e)| anyhow::anyhow!("cannot read {path}: {e}"))?;
    let p: &mut PerfEvent = ebpf
        .program_mut(names::PROG_PROFILE)
        .context("the eBPF object has no profile program")?
        .try_into()?;
    let mut open = |config: PerfEventConfig| -> Result<Vec<_>> {
        let mut links = Vec::new();
        for &cpu in &cpus {
            match p.attach(
                config,
                PerfEventScope::AllProcessesOneCpu { cpu },
                SamplePolicy::Frequency(hz),
                false,
            ) {
                Ok(link) => links.push(link),
                Err(e) => {
                    for link in links {
                        let _ = p.detach(link);
                    }
                    return Err(e).with_context(|| format!("cannot sample CPU {cpu}"));
                }
            }
        }
        Ok(links)
    };
    if open(PerfEventConfig::Hardware(HardwareEvent::CpuCycles)).is_ok() {
        return Ok(Clock::Cycles);
    }
    open(PerfEventConfig::Software(SoftwareEvent::CpuClock))
        .context("cannot sample the CPUs' clock for --profile")?;
    Ok(Clock::CpuClock)
}

impl Collector {
    /// The samples and their kernel stacks so far. The counts per stack are read before
    /// the counts per mode, which the program adds to after: the kernel samples are
    /// then never fewer than those in stacks, and none shows as lost that was not.
    pub(super) fn profile(&self, sampling: &Sampling) -> Result<ProfileSnapshot> {
        let samples: Array<&MapData, u64> = map(&self.ebpf, names::PROFILE_SAMPLE_MAP)?;
        let stack_map: StackTraceMap<&MapData> = map(&self.ebpf, names::PROFILE_STACK_MAP)?;
        let mut known = sampling.frames.lock().unwrap_or_else(|e| e.into_inner());
        let mut stacks = BTreeMap::new();
        // The stack map's keys are the ids in use: a few thousand at most, where the
        // sample counts are an array of every possible id.
        for id in stack_map.stack_ids() {
            let id = id.context("cannot read the profile's stack ids")?;
            let n = samples
                .get(&id, 0)
                .context("cannot read the profile's sample counts")?;
            if n == 0 {
                continue;
            }
            let frames = match known.get(&id) {
                Some(frames) => frames.clone(),
                None => {
                    let stack = stack_map
                        .get(&id, 0)
                        .context("cannot read a kernel stack of the profile")?;
                    let frames: Vec<u64> = stack.frames().iter().map(|f| f.ip).collect();
                    known.insert(id, frames.clone());
                    frames
                }
            };
            stacks.insert(id, (frames, n));
        }
        let modes: PerCpuArray<&MapData, u64> = map(&self.ebpf, names::PROFILE_MODE_MAP)?;
        let mode = |m: u32| -> Result<u64> {
            Ok(modes
                .get(&m, 0)
                .context("cannot read the profile's counters")?
                .iter()
                .sum())
        };
        Ok(ProfileSnapshot {
            hz: sampling.hz,
            clock: Some(sampling.clock),
            user: mode(profile_mode::USER)?,
            kernel: mode(profile_mode::KERNEL)?,
            stacks,
        })
    }
}
