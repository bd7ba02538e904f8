//! Counting the instructions a call executes on QEMU.
//!
//! With `-icount shift=5` QEMU's virtual clock advances exactly 2⁵ ns per
//! guest instruction, and the SysTick counter (on the core clock) follows
//! the virtual clock. So SysTick ticks are proportional to instructions
//! executed. The ratio is not assumed: [`Counter::calibrate`] times a loop of
//! known length (`subs; bne`, two instructions per iteration) and takes the
//! slope between two lengths, which also cancels the fixed cost of timing.
//! Without `-icount` the counter follows host time and the calibration is
//! reported as unstable instead of giving numbers.

use crate::spin::spin;
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;

/// SysTick's counter is 24 bits wide.
const RELOAD: u32 = 0x00FF_FFFF;

/// SysTick, free-running on the core clock, plus the calibration.
pub struct Counter {
    syst: SYST,
    /// SysTick ticks per instruction (measured).
    ticks_per_instruction: f64,
    /// Ticks the timing itself costs around an empty call.
    overhead: u32,
}

impl Counter {
    /// Starts SysTick and calibrates it. `None` if the timing is not
    /// deterministic (QEMU without `-icount`).
    pub fn calibrate(mut syst: SYST) -> Option<Self> {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_counter();
        let mut counter = Counter { syst, ticks_per_instruction: 1.0, overhead: 0 };
        const SHORT: u32 = 1_000;
        const LONG: u32 = 201_000;
        let short = counter.ticks(&mut || spin(SHORT))?;
        let long = counter.ticks(&mut || spin(LONG))?;
        // Deterministic timing gives the same count twice.
        if counter.ticks(&mut || spin(LONG))? != long || counter.ticks(&mut || spin(SHORT))? != short {
            return None;
        }
        counter.ticks_per_instruction = f64::from(long - short) / f64::from(2 * (LONG - SHORT));
        counter.overhead = counter.ticks(&mut || {})?;
        Some(counter)
    }

    /// SysTick ticks per instruction the calibration found.
    pub fn ticks_per_instruction(&self) -> f64 {
        self.ticks_per_instruction
    }

    /// Instructions `f` executes (call and return included), rounded.
    pub fn instructions(&mut self, f: &mut dyn FnMut()) -> Option<u32> {
        let ticks = self.ticks(f)?.saturating_sub(self.overhead);
        Some((f64::from(ticks) / self.ticks_per_instruction + 0.5) as u32)
    }

    /// SysTick ticks elapsed during `f`, `None` if the counter wrapped.
    fn ticks(&mut self, f: &mut dyn FnMut()) -> Option<u32> {
        self.syst.clear_current();
        while SYST::get_current() == 0 {}
        let _ = self.syst.has_wrapped(); // reading clears the flag
        let start = SYST::get_current();
        core::hint::black_box(&mut *f)();
        let end = SYST::get_current();
        (!self.syst.has_wrapped()).then_some(start - end)
    }
}
