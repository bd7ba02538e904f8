//! A loop of known length, the reference of both instruction counters:
//! [`icount`](crate::icount)'s SysTick calibration and the bench binary's
//! self-check of the QEMU plugin.

use core::arch::asm;

/// Exactly `2·n` instructions: `n` times `subs` and `bne` (`n` ≥ 1).
#[inline(never)]
pub fn spin(n: u32) {
    // SAFETY: a register-only countdown loop; touches no memory or stack.
    unsafe {
        asm!("2:", "subs {0}, {0}, #1", "bne 2b", inout(reg) n => _, options(nomem, nostack));
    }
}
