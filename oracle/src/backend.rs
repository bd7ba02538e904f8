//! Which sdpa backend a test runs on, read from sdpa's public API, and the
//! loop that runs a test body on every backend this build and CPU support.

use sdpa::Backend;

/// Lanes of the backend the calling thread runs (the portable scalar
/// backend has 4).
pub fn lanes() -> usize {
    sdpa::backend().lanes()
}

/// Whether the backend the calling thread runs fuses multiply-adds
/// (`mul_add` rounds once).
pub fn fused() -> bool {
    sdpa::backend().fused_mul_add()
}

/// Every backend this build compiled and this CPU runs, narrowest first.
pub fn supported() -> Vec<Backend> {
    Backend::ALL.into_iter().filter(|b| b.is_supported()).collect()
}

/// Runs `body` once per supported backend, with this thread's sdpa calls
/// limited to it, and returns what each run gave (in [`supported`] order).
/// A failing assertion names the backend.
pub fn each_backend<R>(mut body: impl FnMut(Backend) -> R) -> Vec<R> {
    supported()
        .into_iter()
        .map(|b| {
            sdpa::with_backend(b, || {
                let guard = Named(b);
                let r = body(b);
                core::mem::forget(guard);
                r
            })
            .expect("a supported backend")
        })
        .collect()
}

/// Prints the backend a panicking test body ran on.
struct Named(Backend);

impl Drop for Named {
    fn drop(&mut self) {
        eprintln!("(the failure above ran on sdpa's {} backend)", self.0);
    }
}
