//! Sets of syscalls and errnos as people name them on a command line: `--syscall
//! openat,%network`, `--errno ENOENT,EAGAIN`, with the nearest names offered for a typo.

use std::collections::BTreeSet;

use crate::{AbiName, Knowledge, generated::ERRNO_NAMES};

/// `%class` words: strace's class names where they map onto a subsystem, and short
/// forms of wl's own subsystem names. Any subsystem's own name works too (`%io_uring`,
/// `%bpf`, `%"memory mgmt."`), in any case.
pub const CLASSES: &[(&str, &str)] = &[
    ("file", "Filesystem"),
    ("fs", "Filesystem"),
    ("desc", "Filesystem"),
    ("network", "Network"),
    ("net", "Network"),
    ("process", "Process Mgmt."),
    ("memory", "Memory Mgmt."),
    ("mm", "Memory Mgmt."),
    ("signal", "Signal"),
    ("ipc", "IPC"),
    ("clock", "Time"),
    ("time", "Time"),
    ("sched", "Scheduler"),
    ("futex", "Futex"),
    ("creds", "Capability"),
];

/// The subsystem a `%class` word names, if any.
fn class(k: &Knowledge, abis: &[AbiName], word: &str) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    if let Some(&(_, s)) = CLASSES.iter().find(|(c, _)| *c == word) {
        return Some(s);
    }
    abis.iter()
        .flat_map(|&abi| k.table(abi))
        .map(|s| s.subsystem)
        .find(|s| s.to_ascii_lowercase() == word)
}

/// Up to three of `candidates` nearest `word`, nearest first: those a typo could have
/// come from.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// `; did you mean a, b?`, or nothing.
pub fn did_you_mean(near: &[&str]) -> String {
    if near.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", near.join(", "))
    }
}

/// The (ABI, number) of every syscall of `abis` that `words` name: a syscall's name
/// (every ABI that has it), or `%class` for all of a subsystem's. An unknown word is an
/// error that says what would match.
pub fn syscalls(
    k: &Knowledge,
    abis: &[AbiName],
    words: &[String],
) -> Result<BTreeSet<(AbiName, u32)>, String> {
    let tables = || {
        abis.iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let mut set = BTreeSet::new();
    for word in words {
        let word = word.trim();
        // Which syscalls of `abis` the word names.
        let matching = |keep: &dyn Fn(&crate::Syscall) -> bool| -> Vec<(AbiName, u32)> {
            abis.iter()
                .flat_map(|&abi| k.table(abi).iter().map(move |s| (abi, s)))
                .filter(|(_, s)| keep(s))
                .map(|(abi, s)| (abi, s.nr))
                .collect()
        };
        let named = if let Some(c) = word.strip_prefix('%') {
            let Some(subsystem) = class(k, abis, c) else {
                let mut names: Vec<&str> = CLASSES.iter().map(|(c, _)| *c).collect();
                names.extend(abis.iter().flat_map(|&a| k.table(a)).map(|s| s.subsystem));
                let near = nearest(&c.to_ascii_lowercase(), names.iter().copied());
                return Err(format!(
                    "'%{c}' is not a class of syscalls: use %file, %network, %process, %memory, \
                     %signal, %ipc, %time, %sched, %futex or a subsystem's name{}",
                    did_you_mean(&near)
                ));
            };
            let named = matching(&|s| s.subsystem == subsystem);
            if named.is_empty() {
                return Err(format!(
                    "'{word}' has no syscalls in the {} tables (Linux {})",
                    tables(),
                    k.release
                ));
            }
            named
        } else {
            let named = matching(&|s| s.name == word);
            if named.is_empty() {
                let near = nearest(word, abis.iter().flat_map(|&a| k.table(a)).map(|s| s.name));
                return Err(format!(
                    "no syscall named '{word}' in the {} tables (Linux {}){}",
                    tables(),
                    k.release,
                    did_you_mean(&near)
                ));
            }
            named
        };
        set.extend(named);
    }
    Ok(set)
}

/// The number of an errno name (`ENOENT`, any case), or of a number given as such.
pub fn errno(word: &str) -> Option<u32> {
    let upper = word.trim().to_ascii_uppercase();
    ERRNO_NAMES
        .iter()
        .find(|(_, name)| *name == upper)
        .map(|&(n, _)| n)
        .or_else(|| upper.parse().ok().filter(|&n| n > 0))
}

/// The errnos `words` name, each below `limit`.
pub fn errnos(words: &[String], limit: u32) -> Result<BTreeSet<u32>, String> {
    words
        .iter()
        .map(|w| match errno(w) {
            Some(n) if n < limit => Ok(n),
            Some(n) => Err(format!(
                "errno {n} ('{w}') is not one a call returns to a program"
            )),
            None => Err(format!(
                "'{w}' is not an errno name{}",
                did_you_mean(&nearest(
                    &w.to_ascii_uppercase(),
                    ERRNO_NAMES.iter().map(|(_, n)| *n)
                ))
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_classes() {
        let k = Knowledge::embedded();
        let abis = [AbiName::X86_64, AbiName::I386];
        let w = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let set = syscalls(&k, &abis, &w(&["getppid"])).unwrap();
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            [(AbiName::X86_64, 110), (AbiName::I386, 64)]
        );
        let net = syscalls(&k, &abis, &w(&["%net"])).unwrap();
        assert!(net.contains(&(AbiName::X86_64, 44)), "sendto");
        assert!(!net.contains(&(AbiName::X86_64, 0)), "not read");
        assert_eq!(net, syscalls(&k, &abis, &w(&["%Network"])).unwrap());
        // A word given twice is no error.
        assert_eq!(
            syscalls(&k, &abis, &w(&["getppid", "getppid"]))
                .unwrap()
                .len(),
            2
        );
        let err = syscalls(&k, &abis, &w(&["opnat"])).unwrap_err();
        assert!(err.contains("did you mean openat"), "{err}");
        let err = syscalls(&k, &abis, &w(&["%netwrk"])).unwrap_err();
        assert!(err.contains("did you mean network"), "{err}");
    }

    #[test]
    fn errno_names_and_numbers() {
        let w = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            errnos(&w(&["ENOENT", "eagain", "13"]), 256).unwrap(),
            [2, 11, 13].into()
        );
        let err = errnos(&w(&["ENOENTT"]), 256).unwrap_err();
        assert!(err.contains("did you mean ENOENT"), "{err}");
        assert!(errnos(&w(&["0"]), 256).is_err());
        assert!(errnos(&w(&["300"]), 256).is_err());
    }
}
