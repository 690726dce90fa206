//! Reading what the kernel side gathered: the per-syscall maps summed over CPUs, and
//! per mode the per-task rows (`--by`), the object rows, and the per-cgroup maps
//! (`serve`); each reading is cumulative, and callers take differences.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aya::maps::{Array, HashMap, MapData, PerCpuArray, PerCpuHashMap};
use wl_common::{
    Abi, BlockCounts, BlockKey, CGROUP_LAST_ENTRIES, CgroupEntry, CgroupLast, CgroupSyscallCounts,
    CgroupSyscallKey, Counts, ErrnoKey, FAULT_AREA_ENTRIES, FaultArea, FaultKey, IO_URING_OPS,
    IoUringLast, LatencyHistogram, Lost, ObjectKey, STATS_ENTRIES, SyscallStats, TaskCache,
    TaskExit, TaskKey, names, object, slot_syscall,
};

use super::{
    CgroupSnapshot, Collector, IoUringSnapshot, Snapshot, SyscallCounts, TaskSnapshot, map,
};

impl Collector {
    /// The per-task counts and exits (`--by`).
    fn tasks(&self) -> Result<TaskSnapshot> {
        let counts: HashMap<&MapData, TaskKey, Counts> = map(&self.ebpf, names::TASK_MAP)?;
        let others: Array<&MapData, Counts> = map(&self.ebpf, names::TASK_OTHERS_MAP)?;
        let exits: HashMap<&MapData, u32, TaskExit> = map(&self.ebpf, names::TASK_EXIT_MAP)?;
        let mut snap = TaskSnapshot {
            by: self.by.expect("asked for with --by"),
            counts: Vec::new(),
            exits: BTreeMap::new(),
            events: Vec::new(),
            io_uring: Vec::new(),
        };
        if self.events {
            snap.events = self.entries(names::TASK_EVENTS_MAP)?;
            snap.io_uring = self.entries(names::TASK_IO_URING_MAP)?;
        }
        let mut push = |id: u32, slot: u32, c: Counts| {
            let (abi, nr) = slot_syscall(slot);
            let abi = Abi::from_index(abi).expect("slot within the table");
            snap.counts.push((id, abi, nr, c));
        };
        for entry in counts.iter() {
            let (key, c) = entry.context("cannot read the per-task map")?;
            push(key.id, key.slot, c);
        }
        // What each CPU's cache gathered since it last wrote to the map.
        let cache: PerCpuArray<&MapData, TaskCache> = map(&self.ebpf, names::TASK_CACHE_MAP)?;
        for c in cache
            .get(&0, 0)
            .context("cannot read the per-task cache")?
            .iter()
            .filter(|c| c.key.id != 0)
        {
            push(c.key.id, c.key.slot, c.counts);
        }
        for slot in 0..STATS_ENTRIES {
            let c = others
                .get(&slot, 0)
                .context("cannot read the per-task map")?;
            if c.calls + c.errors > 0 {
                push(0, slot, c);
            }
        }
        for entry in exits.iter() {
            let (id, exit) = entry.context("cannot read the map of exited tasks")?;
            snap.exits.insert(id, exit);
        }
        Ok(snap)
    }

    /// Calls per (syscall, object, command), and per syscall those that did not fit.
    fn objects(&self) -> Result<Vec<(ObjectKey, Counts)>> {
        let mut out =
            self.object_rows(names::OBJECT_MAP, names::OBJECT_OTHERS_MAP, STATS_ENTRIES)?;
        out.sort_by_key(|(k, _)| *k);
        Ok(out)
    }

    /// Counts per object key from the shared map `rows`, and per slot (below `slots`)
    /// those that did not fit, from the array `others`, as keys of kind `OTHERS`.
    fn object_rows(
        &self,
        rows: &str,
        others: &str,
        slots: u32,
    ) -> Result<Vec<(ObjectKey, Counts)>> {
        let mut out: Vec<(ObjectKey, Counts)> = self.entries(rows)?;
        let others: Array<&MapData, Counts> = map(&self.ebpf, others)?;
        for slot in 0..slots {
            let c = others
                .get(&slot, 0)
                .with_context(|| format!("cannot read map {rows}"))?;
            if c.calls + c.errors > 0 {
                let key = ObjectKey {
                    slot,
                    kind: object::OTHERS,
                    ..ObjectKey::default()
                };
                out.push((key, c));
            }
        }
        Ok(out)
    }

