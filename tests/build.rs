//! For tests built for arm64: a static 32-bit arm program (`arm32/arm32-load.c`), whose
//! calls an arm64 kernel takes through its compat ABI. Its path reaches the tests as
//! `WL_ARM32_LOAD`, empty where it could not be built (the test then says why).

use std::{env, path::PathBuf, process::Command};

fn main() {
    let source = "arm32/arm32-load.c";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-env-changed=WL_ARM32_CC");
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("aarch64") {
        return;
    }
    let cc = env::var("WL_ARM32_CC").unwrap_or_else(|_| "arm-linux-gnueabihf-gcc".into());
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("arm32-load");
    let built = Command::new(&cc)
        .args(["-static", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&out)
        .arg(source)
        .status();
    let path = match built {
        Ok(st) if st.success() => out.display().to_string(),
        Ok(st) => {
            println!("cargo:warning={cc} failed ({st}): the arm compat test cannot run");
            String::new()
        }
        Err(e) => {
            println!(
                "cargo:warning=cannot run {cc} ({e}): install gcc-arm-linux-gnueabihf (./setup does)"
            );
            String::new()
        }
    };
    println!("cargo:rustc-env=WL_ARM32_LOAD={path}");
}
