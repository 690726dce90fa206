//! `--histogram`: each syscall's latency histogram as text bars under the table, one
//! line per power-of-two range of nanoseconds, from the first range with a call to the
//! last.

use std::io::Write;

use anyhow::Result;

use super::{Report, render};

/// The width of the longest bar.
const BAR: u64 = 50;

/// A power of two of nanoseconds, short: 512, 1K, 2M, 4G.
fn size(v: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    UNITS
        .iter()
        .find(|(u, _)| v >= *u && v.is_multiple_of(*u))
        .map_or_else(|| v.to_string(), |(u, s)| format!("{}{s}", v / u))
}

/// The range of bucket `b`: calls of `[2^(b-1), 2^b)` ns; bucket 0 is under 1 ns; the
/// last bucket also holds everything longer.
fn range(b: usize, last: bool) -> String {
    let lo = if b == 0 { 0 } else { 1u64 << (b - 1) };
    if last && b == wl_common::LATENCY_BUCKETS - 1 {
        format!("[{}, ...)", size(lo))
    } else {
        format!("[{}, {})", size(lo), size(1u64 << b))
    }
}

pub fn write(report: &Report, out: &mut dyn Write) -> Result<()> {
    for s in &report.syscalls {
        let hist = &s.latency_log2;
        let Some(first) = hist.iter().position(|&n| n > 0) else {
            continue;
        };
        let peak = hist.iter().copied().max().unwrap_or(1);
        writeln!(
            out,
            "\n{} ({} timed calls, ns)",
            render::syscall_label(&s.name, s.abi),
            s.timed_calls
        )?;
        for (b, &n) in hist.iter().enumerate().skip(first) {
            // At least one mark for any range with a call, so none looks empty.
            let width = if n == 0 { 0 } else { (n * BAR).div_ceil(peak) };
            writeln!(
                out,
                "{:<14} {n:>10} |{:<bar$}|",
                range(b, b == hist.len() - 1),
                "@".repeat(width as usize),
                bar = BAR as usize
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_bars() {
        assert_eq!(range(0, false), "[0, 1)");
        assert_eq!(range(8, false), "[128, 256)");
        assert_eq!(range(11, false), "[1K, 2K)");
        assert_eq!(range(21, false), "[1M, 2M)");
        assert_eq!(range(31, true), "[1G, ...)");
        let mut report = super::super::tests::sample();
        report.syscalls[0].latency_log2 = vec![0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 1];
        report.syscalls[0].timed_calls = 101;
        let mut buf = Vec::new();
        write(&report, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let block: Vec<&str> = text
            .trim_start()
            .split("\n\n")
            .find(|b| b.starts_with("openat"))
            .unwrap()
            .lines()
            .collect();
        assert_eq!(block[0], "openat (101 timed calls, ns)");
        assert_eq!(
            block[1],
            format!("[128, 256)            100 |{}|", "@".repeat(50))
        );
        assert_eq!(
            block[2],
            format!("[256, 512)              0 |{}|", " ".repeat(50))
        );
        assert_eq!(
            block[3],
            format!("[512, 1K)               1 |@{}|", " ".repeat(49))
        );
        assert_eq!(block.len(), 4);
    }
}
