//! Code-size probe: size_one plus a second shape (a decode step: NQ = 1, NK = 128, D = DV = 32).
//! The program is in `../probe.rs`; `.ci/firmware.sh` compares the probes' `.text`.

#![no_std]
#![no_main]

#[path = "../probe.rs"]
mod probe;

probe::probe!(one, second);
