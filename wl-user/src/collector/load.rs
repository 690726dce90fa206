//! Loading the programs into the kernel: the verifier's work, most of the time wl takes
//! to start, runs on as many threads as there are CPUs (up to four). Each program is
//! checked on its own, so the order does not matter; the heaviest are listed first so
//! that the threads finish together.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Mutex,
};

use anyhow::{Result, anyhow};
use aya::{
    Btf, Ebpf,
    programs::{BtfTracePoint, PerfEvent, Program},
};

/// How a program is loaded.
#[derive(Clone, Copy)]
pub enum Kind<'a> {
    /// A BTF tracepoint, by its names in kernel releases, newest first: the first the
    /// kernel has is the one it loads for.
    Tracepoint(&'a [&'static str]),
    /// A perf event program.
    PerfEvent,
}

/// One program to load.
#[derive(Clone, Copy)]
pub struct Job<'a> {
    pub prog: &'static str,
    pub kind: Kind<'a>,
}

/// What loading each program gave: for a tracepoint the name it loaded for, or why it
/// could not be loaded (a one-line error).
pub type Loaded = BTreeMap<&'static str, Result<Option<&'static str>>>;

/// Loads the programs of `jobs` in parallel.
pub fn all(ebpf: &mut Ebpf, vmlinux: &Btf, jobs: &[Job]) -> Loaded {
    let mut results = Loaded::new();
    let mut programs: BTreeMap<&str, &mut Program> = ebpf.programs_mut().collect();
    let mut queue = VecDeque::new();
    for job in jobs {
        match programs.remove(job.prog) {
            Some(p) => queue.push_back((*job, p)),
            None => {
                let missing = anyhow!("the eBPF object has no program {}", job.prog);
                results.insert(job.prog, Err(missing));
            }
        }
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 4)
        .min(queue.len().max(1));
    let queue = Mutex::new(queue);
    let results = Mutex::new(results);
    let work = || {
        loop {
            let next = queue
                .lock()
                .expect("no thread panics holding it")
                .pop_front();
            let Some((job, program)) = next else {
                break;
            };
            let loaded = one(job, program, vmlinux);
            results
                .lock()
                .expect("no thread panics holding it")
                .insert(job.prog, loaded);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    results.into_inner().expect("no thread panicked")
}

fn one(job: Job<'_>, program: &mut Program, vmlinux: &Btf) -> Result<Option<&'static str>> {
    match job.kind {
        Kind::Tracepoint(names) => {
            let p: &mut BtfTracePoint = program.try_into()?;
            // An unknown name fails before the verifier runs; the error is the newest
            // name's.
            let mut first = None;
            for &tp in names {
                match p.load(tp, vmlinux) {
                    Ok(()) => return Ok(Some(tp)),
                    Err(e) => {
                        first.get_or_insert(e);
                    }
                }
            }
            Err(super::rejected(
                job.prog,
                &first.expect("every tracepoint has a name"),
            ))
        }
        Kind::PerfEvent => {
            let p: &mut PerfEvent = program.try_into()?;
            p.load().map_err(|e| super::rejected(job.prog, &e))?;
            Ok(None)
        }
    }
}
