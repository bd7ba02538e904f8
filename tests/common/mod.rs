//! Proptest glue shared by the property tests: the run configuration
//! ([`prop`]) and random attention problems over const shapes
//! ([`problem`]). The f64 oracle, its error bounds and the seeded generator
//! are the `sdpa-oracle` crate (`oracle/`), shared with the fuzz targets.
#![allow(dead_code)] // each test binary uses its own subset

pub mod problem;
pub mod prop;
