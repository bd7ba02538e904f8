//! Puts the board's memory.x on the linker path and links with
//! cortex-m-rt's link.x (which includes memory.x):
//! firmware/mps2-an386/memory.x (Cortex-M4F) for thumbv7em,
//! firmware/microbit/memory.x (nRF51, Cortex-M0, 16 KiB of RAM) for
//! thumbv6m, which also sets cfg `board_microbit` (the bench binary then
//! runs only its small workloads). Neither sits in firmware/ itself: the
//! linker looks in its working directory (the workspace) first.
use std::path::PathBuf;

fn main() {
    let firmware = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let microbit = std::env::var("TARGET").is_ok_and(|t| t.starts_with("thumbv6m"));
    let dir = firmware.join(if microbit { "microbit" } else { "mps2-an386" });
    println!("cargo::rustc-check-cfg=cfg(board_microbit)");
    if microbit {
        println!("cargo::rustc-cfg=board_microbit");
    }
    println!("cargo:rustc-link-search={}", dir.display());
    println!("cargo:rerun-if-changed={}", dir.join("memory.x").display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
