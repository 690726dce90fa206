//! Comparing two profiles (`--profile`): each subsystem's and function's share of the
//! kernel samples, and the functions one profile sampled that the other never did.
//! Shares, not counts: two runs of different length compare alike.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::report::read::ReadProfile;

/// A function is new to NEW, for `--fail-on new-function`, when it holds at least this
/// percentage of NEW's kernel samples and BASE never sampled it: a function sampled
/// once or twice is the sampling's chance, not a new path.
pub const NEW_FUNCTION_SHARE: f64 = 1.0;

/// Functions both sampled are listed when their share moved by at least this many
/// percentage points.
pub const MOVED_POINTS: f64 = 1.0;

/// The kernel samples each profile needs for `--fail-on` to judge its shares: with
/// fewer, one sample is a percent or more and shares move by chance.
pub const MIN_SAMPLES: u64 = 100;

/// A share of the kernel samples in each report, in percent.
#[derive(Debug, Clone, Serialize)]
pub struct Share {
    pub name: String,
    /// The function's source file (functions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub subsystem: String,
    pub base: f64,
    pub new: f64,
}

impl Share {
    /// The change in percentage points.
    pub fn points(&self) -> f64 {
        self.new - self.base
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProfileDiff {
    /// Whether both reports had a profile; nothing below is filled otherwise.
    pub compared: bool,
    /// Whether both have [`MIN_SAMPLES`]: the `--fail-on` conditions on profiles are
    /// judged only then.
    pub enough_samples: bool,
    /// Every subsystem either sampled, by NEW's share.
    pub subsystems: Vec<Share>,
    /// Functions NEW sampled at [`NEW_FUNCTION_SHARE`] or more and BASE never did.
    pub new_functions: Vec<Share>,
    /// Functions BASE sampled at that share that NEW never did.
    pub gone_functions: Vec<Share>,
    /// Functions both sampled whose share moved by [`MOVED_POINTS`] or more, most first.
    pub moved_functions: Vec<Share>,
}

/// A function as two builds of a kernel both name it: without the compiler's suffix
/// (`filemap_read.isra.0` is `filemap_read`), with its module.
fn same_function(name: &str) -> String {
    let (function, module) = match name.split_once(" [") {
        Some((f, m)) => (f, Some(m)),
        None => (name, None),
    };
    let base = function.split('.').next().unwrap_or(function);
    match module {
        Some(m) => format!("{base} [{m}"),
        None => base.to_owned(),
    }
}

/// (function, file) → (subsystem, share) of one profile: the samples credited to each
/// function (a function only passed through is not counted).
fn functions(p: &ReadProfile) -> BTreeMap<(String, Option<String>), (String, f64)> {
    let all = p.samples.max(1) as f64;
    let mut out = BTreeMap::new();
    for s in &p.subsystems {
        for f in &s.files {
            for func in &f.functions {
                let e = out
                    .entry((same_function(&func.name), f.file.clone()))
                    .or_insert_with(|| (s.name.clone(), 0.0));
                e.1 += 100.0 * func.samples as f64 / all;
            }
        }
    }
    out
}

pub fn compare(base: Option<&ReadProfile>, new: Option<&ReadProfile>) -> ProfileDiff {
    let (Some(base), Some(new)) = (base, new) else {
        return ProfileDiff::default();
    };
    let share = |p: &ReadProfile, name: &str| {
        p.subsystems
            .iter()
            .find(|s| s.name == name)
            .map_or(0.0, |s| 100.0 * s.samples as f64 / p.samples.max(1) as f64)
    };
    let names: BTreeSet<&str> = base
        .subsystems
        .iter()
        .chain(&new.subsystems)
        .map(|s| s.name.as_str())
        .collect();
    let mut subsystems: Vec<Share> = names
        .into_iter()
        .map(|name| Share {
            name: name.to_owned(),
            file: None,
            subsystem: name.to_owned(),
            base: share(base, name),
            new: share(new, name),
        })
        .collect();
    let by_new = |a: &Share, b: &Share| b.new.total_cmp(&a.new).then(b.base.total_cmp(&a.base));
    subsystems.sort_by(by_new);

    let (b, n) = (functions(base), functions(new));
    let share_of = |key: &(String, Option<String>), subsystem: &str, base: f64, new: f64| Share {
        name: key.0.clone(),
        file: key.1.clone(),
        subsystem: subsystem.to_owned(),
        base,
        new,
    };
    let mut diff = ProfileDiff {
        compared: true,
        enough_samples: base.samples.min(new.samples) >= MIN_SAMPLES,
        subsystems,
        ..ProfileDiff::default()
    };
    for (key, (subsystem, new_share)) in &n {
        match b.get(key) {
            None if *new_share >= NEW_FUNCTION_SHARE => {
                diff.new_functions
                    .push(share_of(key, subsystem, 0.0, *new_share));
            }
            None => {}
            Some((_, base_share)) if (new_share - base_share).abs() >= MOVED_POINTS => {
                diff.moved_functions
                    .push(share_of(key, subsystem, *base_share, *new_share));
            }
            Some(_) => {}
        }
    }
    for (key, (subsystem, base_share)) in &b {
        if !n.contains_key(key) && *base_share >= NEW_FUNCTION_SHARE {
            diff.gone_functions
                .push(share_of(key, subsystem, *base_share, 0.0));
        }
    }
    diff.new_functions.sort_by(by_new);
    diff.gone_functions
        .sort_by(|a, b| b.base.total_cmp(&a.base));
    diff.moved_functions
        .sort_by(|a, b| b.points().abs().total_cmp(&a.points().abs()));
    diff
}

/// `12.3%`, or `-` for nothing sampled.
fn pct(v: f64) -> String {
    if v == 0.0 {
        "-".into()
    } else {
        format!("{v:.1}%")
    }
}

/// `+4.2 pts`
fn points(s: &Share) -> String {
    format!("{:+.1} pts", s.points())
}

/// The text sections of a profile comparison, as (title, header, rows), for the
/// table and Markdown alike; none when the reports did not both have a profile.
pub fn sections(d: &ProfileDiff) -> Vec<(String, Vec<String>, Vec<Vec<String>>)> {
    if !d.compared {
        return Vec::new();
    }
    let function = |s: &Share| {
        vec![
            match &s.file {
                Some(f) => format!("{} ({f})", s.name),
                None => s.name.clone(),
            },
            pct(s.base),
            pct(s.new),
            points(s),
            s.subsystem.clone(),
        ]
    };
    let header = |first: &str| {
        [first, "base", "new", "change", "subsystem"]
            .map(str::to_owned)
            .to_vec()
    };
    vec![
        (
            format!(
                "kernel time by subsystem ({} in either profile)",
                d.subsystems.len()
            ),
            header("subsystem"),
            d.subsystems
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        pct(s.base),
                        pct(s.new),
                        points(s),
                        s.name.clone(),
                    ]
                })
                .collect(),
        ),
        (
            format!(
                "kernel functions new ({}; at least {NEW_FUNCTION_SHARE}% of NEW's samples, none of BASE's)",
                d.new_functions.len()
            ),
            header("function"),
            d.new_functions.iter().map(function).collect(),
        ),
        (
            format!("kernel functions gone ({})", d.gone_functions.len()),
            header("function"),
            d.gone_functions.iter().map(function).collect(),
        ),
        (
            format!(
                "kernel functions whose share moved ({}; by {MOVED_POINTS} point or more)",
                d.moved_functions.len()
            ),
            header("function"),
            d.moved_functions.iter().map(function).collect(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::read::{ReadProfileFile, ReadProfileFunction, ReadProfileSubsystem};

    /// (subsystem, file, function, samples)
    fn profile(rows: &[(&str, &str, &str, u64)]) -> ReadProfile {
        let mut subsystems: Vec<ReadProfileSubsystem> = Vec::new();
        for &(s, file, f, n) in rows {
            let i = match subsystems.iter().position(|x| x.name == s) {
                Some(i) => i,
                None => {
                    subsystems.push(ReadProfileSubsystem {
                        name: s.into(),
                        samples: 0,
                        files: Vec::new(),
                    });
                    subsystems.len() - 1
                }
            };
            subsystems[i].samples += n;
            subsystems[i].files.push(ReadProfileFile {
                file: Some(file.into()),
                functions: vec![ReadProfileFunction {
                    name: f.into(),
                    samples: n,
                }],
            });
        }
        ReadProfile {
            hz: 99,
            samples: rows.iter().map(|r| r.3).sum(),
            subsystems,
        }
    }

    #[test]
    fn shares_new_and_gone_functions() {
        let base = profile(&[
            ("Filesystem", "fs/pipe.c", "pipe_read", 600),
            ("Memory Mgmt.", "mm/memory.c", "handle_mm_fault", 395),
            ("Memory Mgmt.", "mm/slub.c", "kmem_cache_alloc", 5),
        ]);
        let new = profile(&[
            ("Filesystem", "fs/pipe.c", "pipe_read", 300),
            (
                "Random",
                "drivers/char/random.c",
                "get_random_bytes_user",
                150,
            ),
            ("Memory Mgmt.", "mm/memory.c", "handle_mm_fault", 49),
            ("Memory Mgmt.", "mm/page_alloc.c", "rmqueue", 1),
        ]);
        let d = compare(Some(&base), Some(&new));
        assert!(d.compared);
        let subs: Vec<(&str, String, String)> = d
            .subsystems
            .iter()
            .map(|s| (s.name.as_str(), pct(s.base), pct(s.new)))
            .collect();
        assert_eq!(
            subs,
            [
                ("Filesystem", "60.0%".into(), "60.0%".into()),
                ("Random", "-".into(), "30.0%".into()),
                ("Memory Mgmt.", "40.0%".into(), "10.0%".into()),
            ]
        );
        // rmqueue at 0.2% is chance; kmem_cache_alloc at 0.5% gone is too.
        let names = |v: &[Share]| v.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&d.new_functions), ["get_random_bytes_user"]);
        assert!(d.gone_functions.is_empty());
        assert_eq!(names(&d.moved_functions), ["handle_mm_fault"]);
        assert_eq!(points(&d.moved_functions[0]), "-29.7 pts");
        assert!(d.enough_samples);
        // Without a profile on one side nothing is compared.
        assert!(!compare(None, Some(&new)).compared);
        // Another build's clone of a function is the same function; a short profile
        // is compared but not judged.
        let clone = profile(&[("Filesystem", "fs/pipe.c", "pipe_read.isra.0", 50)]);
        let plain = profile(&[("Filesystem", "fs/pipe.c", "pipe_read", 50)]);
        let d = compare(Some(&plain), Some(&clone));
        assert!(d.new_functions.is_empty() && d.gone_functions.is_empty());
        assert!(d.compared && !d.enough_samples);
        assert_eq!(same_function("show_info.cold [ext4]"), "show_info [ext4]");
    }
}
