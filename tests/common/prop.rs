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

use proptest::test_runner::TestCaseError;
use sdpa::__engines::Engine;
use sdpa::Backend;
use sdpa_oracle::backend::{each_backend, each_backend_and_engine};

/// Runs one generated case's `check` on every supported backend (each
/// under `with_backend`) and turns the per-backend results into one: `Ok`
/// if every backend passed, else one failure naming each failing backend
/// with its message (every backend runs, so a failure shows which backends
/// share it). A rejection (`prop_assume!`) depends on the inputs alone and
/// is passed on as it is.
pub fn on_every_backend(mut check: impl FnMut(Backend) -> Result<(), TestCaseError>) -> Result<(), TestCaseError> {
    merge(each_backend(|b| (format!("{b} backend"), check(b))))
}

/// [`on_every_backend`] with every attention engine forced in turn on each
/// backend (`sdpa_oracle::backend::with_engine`; an engine that does not
/// accept the problem leaves it on the usual choice, which the model
/// `sdpa_oracle::backend::engine` names).
pub fn on_every_engine(
    mut check: impl FnMut(Backend, Engine) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    merge(each_backend_and_engine(|b, e| (format!("{b} backend with the {e:?} engine forced"), check(b, e))))
}

fn merge(results: Vec<(String, Result<(), TestCaseError>)>) -> Result<(), TestCaseError> {
    let mut failures = Vec::new();
    for (on, result) in results {
        match result {
            Ok(()) => {}
            Err(TestCaseError::Reject(why)) => return Err(TestCaseError::Reject(why)),
            Err(TestCaseError::Fail(why)) => failures.push(format!("on the {on}: {why}")),
        }
    }
    if failures.is_empty() { Ok(()) } else { Err(TestCaseError::fail(failures.join("\n"))) }
}
