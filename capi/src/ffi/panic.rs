//! The panic handler a `no_std` static library must define. No panic is
//! reachable from an exported function (CI proves it by linking with
//! `no-panic-proof`), so this never runs; it exists because the language
//! requires it.

/// Default build: stop. On a hosted target C's `abort()` ends the process
/// (as Rust's own `panic = "abort"` does); on bare metal the core spins,
/// for a watchdog or a debugger to find.
#[cfg(all(not(test), not(feature = "no-panic-proof")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    #[cfg(not(target_os = "none"))]
    {
        unsafe extern "C" {
            /// C's `abort`, from the C library every hosted program links.
            fn abort() -> !;
        }
        // SAFETY: `abort` takes no arguments and does not return; calling it
        // ends the process, which is all this handler may do.
        unsafe { abort() }
    }
    #[cfg(target_os = "none")]
    loop {
        core::hint::spin_loop();
    }
}

/// `no-panic-proof` build: the handler calls a function that exists
/// nowhere, so the library only links (and, after LTO, only lacks an
/// undefined reference to it) if no panic can reach the handler.
#[cfg(all(not(test), feature = "no-panic-proof"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    unsafe extern "C" {
        /// Defined nowhere: a reference to it means a reachable panic.
        fn sdpa_capi_no_panic_proof_failed_a_panic_is_reachable() -> !;
    }
    // SAFETY: never runs; if this handler is reachable the program does not link.
    unsafe { sdpa_capi_no_panic_proof_failed_a_panic_is_reachable() }
}

/// A reachable panic for the proof to find (feature `canary`): linking a
/// program that calls it with `no-panic-proof` must fail.
#[cfg(feature = "canary")]
#[unsafe(no_mangle)]
pub extern "C" fn sdpa_canary(i: usize) -> f32 {
    let values = core::hint::black_box([1.0f32; 4]);
    values[i]
}
