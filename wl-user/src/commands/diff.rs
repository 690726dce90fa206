//! `wl-user diff BASE.json NEW.json`: compares two JSON reports, for people and for CI
//! gates. Exits 0 when no `--fail-on` condition holds, 1 when one does, 2 on trouble
//! (a file that is not a report, a bad flag), as diff(1) does; trouble is reported
//! here so that it cannot be mistaken for a regression.

use std::io::{self, Write};

use crate::{
    cli::DiffArgs,
    report::{
        diff::{Thresholds, compare, fail_on},
        read::ReadReport,
    },
};

/// The exit status for bad input.
const TROUBLE: u8 = 2;

/// How many syscalls one `--fail-on` line names before it says how many more.
const REASONS_SHOWN: usize = 8;

pub fn diff(args: DiffArgs) -> u8 {
    match try_diff(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wl-user: error: {e}");
            TROUBLE
        }
    }
}

fn try_diff(args: &DiffArgs) -> Result<u8, String> {
    let fail_on = args
        .fail_on
        .as_deref()
        .map(fail_on::FailOn::parse)
        .transpose()?;
    for (flag, value) in [
        ("--count-threshold", args.count_threshold),
        ("--latency-threshold", args.latency_threshold),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(format!("{flag} {value}: give a percentage of 0 or more"));
        }
    }
    let base = ReadReport::load(&args.base)?;
    let new = ReadReport::load(&args.new)?;
    let thresholds = Thresholds {
        count_pct: args.count_threshold,
        count_min: args.count_min,
        latency_pct: args.latency_threshold,
    };
    let mut d = compare(
        &args.base.display().to_string(),
        &base,
        &args.new.display().to_string(),
        &new,
        thresholds,
    );
    // The conditions look at every syscall: their amounts are not the display's.
    let hits = fail_on.map(|f| f.check(&d)).unwrap_or_default();
    d.fail_on = hits.clone();
    if !args.all {
        d.only_changes();
    }

    let mut text = Vec::new();
    crate::report::diff::render::write(&d, args.format, &mut text)
        .map_err(|e| format!("cannot format the comparison: {e:#}"))?;
    match args.output.as_deref() {
        Some(p) if p.as_os_str() != "-" => std::fs::write(p, &text)
            .map_err(|e| format!("cannot write --output file {}: {e}", p.display()))?,
        _ => match io::stdout().lock().write_all(&text) {
            // A reader that went away (`| head`) is not an error.
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                return Err(format!("cannot write to standard output: {e}"));
            }
            _ => {}
        },
    }
    for h in &hits {
        let mut because = h.because[..h.because.len().min(REASONS_SHOWN)].join(", ");
        if h.because.len() > REASONS_SHOWN {
            because += &format!(" and {} more", h.because.len() - REASONS_SHOWN);
        }
        eprintln!("wl-user: --fail-on {} holds: {because}", h.condition);
    }
    Ok(fail_on::exit_code(&hits))
}
