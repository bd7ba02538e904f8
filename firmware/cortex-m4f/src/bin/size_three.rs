//! Code-size probe: size_two plus a third shape (the seed toy: NQ = 3, NK = 5, D = 4, DV = 6).
//! Inputs go through `black_box`, so nothing is constant-folded away.
//! `.ci/firmware.sh` compares the three with arm-none-eabi-size.

#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use sdpa::{Alignment, Matrix, Options, attention};

#[entry]
fn main() -> ! {
    let q = black_box(Matrix::<32, 16>::zeros());
    let k = black_box(Matrix::<32, 16>::zeros());
    let v = black_box(Matrix::<32, 16>::zeros());
    let mut out = Matrix::<32, 16>::zeros();
    attention(&q, &k, &v, &mut out, &Options::new().causal());
    black_box(&out);
    let q1 = black_box(Matrix::<1, 32>::zeros());
    let k1 = black_box(Matrix::<128, 32>::zeros());
    let v1 = black_box(Matrix::<128, 32>::zeros());
    let mut out1 = Matrix::<1, 32>::zeros();
    attention(&q1, &k1, &v1, &mut out1, &Options::new().causal().alignment(Alignment::BottomRight));
    black_box(&out1);
    let q2 = black_box(Matrix::<3, 4>::zeros());
    let k2 = black_box(Matrix::<5, 4>::zeros());
    let v2 = black_box(Matrix::<5, 6>::zeros());
    let mut out2 = Matrix::<3, 6>::zeros();
    attention(&q2, &k2, &v2, &mut out2, &Options::new());
    black_box(&out2);
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    #[allow(clippy::empty_loop)]
    loop {}
}
