//! Reading JSON reports back, for `wl-user diff`: the fields a comparison needs, from
//! this version's reports (`"schema": 1`) and from those written before reports carried
//! a schema number.

use std::{collections::BTreeMap, path::Path};

use serde::Deserialize;

use super::SCHEMA;

/// A report as read from a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    expecting = "a report: an object with schema, kernel, duration_ns, latency, syscalls, subsystems and syscall_tables"
)]
pub struct ReadReport {
    /// Absent in reports written before the schema number existed; read as 0.
    #[serde(default)]
    pub schema: u32,
    pub kernel: ReadKernel,
    pub duration_ns: u64,
    pub latency: bool,
    /// Absent before schema 1, when every call was timed or none; see [`ReadReport::fill_in`].
    pub latency_sample: Option<u32>,
    #[serde(default)]
    pub lost: BTreeMap<String, u64>,
    pub syscalls: Vec<ReadSyscall>,
    pub subsystems: Vec<ReadSubsystem>,
    /// Reports with objects resolved: each call under the subsystem that served it.
    #[serde(default)]
    pub subsystems_by_object: Option<Vec<ReadSubsystem>>,
    /// Reports of a run that counted only some calls (`--syscall`, `--failed`,
    /// `--errno`): what it counted.
    #[serde(default)]
    pub only: Option<ReadOnly>,
    pub syscall_tables: ReadTables,
    /// What the kernel did besides syscalls; absent with `--events none` and in reports
    /// of an older wl-user.
    #[serde(default)]
    pub events: Option<Vec<ReadEvent>>,
    /// Where the kernel's time went (`--profile`); absent without it.
    #[serde(default)]
    pub profile: Option<ReadProfile>,
}

