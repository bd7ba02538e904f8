//! Code-size probe: the baseline plus one layer decode step
//! (`sdpa::layer::SelfAttention::decode`: D 32, 2 heads of 16, KV cache of 32, RoPE).
//! The program is in `../probe.rs`; `.ci/firmware.sh` compares the probes' `.text`.

#![no_std]
#![no_main]

#[path = "../probe.rs"]
mod probe;

probe::probe!(base, decode);
