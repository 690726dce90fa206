//! Where a report goes: opened before tracing starts, so that a bad `--output` fails
//! before any work, and written so that a failure there does not lose the report.

use std::{
    fs::File,
    io::{self, Write},
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

    /// Writes `report`; if that fails (a full disk, say), writes it to standard error
    /// instead before returning the error, so the run's results survive.
    pub fn write(self, report: &Report, render: Render) -> Result<()> {
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

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
