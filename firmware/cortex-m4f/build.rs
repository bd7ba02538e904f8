//! Puts firmware/memory.x on the linker path and links with cortex-m-rt's
//! link.x (which includes memory.x).
use std::path::PathBuf;

fn main() {
    let firmware = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    println!("cargo:rustc-link-search={}", firmware.display());
    println!("cargo:rerun-if-changed=../memory.x");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
