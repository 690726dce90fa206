//! Where a report goes: opened before tracing starts, so that a bad `--output` fails
//! before any work, and written so that a failure there does not lose the report.

use std::{
    fs::File,
    io::{self, IsTerminal as _, Write},
    os::fd::{AsFd as _, AsRawFd as _, BorrowedFd},
    path::PathBuf,
};

use anyhow::{Context as _, Result};

use crate::report::{Render, Report};

pub enum Output {
    Stdout,
    Stderr,
    File(PathBuf, File),
}

impl Output {
    /// `path` from `--output`, or `default` without one.
    pub fn open(path: Option<&PathBuf>, default: Output) -> Result<Output> {
        match path {
            None => Ok(default),
            Some(p) if p.as_os_str() == "-" => Ok(Output::Stdout),
            Some(p) => {
                let f = File::create(p)
                    .with_context(|| format!("cannot open --output file {}", p.display()))?;
                Ok(Output::File(p.clone(), f))
            }
        }
    }

    /// Writes `bytes` at once: what is reported while tracing (`--interval`). Without
    /// [`Output::write`]'s fallback, which the final report keeps.
    pub fn write_now(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Output::Stderr => io::stderr().lock().write_all(bytes),
            Output::File(_, f) => {
                let mut f: &File = f;
                f.write_all(bytes)
            }
        }
    }

    /// The size (rows, columns) of the terminal it writes to; None when it is not one.
    pub fn terminal(&self) -> Option<(u16, u16)> {
        let size = |fd: BorrowedFd| fd.is_terminal().then(|| window_size(fd));
        match self {
            Output::Stdout => size(io::stdout().as_fd()),
            Output::Stderr => size(io::stderr().as_fd()),
            Output::File(_, f) => size(f.as_fd()),
        }
    }

    /// The width of the terminal it writes to: `$COLUMNS` where set (as shells and
    /// `ls` read it), else the terminal's own; None when it is not one.
    pub fn terminal_columns(&self) -> Option<usize> {
        let (_, cols) = self.terminal()?;
        let env = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse::<usize>().ok());
        Some(env.filter(|&c| c > 0).unwrap_or(cols.into()))
    }

    /// Writes `report`; if that fails (a full disk, say), writes it to standard error
    /// instead before returning the error, so the run's results survive.
    pub fn write(self, report: &Report, render: Render) -> Result<()> {
        let render = Render {
            width: self.terminal_columns(),
            ..render
        };
        let result = match &self {
            Output::Stdout => report.write(render, &mut io::stdout().lock()),
            Output::Stderr => report.write(render, &mut io::stderr().lock()),
            Output::File(_, f) => {
                let mut w = io::BufWriter::new(f);
                report.write(render, &mut w).and_then(|()| Ok(w.flush()?))
            }
        };
        match result {
            Ok(()) => Ok(()),
            // A reader that went away (`| head`) is not an error.
            Err(e) if is_broken_pipe(&e) => Ok(()),
            Err(e) => {
                let what = match &self {
                    Output::File(p, _) => p.display().to_string(),
                    Output::Stdout => "standard output".into(),
                    Output::Stderr => "standard error".into(),
                };
                if !matches!(self, Output::Stderr) {
                    let _ = report.write(render, &mut io::stderr().lock());
                }
                Err(e.context(format!(
                    "cannot write the report to {what} (printed to standard error instead)"
                )))
            }
        }
    }
}

/// A terminal's (rows, columns); 24 × 80, the classic ones, where it does not say.
fn window_size(fd: BorrowedFd) -> (u16, u16) {
    const DEFAULT_ROWS: u16 = 24;
    const DEFAULT_COLUMNS: u16 = 80;
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` through the pointer, to a local.
    let ok = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) } == 0;
    // A pseudo-terminal nobody sized says 0 rows.
    if ok && size.ws_row > 0 && size.ws_col > 0 {
        (size.ws_row, size.ws_col)
    } else {
        (DEFAULT_ROWS, DEFAULT_COLUMNS)
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
