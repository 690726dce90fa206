//! `wl-user seccomp REPORT.json`: a seccomp profile that allows exactly the syscalls a
//! saved report saw, as OCI JSON or as systemd settings.

use std::io::Write as _;

use anyhow::{Context as _, Result, anyhow};

use crate::{
    cli::{ProfileFormat, SeccompArgs},
    report::read::ReadReport,
    seccomp::{self, Seen},
    syscalls::AbiName,
};

pub fn seccomp(args: SeccompArgs) -> Result<()> {
    let report = ReadReport::load(&args.report).map_err(|e| anyhow!(e))?;
    if let Some(only) = &report.only {
        anyhow::bail!(
            "{} counted only some calls ({}): a profile of it would deny what the workload needs; record the report without those options",
            args.report.display(),
            only.options()
        );
    }
    let mut seen = Seen::new();
    for s in &report.syscalls {
        let Some(abi) = AbiName::ALL.into_iter().find(|a| a.as_str() == s.abi) else {
            eprintln!(
                "wl: {} of ABI {} cannot be written in a profile; left out",
                s.name, s.abi
            );
            continue;
        };
        seen.entry(abi).or_default().insert(s.name.clone());
    }
    let (profile, unnamed) = seccomp::profile(&seen, args.action);
    if !unnamed.is_empty() {
        eprintln!(
            "wl: {} cannot be named in a profile and is left out",
            unnamed.join(", ")
        );
    }
    let text = match args.format {
        ProfileFormat::Oci => serde_json::to_string_pretty(&profile)? + "\n",
        ProfileFormat::Systemd => seccomp::systemd(&profile),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write --output {}", path.display())),
        None => match std::io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(()),
        },
    }
}
