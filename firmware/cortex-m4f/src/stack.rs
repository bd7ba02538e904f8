//! Stack high-water mark of one call, measured by painting the free stack.
//!
//! Everything below the stack pointer is free (no interrupts are enabled, so
//! no exception frame lands there). [`high_water`] fills up to
//! [`WINDOW`] bytes below its own stack pointer with a pattern, runs the
//! call, then finds the lowest word that no longer holds the pattern: the
//! distance from the stack pointer to it is the stack the call used,
//! including its own frame and every callee's.

use core::arch::asm;
use core::ptr::{read_volatile, write_volatile};

/// The fill pattern (a word the code is unlikely to store).
const PAINT: u32 = 0x5DB4_C0DE;
/// How far below the caller's stack pointer the paint reaches.
pub const WINDOW: usize = 64 * 1024;

unsafe extern "C" {
    /// Lowest address of the stack region (cortex-m-rt's link.x).
    static _stack_end: u32;
}

/// Stack bytes `f` used below the caller's stack pointer, or `None` if it
/// used the whole painted window (then the figure would be a lower bound).
#[inline(never)]
pub fn high_water(f: &mut dyn FnMut()) -> Option<usize> {
    let sp: usize;
    // SAFETY: reads the stack pointer into a register; no memory access.
    unsafe { asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    let stack_end = &raw const _stack_end as usize;
    let bottom = sp.saturating_sub(WINDOW).max(stack_end);
    let mut p = bottom;
    while p < sp {
        // SAFETY: `[bottom, sp)` is the unused part of the stack region,
        // word-aligned (the stack pointer is 8-aligned, `_stack_end` 4-aligned),
        // owned by no live object; this loop keeps its state in registers.
        unsafe { write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
    core::hint::black_box(&mut *f)();
    let mut lowest = bottom;
    // SAFETY: the same words as above; `f` has returned, so reading is plain.
    while lowest < sp && unsafe { read_volatile(lowest as *const u32) } == PAINT {
        lowest += 4;
    }
    (lowest > bottom).then_some(sp - lowest)
}

/// A call whose stack use is known: a 1 KiB local array plus a few saved
/// registers. The meter must read between 1024 and 1024 + 128 bytes for it,
/// else its other figures mean nothing.
pub fn self_test() -> Option<usize> {
    high_water(&mut || {
        let mut buffer = [0u32; 256];
        core::hint::black_box(&mut buffer);
    })
}
