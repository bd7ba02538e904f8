//! Code-size probe: one attention instance (causal, NQ = NK = 32, D = DV = 16).
//! The program is in `../probe.rs`; `.ci/firmware.sh` compares the probes' `.text`.

#![no_std]
#![no_main]

#[path = "../probe.rs"]
mod probe;

probe::probe!(one);
