//! Code-size probe: size_two plus a third shape (the seed toy: NQ = 3, NK = 5, D = 4, DV = 6).
//! The program is in `../probe.rs`; `.ci/firmware.sh` compares the probes' `.text`.

#![no_std]
#![no_main]

#[path = "../probe.rs"]
mod probe;

probe::probe!(one, second, third);