    /// Every (key, value) of the shared hash map `name`.
    fn entries<K: aya::Pod, V: aya::Pod>(&self, name: &str) -> Result<Vec<(K, V)>> {
        let m: HashMap<&MapData, K, V> = map(&self.ebpf, name)?;
        m.iter()
            .map(|e| e.with_context(|| format!("cannot read map {name}")))
            .collect()
    }

    /// The errno map `name` by slot: slot → errno → failures.
    fn errnos_by_slot(&self, name: &str) -> Result<BTreeMap<u32, BTreeMap<u32, u64>>> {
        let mut by_slot: BTreeMap<u32, BTreeMap<u32, u64>> = BTreeMap::new();
        for (key, n) in self.entries::<ErrnoKey, u64>(name)? {
            *by_slot
                .entry(key.slot)
                .or_default()
                .entry(key.errno)
                .or_default() += n;
        }
        Ok(by_slot)
    }

    /// Reads the per-cgroup maps (`wl-user serve`). The cgroups are read first: one
    /// found removed has its final counts in what follows.
    pub fn cgroup_snapshot(&self) -> Result<CgroupSnapshot> {
        let mut snap = CgroupSnapshot {
            cgroups: self.cgroups()?,
            ..CgroupSnapshot::default()
        };
        // The CPUs' caches before the map is read, to tell which pairs left a cache
        // while it was read (see `unsettled` below).
        let cached_before = self.cgroup_cache()?;
        snap.counts = self.entries(names::CGROUP_STATS_MAP)?;
        snap.errnos = self.entries(names::CGROUP_ERRNO_MAP)?;
        snap.events = self.entries(names::CGROUP_EVENTS_MAP)?;
        snap.io_uring = self.entries(names::CGROUP_IO_URING_MAP)?;
        let others: Array<&MapData, CgroupSyscallCounts> =
            map(&self.ebpf, names::CGROUP_OTHERS_MAP)?;
        for slot in 0..STATS_ENTRIES {
            let c = others
                .get(&slot, 0)
                .context("cannot read the per-cgroup map")?;
            if c.counts.calls + c.counts.errors > 0 {
                let key = CgroupSyscallKey {
                    cgroup_id: 0,
                    slot,
                    _pad: 0,
                };
                snap.counts.push((key, c));
            }
        }
        // What each CPU's last pair gathered since it last wrote to the map, added to
        // the series it counts in (see `CgroupLast`); one user space has forgotten
        // (a removed cgroup, retired with these counts) is left out.
        snap.lost = self.lost()?;
        let cached = self.cgroup_cache()?;
        // A pair whose cache entry changed while the map was read may have been passed
        // to the map before or after its entry was read: its cgroup's counts in this
        // reading may miss it, so they are not final.
        snap.unsettled = cached_before
            .iter()
            .zip(&cached)
            .filter(|(b, a)| {
                b.valid != 0
                    && (a.valid != b.valid
                        || a.cgroup_id != b.cgroup_id
                        || a.pending.counts != b.pending.counts)
            })
            .map(|(b, _)| b.cgroup_id)
            .collect();
        for l in cached.iter().filter(|l| l.valid != 0) {
            let series = snap.counts.iter_mut().find(|(k, _)| *k == l.counted_as);
            match (series, l.counted_as.cgroup_id) {
                (Some((_, c)), _) => *c += &l.pending,
                (None, 0) => snap.counts.push((l.counted_as, l.pending)),
                (None, _) => {}
            }
            // Calls under "others" are lost ones, counted as such when they leave.
            if let Some(why) = Lost::ALL
                .iter()
                .find(|w| **w as u32 == l.lost && l.lost != 0)
            {
                *snap.lost.entry(why.name()).or_default() += l.pending.counts.calls;
            }
        }
        Ok(snap)
    }

    /// Every entry of every CPU's cache of pairs (`wl-user serve`, see `CgroupLast`),
    /// in the same order at each reading; those holding a pair are `valid`.
    fn cgroup_cache(&self) -> Result<Vec<CgroupLast>> {
        let last: PerCpuArray<&MapData, CgroupLast> = map(&self.ebpf, names::CGROUP_LAST_MAP)?;
        let mut cached = Vec::new();
        for i in 0..CGROUP_LAST_ENTRIES {
            let per_cpu = last
                .get(&i, 0)
                .context("cannot read the per-cgroup cache")?;
            cached.extend(per_cpu.iter().copied());
        }
        Ok(cached)
    }

