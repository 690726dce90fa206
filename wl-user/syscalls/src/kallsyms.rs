//! The running kernel's text symbols, from /proc/kallsyms: what names the handlers
//! objects reach and the frames of kernel stacks.

use std::fs;

use anyhow::{Context as _, Result, bail};

/// A kernel text symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub addr: u64,
    pub name: String,
    /// The module for module symbols (`ext4` of `ext4_file_read_iter [ext4]`).
    pub module: Option<String>,
}

/// The kernel's text symbols, by address.
#[derive(Debug, Default)]
pub struct Kallsyms {
    symbols: Vec<Symbol>,
}

impl Kallsyms {
    /// Reads /proc/kallsyms. Without CAP_SYSLOG (or with kernel.kptr_restrict=2) the
    /// kernel shows every address as 0, which names nothing: that is an error.
    pub fn read() -> Result<Kallsyms> {
        let text = fs::read_to_string("/proc/kallsyms").context("cannot read /proc/kallsyms")?;
        let k = Kallsyms::parse(&text);
        if k.symbols.is_empty() {
            bail!(
                "/proc/kallsyms shows every address as 0: naming kernel functions needs root \
                 (CAP_SYSLOG) and kernel.kptr_restrict below 2"
            );
        }
        Ok(k)
    }

    /// Parses kallsyms text (`addr type name [module]`), keeping text symbols (t, T)
    /// with a non-zero address; malformed lines are skipped.
    pub fn parse(text: &str) -> Kallsyms {
        let mut symbols: Vec<Symbol> = text
            .lines()
            .filter_map(|line| {
                let mut f = line.split_whitespace();
                let addr = u64::from_str_radix(f.next()?, 16).ok()?;
                let ty = f.next()?;
                let name = f.next()?;
                if addr == 0 || !matches!(ty, "t" | "T") {
                    return None;
                }
                // Padding before a function (CONFIG_FUNCTION_PADDING, kCFI) is not it.
                if name.starts_with("__pfx_") || name.starts_with("__cfi_") {
                    return None;
                }
                let module = f
                    .next()
                    .and_then(|m| m.strip_prefix('[')?.strip_suffix(']'))
                    .map(str::to_string);
                Some(Symbol {
                    addr,
                    name: name.to_string(),
                    module,
                })
            })
            .collect();
        // Stable: of several names at one address the first listed is kept first.
        symbols.sort_by_key(|s| s.addr);
        Kallsyms { symbols }
    }

    /// The symbol starting exactly at `addr`. The kernel side records function pointers
    /// taken from operation tables, which always point at a function's start; an
    /// address inside a function would mean a table this does not know, so no
    /// enclosing symbol is guessed.
    pub fn symbol(&self, addr: u64) -> Option<&Symbol> {
        if addr == 0 {
            return None;
        }
        let i = self.symbols.partition_point(|s| s.addr < addr);
        self.symbols.get(i).filter(|s| s.addr == addr)
    }

    pub fn name(&self, addr: u64) -> Option<&str> {
        self.symbol(addr).map(|s| s.name.as_str())
    }

    /// Every text symbol, by address.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// The symbol holding `addr` in a kernel stack, with its index in
    /// [`Kallsyms::symbols`]: the last starting at or below it (of several names for
    /// that address, the first listed). kallsyms gives no sizes, so an address past a
    /// function's end (in a gap between the kernel image and the modules) goes to the
    /// symbol before; one below the first symbol to none.
    pub fn containing(&self, addr: u64) -> Option<(usize, &Symbol)> {
        let last = self
            .symbols
            .partition_point(|s| s.addr <= addr)
            .checked_sub(1)?;
        let start = self.symbols[last].addr;
        let first = self.symbols[..last].partition_point(|s| s.addr < start);
        Some((first, &self.symbols[first]))
    }

    /// [`Kallsyms::symbol`] with its index.
    pub(crate) fn at(&self, addr: u64) -> Option<(usize, &Symbol)> {
        self.containing(addr)
            .filter(|(_, s)| s.addr == addr && addr != 0)
    }
}
