//! Code-size probe: the first shape's inputs without the attention call (the baseline).
//! The program is in `../probe.rs`; `.ci/firmware.sh` compares the probes' `.text`.

#![no_std]
#![no_main]

#[path = "../probe.rs"]
mod probe;

probe::probe!(base);