    /// The counted cgroups (`wl-user serve`): `Some(path)` for those removed.
    pub fn cgroups(&self) -> Result<BTreeMap<u64, Option<String>>> {
        let cgroups: HashMap<&MapData, u64, CgroupEntry> = map(&self.ebpf, names::CGROUP_MAP)?;
        let mut all = BTreeMap::new();
        for entry in cgroups.iter() {
            let (id, e) = entry.context("cannot read the cgroup map")?;
            let gone = (e.gone != 0).then(|| {
                let len = (e.path_len as usize).saturating_sub(1).min(e.path.len());
                crate::cgroup::path_label(&e.path[..len])
            });
            all.insert(id, gone);
        }
        Ok(all)
    }

    /// The events map summed over CPUs: the slots where something happened.
    fn events(&self) -> Result<Vec<(u32, Counts)>> {
        let events: PerCpuArray<&MapData, Counts> = map(&self.ebpf, names::EVENT_MAP)?;
        let mut out = Vec::new();
        for slot in 0..wl_common::event::SLOTS {
            let c: Counts = events
                .get(&slot, 0)
                .context("cannot read the events map")?
                .iter()
                .copied()
                .sum();
            if c.calls > 0 || c.total_ns > 0 {
                out.push((slot, c));
            }
        }
        Ok(out)
    }

    /// The block map summed over CPUs.
    fn block(&self) -> Result<Vec<(BlockKey, BlockCounts)>> {
        let block: PerCpuHashMap<&MapData, BlockKey, BlockCounts> =
            map(&self.ebpf, names::BLOCK_MAP)?;
        let mut out = Vec::new();
        for entry in block.iter() {
            let (key, per_cpu) = entry.context("cannot read the block I/O map")?;
            let mut sum = BlockCounts::default();
            for &c in per_cpu.iter() {
                sum += c;
            }
            out.push((key, sum));
        }
        out.sort_by_key(|&(k, _)| k);
        Ok(out)
    }

