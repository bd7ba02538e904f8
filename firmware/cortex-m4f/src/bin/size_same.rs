//! Code-size probe: size_one plus a second shape on the same engine (the
//! lanes engine: causal, NQ = NK = 64, D = DV = 16). The program is in
//! `../probe.rs`; `.ci/firmware.sh` compares the probes' `.text`.

#![no_std]
#![no_main]

#[path = "../probe.rs"]
mod probe;

probe::probe!(one, same);
