//! `--format svg`: a traced workload drawn as a picture that a real SVG renderer
//! (librsvg's `rsvg-convert`) turns into a non-blank image; `--weight` refused elsewhere.

mod common;

use std::{collections::BTreeSet, path::Path, process::Command};

use common::*;

/// A file in the temporary directory, named for this test process, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("wl-svg-{}-{name}", std::process::id())))
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The distinct RGB colors of a PNG, and its size.
fn colors(png: &Path) -> (BTreeSet<[u8; 3]>, u32, u32) {
    let file = std::fs::File::open(png).expect("open the PNG");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    // Palettes and 16-bit channels become 8-bit RGB(A), so pixels read one way.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane PNG size")];
    let info = reader.next_frame(&mut buf).expect("PNG pixels");
    let step = info.color_type.samples();
    assert!(
        step >= 3,
        "rsvg-convert draws in color: {:?}",
        info.color_type
    );
    let set = buf[..info.buffer_size()]
        .chunks_exact(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (set, info.width, info.height)
}

#[test]
fn a_traced_workload_renders_as_a_picture() {
    require_root();
    let Ok(version) = Command::new("rsvg-convert").arg("--version").output() else {
        return cannot_run("rsvg-convert is not installed (Debian package librsvg2-bin)");
    };
    assert!(version.status.success());
    let svg = TempFile::new("report.svg");
    let png = TempFile::new("report.png");
    let load = testload();
    let out = wl(&[
        "run",
        "--format",
        "svg",
        "-o",
        svg.path(),
        "--",
        load.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(wl_tests::EXIT_STATUS),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&svg.0).expect("the SVG report");
    assert!(text.starts_with("<?xml"), "{text}");
    // The main thread's getppid calls, in the subsystem the guide names.
    for needle in [
        ">getppid",
        "Process Mgmt.",
        "wl-testload",
        "widths: time spent",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
    if cfg!(target_arch = "x86_64") {
        assert!(text.contains("getppid [i386]"), "the int 0x80 calls");
    }

    let rendered = Command::new("rsvg-convert")
        .args(["--format", "png", "--output", png.path(), svg.path()])
        .output()
        .expect("run rsvg-convert");
    assert!(
        rendered.status.success(),
        "rsvg-convert: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let (seen, width, height) = colors(&png.0);
    // The SVG's own size: 1200 px of chart and its margins, caption and two rows.
    assert_eq!(width, 1220, "PNG width");
    assert!((100..400).contains(&height), "PNG height {height}");
    // White, the text, and a fill per subsystem and syscall, with their edges blended.
    assert!(seen.contains(&[255, 255, 255]), "no white background");
    assert!(seen.len() >= 10, "a nearly blank picture: {seen:?}");
}

#[test]
fn untimed_runs_are_drawn_by_calls_and_say_so() {
    require_root();
    let load = testload();
    let out = wl(&[
        "run",
        "--no-latency",
        "--format",
        "svg",
        "-o",
        "-",
        "--",
        load.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(wl_tests::EXIT_STATUS));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("widths: calls, since calls were not timed (--no-latency)"),
        "{text}"
    );
    assert!(text.contains("time: not measured"));
}

#[test]
fn weight_outside_svg_is_refused_before_anything_runs() {
    let marker = TempFile::new("ran");
    let out = wl(&[
        "run",
        "--weight",
        "calls",
        "--format",
        "json",
        "--",
        "touch",
        marker.path(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(wl_tests::OWN_ERROR), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("wl-user: error: --weight sets the widths"),
        "{stderr}"
    );
    assert!(!marker.0.exists(), "the workload ran");
}