    /// The fault map summed over CPUs, with what each CPU's area cache holds yet. The
    /// map is read first: counts the cache passes to it meanwhile are missed by this
    /// reading, not counted twice, and the next reading has them.
    fn faults(&self) -> Result<Vec<(FaultKey, u64)>> {
        let faults: PerCpuHashMap<&MapData, FaultKey, u64> = map(&self.ebpf, names::FAULT_MAP)?;
        let mut out: BTreeMap<FaultKey, u64> = BTreeMap::new();
        for entry in faults.iter() {
            let (key, per_cpu) = entry.context("cannot read the page-fault map")?;
            *out.entry(key).or_default() += per_cpu.iter().sum::<u64>();
        }
        let areas: PerCpuArray<&MapData, FaultArea> = map(&self.ebpf, names::FAULT_AREA_MAP)?;
        for i in 0..FAULT_AREA_ENTRIES {
            let per_cpu = areas
                .get(&i, 0)
                .context("cannot read the page-fault area cache")?;
            for area in per_cpu.iter() {
                for (outcome, &n) in [FaultKey::MINOR, FaultKey::MAJOR].iter().zip(&area.pending) {
                    if n > 0 {
                        let key = FaultKey {
                            outcome: *outcome,
                            ..area.key
                        };
                        *out.entry(key).or_default() += n;
                    }
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    /// The io_uring maps: submissions and completions summed over CPUs.
    fn io_uring(&self) -> Result<IoUringSnapshot> {
        let mut snap = IoUringSnapshot::default();
        let submitted: PerCpuArray<&MapData, u64> = map(&self.ebpf, names::IO_URING_SUBMITTED_MAP)?;
        for op in 0..IO_URING_OPS {
            let n: u64 = submitted
                .get(&op, 0)
                .context("cannot read the io_uring submission map")?
                .iter()
                .sum();
            if n > 0 {
                snap.submitted.insert(op, n);
            }
        }
        snap.completed = self.object_rows(
            names::IO_URING_STATS_MAP,
            names::IO_URING_OTHERS_MAP,
            IO_URING_OPS,
        )?;
        // What each CPU's last (opcode, object) gathered since it last wrote to the
        // map, read after the map (see `IoUringLast`).
        let last: PerCpuArray<&MapData, IoUringLast> = map(&self.ebpf, names::IO_URING_LAST_MAP)?;
        for l in last
            .get(&0, 0)
            .context("cannot read the io_uring completion cache")?
            .iter()
            .filter(|l| l.counts.calls != 0)
        {
            match snap.completed.iter_mut().find(|(k, _)| *k == l.key) {
                Some((_, c)) => *c += l.counts,
                None => snap.completed.push((l.key, l.counts)),
            }
        }
        let latency: Array<&MapData, LatencyHistogram> =
            map(&self.ebpf, names::IO_URING_LATENCY_MAP)?;
        for op in 0..IO_URING_OPS {
            let hist = latency
                .get(&op, 0)
                .context("cannot read the io_uring latency map")?
                .buckets;
            if hist.iter().any(|&n| n > 0) {
                snap.latency.insert(op, hist);
            }
        }
        snap.errnos = self.errnos_by_slot(names::IO_URING_ERRNO_MAP)?;
        Ok(snap)
    }

    fn lost(&self) -> Result<BTreeMap<&'static str, u64>> {
        let lost: PerCpuArray<&MapData, u64> = map(&self.ebpf, names::LOST_MAP)?;
        let mut all = BTreeMap::new();
        for &kind in Lost::ALL {
            let n: u64 = lost.get(&(kind as u32), 0)?.iter().sum();
            all.insert(kind.name(), n);
        }
        Ok(all)
    }

    /// Reads the maps, summing the per-CPU ones.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let stats: PerCpuArray<&MapData, SyscallStats> = map(&self.ebpf, names::STATS_MAP)?;
        let latency: Array<&MapData, LatencyHistogram> = map(&self.ebpf, names::LATENCY_MAP)?;
        let mut by_slot = self.errnos_by_slot(names::ERRNO_MAP)?;

        let mut snapshot = Snapshot {
            latency: self.latency,
            syscalls: Vec::new(),
            lost: BTreeMap::new(),
            denied: Vec::new(),
            tasks: None,
            objects: None,
            only: self.only.clone(),
            events: None,
            block: None,
            faults: None,
            io_uring: None,
            profile: None,
        };
        for slot in 0..STATS_ENTRIES {
            let per_cpu = stats
                .get(&slot, 0)
                .context("cannot read the statistics map")?;
            let counts: Counts = per_cpu.iter().map(|s| s.counts).sum();
            if counts.calls == 0 {
                continue;
            }
            let latency_log2 = latency
                .get(&slot, 0)
                .context("cannot read the latency map")?
                .buckets;
            let (abi, nr) = slot_syscall(slot);
            snapshot.syscalls.push(SyscallCounts {
                abi: Abi::from_index(abi).expect("slot within the table"),
                nr,
                counts,
                // Every timed call is in exactly one bucket.
                timed: latency_log2.iter().sum(),
                min_ns: per_cpu.iter().filter_map(|s| s.min_ns()).min().unwrap_or(0),
                max_ns: per_cpu.iter().map(|s| s.max_ns).max().unwrap_or(0),
                latency_log2,
                errnos: by_slot.remove(&slot).unwrap_or_default(),
            });
        }
        if self.count_denied {
            let denied: Array<&MapData, u64> = map(&self.ebpf, names::DENIED_MAP)?;
            for slot in 0..STATS_ENTRIES {
                let n = denied
                    .get(&slot, 0)
                    .context("cannot read the denied-calls map")?;
                if n > 0 {
                    let (abi, nr) = slot_syscall(slot);
                    let abi = Abi::from_index(abi).expect("slot within the table");
                    snapshot.denied.push((abi, nr, n));
                }
            }
        }
        if self.by.is_some() {
            snapshot.tasks = Some(self.tasks()?);
        }
        if self.objects {
            snapshot.objects = Some(self.objects()?);
        }
        if self.events {
            snapshot.events = Some(self.events()?);
            snapshot.block = Some(self.block()?);
        }
        if self.io_uring {
            snapshot.io_uring = Some(self.io_uring()?);
        }
        if self.faults {
            snapshot.faults = Some(self.faults()?);
        }
        if let Some(sampling) = &self.profile {
            snapshot.profile = Some(self.profile(sampling)?);
        }
        snapshot.lost = self.lost()?;
        Ok(snapshot)
    }
}
