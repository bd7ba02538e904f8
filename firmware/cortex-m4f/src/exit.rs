//! How the semihosting firmwares (the report and the bench) end: a verdict
//! line and QEMU's exit status, also from the HardFault and panic handlers.

use cortex_m_rt::{ExceptionFrame, exception};
use cortex_m_semihosting::{debug, hprintln};

/// Prints `<program>: PASS` (or `FAIL`) and exits QEMU with that status.
/// A macro, so that `main` compiles exactly as with these lines written in
/// it: the bench's counted regions are inlined into `main`, and a call here
/// changed their register allocation (and two regions' instruction counts).
macro_rules! finish {
    ($program:literal, $passed:expr) => {{
        if $passed {
            cortex_m_semihosting::hprintln!(concat!($program, ": PASS"));
            cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_SUCCESS);
        } else {
            cortex_m_semihosting::hprintln!(concat!($program, ": FAIL"));
            cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
        }
        exit::halt()
    }};
}
pub(crate) use finish;

/// Waits forever (after semihosting's exit, which QEMU does not return from).
pub fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("HardFault at pc {:#010x}", frame.pc());
    debug::exit(debug::EXIT_FAILURE);
    halt()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    halt()
}
