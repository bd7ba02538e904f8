//! Proof that no panic is reachable from sdpa's public API: this program
//! calls every public function with inputs the optimizer cannot see
//! (`black_box`), and its panic handler calls a function that exists
//! nowhere. If any panic survives optimization, the handler is linked and
//! the link fails with `undefined symbol: sdpa_no_panic_check_failed_a_panic_is_reachable`.
//!
//! Built for bare-metal targets without a runtime: `_start` is the entry
//! point the linker keeps, everything it reaches is checked, and nothing
//! else is (unreachable code is dropped by `--gc-sections`).
//!
//! Build from `firmware/`: `cargo build --release -p sdpa-no-panic`
//! (also with `--profile release-s`, and `--target thumbv6m-none-eabi` or
//! `riscv32imac-unknown-none-elf`). With `--features locate` the handler
//! links (an endless loop), so the panicking call sites can be listed from
//! the disassembly; with `--features canary` it contains a panic on purpose
//! and must fail to link.

#![no_std]
#![no_main]

mod exercise;

/// The entry point: runs every public function once, then stops.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    exercise::everything();
    #[cfg(feature = "canary")]
    canary();
    #[allow(clippy::empty_loop)]
    loop {}
}

/// A panic the optimizer cannot remove: with `--features canary` the build
/// must fail, which shows the check can fail (CI builds it and expects that).
#[cfg(feature = "canary")]
fn canary() {
    let one = core::hint::black_box([0u8; 1]);
    core::hint::black_box(one[core::hint::black_box(1)]);
}

#[cfg(not(feature = "locate"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    unsafe extern "C" {
        /// Defined nowhere: referencing it fails the link.
        fn sdpa_no_panic_check_failed_a_panic_is_reachable() -> !;
    }
    // SAFETY: never runs; if this handler is reachable the program does not link.
    unsafe { sdpa_no_panic_check_failed_a_panic_is_reachable() }
}

#[cfg(feature = "locate")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    #[allow(clippy::empty_loop)]
    loop {}
}
