//! Code-size probe: the same program as size_one without the attention call (the baseline).
//! Inputs go through `black_box`, so nothing is constant-folded away.
//! `.ci/firmware.sh` compares the three with arm-none-eabi-size.

#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use sdpa::{Matrix, Options};

#[entry]
fn main() -> ! {
    let q = black_box(Matrix::<32, 16>::zeros());
    let k = black_box(Matrix::<32, 16>::zeros());
    let v = black_box(Matrix::<32, 16>::zeros());
    let mut out = Matrix::<32, 16>::zeros();
    black_box((&q, &k, &v, &mut out, &Options::<32, 32>::new().causal()));
    black_box(&out);

    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    #[allow(clippy::empty_loop)]
    loop {}
}
