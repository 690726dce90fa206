//! Nothing to link against: the kernel side is the `wl` binary (`src/main.rs`).
#![no_std]
