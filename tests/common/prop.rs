//! Shared proptest configuration: at least 1,000 cases per property unless
//! `PROPTEST_CASES` says otherwise, failures saved under
//! `proptest-regressions/` (committed, replayed first on every run).

use proptest::test_runner::{Config, FileFailurePersistence};

/// Cases per property when `PROPTEST_CASES` is not set.
pub const DEFAULT_CASES: u32 = 1000;

/// The configuration for the properties of the test file `name` (without
/// `.rs`); its regressions live in `proptest-regressions/<name>.txt`
/// (paths are relative to the package root, where cargo runs tests).
pub fn config(regressions: &'static str) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..Config::default()
    }
}