/// `profile`: the kernel samples credited to subsystems, files and functions.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a profile: an object with hz, samples and subsystems")]
pub struct ReadProfile {
    pub hz: u64,
    pub samples: u64,
    pub subsystems: Vec<ReadProfileSubsystem>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReadProfileSubsystem {
    pub name: String,
    pub samples: u64,
    pub files: Vec<ReadProfileFile>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReadProfileFile {
    pub file: Option<String>,
    pub functions: Vec<ReadProfileFunction>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReadProfileFunction {
    pub name: String,
    pub samples: u64,
}

/// One row of `events`.
#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "an events entry: an object with event, detail, calls and subsystem")]
pub struct ReadEvent {
    pub event: String,
    pub detail: String,
    #[serde(default)]
    pub object: Option<String>,
    pub calls: u64,
    #[serde(default)]
    pub bytes: Option<u64>,
    pub subsystem: String,
}

impl ReadEvent {
    /// How the event is named in a comparison: `page fault file minor ext4`.
    pub fn label(&self) -> String {
        match &self.object {
            Some(o) => format!("{} {} {o}", self.event, self.detail),
            None => format!("{} {}", self.event, self.detail),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "only: an object with syscalls, failed and errnos")]
pub struct ReadOnly {
    #[serde(default)]
    pub syscalls: Vec<String>,
    #[serde(default)]
    pub failed: bool,
    #[serde(default)]
    pub errnos: Vec<String>,
}

impl ReadOnly {
    /// `--syscall openat --errno ENOENT`, as it was asked.
    pub fn options(&self) -> String {
        let mut parts = Vec::new();
        if !self.syscalls.is_empty() {
            parts.push(format!("--syscall {}", self.syscalls.join(",")));
        }
        if !self.errnos.is_empty() {
            parts.push(format!("--errno {}", self.errnos.join(",")));
        } else if self.failed {
            parts.push("--failed".to_owned());
        }
        parts.join(" ")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "kernel: an object with release and arch")]
pub struct ReadKernel {
    pub release: String,
    pub arch: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(
    expecting = "a syscalls entry: an object with name, abi, calls, errors, min_ns, max_ns and subsystem"
)]
pub struct ReadSyscall {
    pub name: String,
    /// Kept as text: a report from another machine may name an ABI this one lacks.
    pub abi: String,
    /// `calls`, `errors` and `total_ns` (0 where absent).
    #[serde(flatten)]
    pub counts: wl_common::Counts,
    #[serde(default)]
    pub errno: BTreeMap<String, u64>,
    /// Absent before schema 1; see [`ReadReport::fill_in`].
    pub timed_calls: Option<u64>,
    pub min_ns: u64,
    pub max_ns: u64,
    #[serde(default)]
    pub latency_log2: Vec<u64>,
    pub subsystem: String,
    /// The one subsystem that served every call, where objects were resolved.
    #[serde(default)]
    pub served_by: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "a subsystems entry: an object with name")]
pub struct ReadSubsystem {
    pub name: String,
    /// Distinct syscalls; 0 for a subsystem only events or io_uring operations reached.
    #[serde(default)]
    pub syscalls: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(expecting = "syscall_tables: an object with linux and origin")]
pub struct ReadTables {
    pub linux: String,
    pub origin: String,
}

/// Just the schema number, read before the rest so that a newer report is refused
/// for what it is rather than for a field this version does not know.
#[derive(Deserialize)]
#[serde(expecting = "a report: an object with schema, kernel, syscalls and more")]
struct SchemaOnly {
    #[serde(default)]
    schema: u64,
}

impl ReadReport {
    /// Reads and checks `path`. Errors are one line naming the file and what to do.
    pub fn load(path: &Path) -> Result<ReadReport, String> {
        let shown = path.display();
        let text = crate::input::read_text(path, crate::input::limit::REPORT).map_err(|e| {
            format!("cannot read {shown}: {e}; give the path of a report written by `wl-user run --format json -o FILE`")
        })?;
        Self::parse(&text).map_err(|e| format!("{shown}: {e}"))
    }

    /// Parses a report's text; the error does not name the file.
    pub fn parse(text: &str) -> Result<ReadReport, String> {
        let not_a_report = "write one with `wl-user run --format json -o FILE`";
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map_err(|e| format!("not JSON ({e}); {not_a_report}"))?;
        // serde would read an array as a struct's fields in order: a report is an object.
        if !text.trim_start().starts_with('{') {
            return Err(format!(
                "not a wl-user JSON report (a report is a JSON object, this is not one); {not_a_report}"
            ));
        }
        let probe: SchemaOnly = serde_json::from_str(text)
            .map_err(|e| format!("not a wl-user JSON report ({e}); {not_a_report}"))?;
        if probe.schema > u64::from(SCHEMA) {
            return Err(format!(
                "report schema {} is newer than this wl-user understands ({SCHEMA}); compare it with the wl-user that wrote it, or a newer one",
                probe.schema
            ));
        }
        let mut report: ReadReport = serde_json::from_str(text)
            .map_err(|e| format!("not a wl-user JSON report ({e}); {not_a_report}"))?;
        report.fill_in();
        Ok(report)
    }

    /// Gives reports from before schema 1 the fields they lack, as those versions
    /// behaved: every call timed unless `latency` is false, so each timed call is in
    /// the histogram.
    fn fill_in(&mut self) {
        let latency = self.latency;
        self.latency_sample
            .get_or_insert(if latency { 1 } else { 0 });
        for s in &mut self.syscalls {
            let timed = if latency {
                s.latency_log2.iter().sum()
            } else {
                0
            };
            s.timed_calls.get_or_insert(timed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Format, tests::sample};

    fn current_json() -> String {
        let mut buf = Vec::new();
        sample()
            .write(crate::report::Render::plain(Format::Json), &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn reads_what_the_json_format_writes() {
        let r = ReadReport::parse(&current_json()).unwrap();
        assert_eq!(r.schema, 1);
        assert_eq!(r.syscalls.len(), 4);
        assert_eq!(r.syscalls[0].name, "openat");
        assert_eq!(r.syscalls[0].errno["ENOENT"], 3);
        assert_eq!(r.syscalls[2].abi, "i386");
        assert_eq!(r.subsystems[0].name, "Filesystem");
        assert_eq!(r.latency_sample, Some(1));
    }

    #[test]
    fn reads_reports_from_before_the_schema_number() {
        let old = r#"{
          "target": {"command": ["true"]}, "kernel": {"release": "6.1.0", "arch": "x86_64"},
          "duration_ns": 5, "latency": true, "lost": {},
          "syscalls": [{"name": "getppid", "nr": 110, "abi": "x86_64", "calls": 3,
            "errors": 0, "errno": {}, "total_ns": 900, "avg_ns": 300, "min_ns": 200,
            "max_ns": 400, "latency_log2": [0,0,0,0,0,0,0,0,0,3], "subsystem": "Process Mgmt.",
            "source": "kernel/sys.c", "api": "sys_getppid", "maintainers": "THE REST"}],
          "subsystems": [{"name": "Process Mgmt.", "calls": 3, "errors": 0, "total_ns": 900, "syscalls": 1}],
          "syscall_tables": {"linux": "6.12.38", "origin": "embedded"}
        }"#;
        let r = ReadReport::parse(old).unwrap();
        assert_eq!(r.schema, 0);
        assert_eq!(r.latency_sample, Some(1));
        assert_eq!(r.syscalls[0].timed_calls, Some(3));
        let untimed = old.replace(r#""latency": true"#, r#""latency": false"#);
        let r = ReadReport::parse(&untimed).unwrap();
        assert_eq!(r.latency_sample, Some(0));
        assert_eq!(r.syscalls[0].timed_calls, Some(0));
    }

    #[test]
    fn refuses_newer_schemas_and_non_reports_in_one_line() {
        let newer = current_json().replacen("\"schema\": 1", "\"schema\": 7", 1);
        let e = ReadReport::parse(&newer).unwrap_err();
        assert!(
            e.starts_with("report schema 7 is newer than this wl-user understands (1);"),
            "{e}"
        );
        for (text, start) in [
            // A newer report is refused for its number even when its fields changed.
            (r#"{"schema": 2, "rows": []}"#, "report schema 2 is newer"),
            ("{ not json", "not JSON ("),
            (r#"{"name": "x"}"#, "not a wl-user JSON report ("),
            ("[1, 2]", "not a wl-user JSON report ("),
            ("null", "not a wl-user JSON report ("),
            ("", "not JSON ("),
        ] {
            let e = ReadReport::parse(text).unwrap_err();
            assert!(e.starts_with(start) && !e.contains('\n'), "{text}: {e}");
            // The report's fields, not this program's type names.
            assert!(!e.contains("struct"), "{text}: {e}");
        }
        let e = ReadReport::parse(r#"{"schema": 1, "kernel": 3}"#).unwrap_err();
        assert!(
            e.contains("expected kernel: an object with release and arch"),
            "{e}"
        );
        let e = ReadReport::parse(&current_json().replacen("\"kernel\": {", "\"kernel\": [{", 1))
            .unwrap_err();
        assert!(!e.contains("struct"), "{e}");
    }
}
