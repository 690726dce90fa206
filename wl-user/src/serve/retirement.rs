//! Removed cgroups: each is shown with its final counts for a grace period after a
//! scrape first shows it (two of the recent scrape intervals), then dropped from the
//! kernel maps, what it counted kept under its path for `--gone-ttl`, so that a series
//! (one label set) never goes backwards when a cgroup of the same path comes back.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    time::{Duration, Instant},
};

use anyhow::Result;
use wl_common::CgroupSyscallCounts;

use super::cgroups::{CgroupPaths, path_of};
use crate::collector::{CgroupSnapshot, Collector};

/// Scrape gaps remembered for the grace period of removed cgroups.
const SCRAPE_GAPS: usize = 8;

pub(super) struct State {
    pub(super) collector: Collector,
    pub(super) paths: CgroupPaths,
    /// Removed cgroups still in the maps, and when they were found removed.
    pub(super) gone_since: HashMap<u64, Instant>,
    /// Removed cgroups a GET has shown, and when it first did.
    pub(super) first_shown: HashMap<u64, Instant>,
    /// What removed cgroups counted before they left the maps, by path.
    pub(super) retired: HashMap<String, Retired>,
    /// When the last GET of `/metrics` came, and the gaps between the recent ones.
    pub(super) last_scrape: Option<Instant>,
    pub(super) gaps: VecDeque<Duration>,
}

/// The counts of the removed cgroups of one path, dropped from the maps: added to the
/// series of any cgroup with that path, so that a series (one label set) never goes
/// backwards when `systemctl restart` makes a new cgroup where the old one was.
pub(super) struct Retired {
    pub(super) syscalls: HashMap<u32, CgroupSyscallCounts>,
    /// (slot, errno) → failures.
    pub(super) errnos: HashMap<(u32, u32), u64>,
    /// The last time a cgroup with this path was in the maps: dropped `--gone-ttl`
    /// after.
    pub(super) seen: Instant,
}

impl Retired {
    pub(super) fn new(now: Instant) -> Retired {
        Retired {
            syscalls: HashMap::new(),
            errnos: HashMap::new(),
            seen: now,
        }
    }
}

impl State {
    /// Drops removed cgroups whose grace period after their first showing is over, or
    /// that no scrape has shown within `ttl`, and the retired counts of paths no cgroup
    /// has had for `ttl`.
    pub(super) fn expire_gone(&mut self, ttl: Duration) -> Result<()> {
        let state = self;
        let now = Instant::now();
        let cgroups = state.collector.cgroups()?;
        state
            .gone_since
            .retain(|id, _| cgroups.get(id).is_some_and(Option::is_some));
        state
            .first_shown
            .retain(|id, _| cgroups.get(id).is_some_and(Option::is_some));
        let grace = state.grace(ttl);
        let mut walked = false;
        let mut expired = BTreeMap::new();
        for (&id, gone) in &cgroups {
            let Some(path) = path_of(&mut state.paths, id, gone.as_deref(), &mut walked) else {
                continue;
            };
            if let Some(retired) = state.retired.get_mut(&path) {
                retired.seen = now;
            }
            if gone.is_none() {
                continue;
            }
            let since = *state.gone_since.entry(id).or_insert(now);
            let shown_long_enough = state
                .first_shown
                .get(&id)
                .is_some_and(|&t| now.duration_since(t) >= grace);
            if shown_long_enough || now.duration_since(since) >= ttl {
                expired.insert(id, path);
            }
        }
        if !expired.is_empty() {
            let snap = state.collector.cgroup_snapshot()?;
            state.retire(&expired, &snap, now)?;
        }
        state
            .retired
            .retain(|_, r| now.duration_since(r.seen) < ttl);
        Ok(())
    }

    /// Nothing seen yet: the cgroup hierarchy at `mount` is walked at the first scrape.
    pub(super) fn new(collector: Collector, mount: std::path::PathBuf) -> State {
        State {
            collector,
            paths: CgroupPaths::new(mount),
            gone_since: HashMap::new(),
            first_shown: HashMap::new(),
            retired: HashMap::new(),
            last_scrape: None,
            gaps: VecDeque::new(),
        }
    }

    /// How long a removed cgroup stays after its first showing: two of the longest gap
    /// between the recent scrapes, so that each of two servers scraping the node (an
    /// HA pair) sees its final counts; `ttl` until two scrapes have been seen.
    pub(super) fn grace(&self, ttl: Duration) -> Duration {
        self.gaps.iter().max().map_or(ttl, |g| (*g * 2).min(ttl))
    }

    pub(super) fn note_scrape(&mut self, now: Instant) {
        if let Some(last) = self.last_scrape {
            if self.gaps.len() == SCRAPE_GAPS {
                self.gaps.pop_front();
            }
            self.gaps.push_back(now.duration_since(last));
        }
        self.last_scrape = Some(now);
    }

    /// Drops removed cgroups from the maps, keeping what they counted under their
    /// paths: a later cgroup with the same path continues their series. One whose pair left
    /// a CPU's cache while `snap` was read waits for a later reading (a removed cgroup
    /// makes no more calls: its pairs only leave the caches, so one comes).
    pub(super) fn retire(
        &mut self,
        ids: &BTreeMap<u64, String>,
        snap: &CgroupSnapshot,
        now: Instant,
    ) -> Result<()> {
        let ids: BTreeMap<u64, String> = ids
            .iter()
            .filter(|(id, _)| !snap.unsettled.contains(id))
            .map(|(id, path)| (*id, path.clone()))
            .collect();
        let ids = &ids;
        if ids.is_empty() {
            return Ok(());
        }
        for (key, c) in &snap.counts {
            if let Some(path) = ids.get(&key.cgroup_id) {
                let retired = self
                    .retired
                    .entry(path.clone())
                    .or_insert_with(|| Retired::new(now));
                *retired.syscalls.entry(key.slot).or_default() += c;
            }
        }
        for (key, n) in &snap.errnos {
            if let Some(path) = ids.get(&key.cgroup_id) {
                let retired = self
                    .retired
                    .entry(path.clone())
                    .or_insert_with(|| Retired::new(now));
                *retired.errnos.entry((key.slot, key.errno)).or_default() += n;
            }
        }
        let ids: BTreeSet<u64> = ids.keys().copied().collect();
        self.collector.forget_cgroups(&ids)?;
        for id in ids {
            self.paths.forget(id);
            self.gone_since.remove(&id);
            self.first_shown.remove(&id);
        }
        Ok(())
    }
}
