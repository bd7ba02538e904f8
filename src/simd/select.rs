//! Which backend runs a call: the widest this build compiled and the CPU
//! supports, unless a narrower one is requested. Every public entry point
//! goes through [`dispatch`] once.

use super::Simd;
use super::portable::Portable;
#[cfg(sdpa_wide4)]
use super::wide4::Wide4;
#[cfg(sdpa_avx2)]
use super::x86::Avx2;
#[cfg(sdpa_avx512)]
use super::x86::Avx512;

/// A SIMD backend, narrowest first (the order [`set_backend`] limits by).
///
/// ```
/// use sdpa::Backend;
/// assert!(Backend::Scalar < Backend::F32x16);
/// assert_eq!(Backend::F32x8.name(), "f32x8");
/// assert!(Backend::Scalar.is_supported()); // the portable backend runs everywhere
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Backend {
    /// Four lanes in plain arrays, no target features: what Cortex-M and
    /// RISC-V run, and the reference the others are tested against.
    Scalar,
    /// `f32x4`: SSE2 on x86-64, NEON on aarch64, simd128 on wasm32.
    F32x4,
    /// `f32x8`: AVX2 + FMA (+ F16C) on x86-64.
    F32x8,
    /// `f32x16`: AVX-512F on x86-64.
    F32x16,
}

impl Backend {
    /// Every backend, narrowest first.
    pub const ALL: [Backend; 4] = [Backend::Scalar, Backend::F32x4, Backend::F32x8, Backend::F32x16];

    /// The backend's name: `"scalar"`, `"f32x4"`, `"f32x8"` or `"f32x16"`.
    ///
    /// ```
    /// assert_eq!(sdpa::Backend::F32x16.name(), "f32x16");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::F32x4 => "f32x4",
            Backend::F32x8 => "f32x8",
            Backend::F32x16 => "f32x16",
        }
    }

    /// Lanes of `f32` per vector.
    ///
    /// ```
    /// assert_eq!(sdpa::Backend::F32x8.lanes(), 8);
    /// assert_eq!(sdpa::Backend::Scalar.lanes(), 4);
    /// ```
    pub const fn lanes(self) -> usize {
        match self {
            Backend::Scalar | Backend::F32x4 => 4,
            Backend::F32x8 => 8,
            Backend::F32x16 => 16,
        }
    }

    /// Whether its multiply-add rounds once (FMA): the only arithmetic
    /// difference between backends. `f32x4` fuses on aarch64 (and on x86
    /// builds that enable `fma`); the portable backend never does.
    ///
    /// ```
    /// assert!(sdpa::Backend::F32x16.fused_mul_add());
    /// assert!(!sdpa::Backend::Scalar.fused_mul_add());
    /// ```
    pub const fn fused_mul_add(self) -> bool {
        match self {
            Backend::Scalar => false,
            Backend::F32x4 => cfg!(any(target_arch = "aarch64", target_feature = "fma")),
            Backend::F32x8 | Backend::F32x16 => true,
        }
    }

    /// The backend called `name` (as [`name`](Self::name) gives it).
    ///
    /// ```
    /// use sdpa::Backend;
    /// assert_eq!(Backend::from_name("f32x8"), Some(Backend::F32x8));
    /// assert_eq!(Backend::from_name("avx9"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Whether this build compiled the backend and this CPU can run it.
    ///
    /// ```
    /// let usable: Vec<_> = sdpa::Backend::ALL.into_iter().filter(|b| b.is_supported()).collect();
    /// assert!(usable.contains(&sdpa::backend()));
    /// ```
    pub fn is_supported(self) -> bool {
        match self {
            Backend::Scalar => true,
            Backend::F32x4 => cfg!(sdpa_wide4),
            #[cfg(sdpa_avx2)]
            Backend::F32x8 => Avx2::new().is_some(),
            #[cfg(sdpa_avx512)]
            Backend::F32x16 => Avx512::new().is_some(),
            #[allow(unreachable_patterns)] // the arms above exist only on x86-64
            _ => false,
        }
    }
}

impl core::fmt::Display for Backend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// [`set_backend`] was asked for a backend this build or CPU cannot run.
///
/// ```
/// use sdpa::{Backend, Unsupported};
/// let e = Unsupported(Backend::F32x16);
/// assert_eq!(e.to_string(), "the f32x16 backend is not available on this build or CPU");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Unsupported(pub Backend);

impl core::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "the {} backend is not available on this build or CPU", self.0)
    }
}

impl core::error::Error for Unsupported {}

/// The backend the next call on this thread will run: the widest one this
/// build compiled and this CPU supports (detected once per process, with
/// cpuid, on x86-64), unless [`set_backend`], `with_backend` (`std`) or the
/// `SDPA_BACKEND` environment variable (`std` builds) asks for a narrower one.
///
/// ```
/// let b = sdpa::backend();
/// assert!(["f32x16", "f32x8", "f32x4", "scalar"].contains(&b.name()));
/// assert!(b.is_supported());
/// ```
pub fn backend() -> Backend {
    dispatch!(|s| name_of(s))
}

/// The backend `s` is.
fn name_of<const L: usize, S: Simd<L>>(_: S) -> Backend {
    S::BACKEND
}

/// Limits every later call in the process to `limit` (a narrower backend
/// than the CPU's widest, for bit-reproducible results across machines,
/// tests or benchmarks); `None` goes back to the widest. Refused, changing
/// nothing, when `limit` is not [supported](Backend::is_supported).
///
/// ```
/// use sdpa::{Backend, set_backend};
/// set_backend(Some(Backend::Scalar)).unwrap();
/// assert_eq!(sdpa::backend(), Backend::Scalar);
/// set_backend(None).unwrap();
/// assert!(sdpa::backend() >= Backend::Scalar);
/// ```
pub fn set_backend(limit: Option<Backend>) -> Result<(), Unsupported> {
    if let Some(b) = limit.filter(|b| !b.is_supported()) {
        return Err(Unsupported(b));
    }
    requested::set_global(limit);
    Ok(())
}

/// Runs `f` with this thread's calls limited to `limit` (as
/// [`set_backend`], for this thread only, and only inside `f`). The tests
/// use it to run every backend in one process.
///
/// ```
/// use sdpa::{Backend, with_backend};
/// assert_eq!(with_backend(Backend::Scalar, sdpa::backend), Ok(Backend::Scalar));
/// ```
#[cfg(feature = "std")]
pub fn with_backend<R>(limit: Backend, f: impl FnOnce() -> R) -> Result<R, Unsupported> {
    if !limit.is_supported() {
        return Err(Unsupported(limit));
    }
    Ok(requested::scoped(limit, f))
}

/// The backend token chosen for one call.
pub(crate) enum Choice {
    #[cfg(sdpa_avx512)]
    F32x16(Avx512),
    #[cfg(sdpa_avx2)]
    F32x8(Avx2),
    #[cfg(sdpa_wide4)]
    F32x4(Wide4),
    Scalar(Portable),
}

/// The backend [`backend`] names, as a token. Static when only one backend
/// is compiled (Cortex-M, RISC-V, `force-scalar`); else one relaxed atomic
/// load (plus a thread-local read in `std` builds) and, on x86-64, the
/// cached cpuid result.
#[inline(always)]
pub(crate) fn choice() -> Choice {
    #[cfg(any(sdpa_wide4, sdpa_avx2, sdpa_avx512))]
    return choice_at_most(requested::limit());
    #[cfg(not(any(sdpa_wide4, sdpa_avx2, sdpa_avx512)))]
    Choice::Scalar(Portable)
}

/// The widest supported backend not wider than `limit`.
#[inline(always)]
#[cfg_attr(not(any(sdpa_wide4, sdpa_avx2, sdpa_avx512)), allow(unused_variables, dead_code))]
pub(crate) fn choice_at_most(limit: Backend) -> Choice {
    #[cfg(sdpa_avx512)]
    if limit >= Backend::F32x16
        && let Some(s) = Avx512::new()
    {
        return Choice::F32x16(s);
    }
    #[cfg(sdpa_avx2)]
    if limit >= Backend::F32x8
        && let Some(s) = Avx2::new()
    {
        return Choice::F32x8(s);
    }
    #[cfg(sdpa_wide4)]
    if limit >= Backend::F32x4 {
        return Choice::F32x4(Wide4);
    }
    Choice::Scalar(Portable)
}

/// `dispatch!(|s| body)`: evaluates `body` once, with `s` the token of the
/// backend [`choice`] picks, inside that backend's target features (the
/// body is compiled once per compiled backend). Every public entry point
/// dispatches exactly once; everything below it is generic over [`Simd`].
/// `dispatch!(on choice, |s| body)` does the same for a given [`Choice`].
macro_rules! dispatch {
    (|$s:ident| $body:expr) => {
        $crate::simd::select::dispatch!(on $crate::simd::select::choice(), |$s| $body)
    };
    (on $choice:expr, |$s:ident| $body:expr) => {
        match $choice {
            #[cfg(sdpa_avx512)]
            $crate::simd::select::Choice::F32x16($s) => $crate::simd::Simd::vectorize(
                $s,
                #[inline(always)]
                || $body,
            ),
            #[cfg(sdpa_avx2)]
            $crate::simd::select::Choice::F32x8($s) => $crate::simd::Simd::vectorize(
                $s,
                #[inline(always)]
                || $body,
            ),
            #[cfg(sdpa_wide4)]
            $crate::simd::select::Choice::F32x4($s) => $body,
            $crate::simd::select::Choice::Scalar($s) => $body,
        }
    };
}
pub(crate) use dispatch;

/// `each_backend!(|s| body)` (tests): runs `body` once on every backend this
/// build and CPU support, each inside its target features.
#[cfg(test)]
macro_rules! each_backend {
    (|$s:ident| $body:expr) => {
        for backend in $crate::simd::Backend::ALL.into_iter().filter(|b| b.is_supported()) {
            $crate::simd::select::dispatch!(on $crate::simd::select::choice_at_most(backend), |$s| $body)
        }
    };
}
#[cfg(test)]
pub(crate) use each_backend;

/// The requested limit: per thread (`std`), else per process, else none.
#[cfg(any(sdpa_wide4, sdpa_avx2, sdpa_avx512))]
mod requested {
    use super::Backend;
    use core::sync::atomic::{AtomicU8, Ordering};

    /// `0`: no limit; `1 + i`: `Backend::ALL[i]`; `UNREAD` (std builds): the
    /// environment variable has not been read yet.
    static GLOBAL: AtomicU8 = AtomicU8::new(if cfg!(feature = "std") { UNREAD } else { 0 });
    const UNREAD: u8 = u8::MAX;

    fn encode(limit: Option<Backend>) -> u8 {
        limit.map_or(0, |b| 1 + b as u8)
    }

    fn decode(code: u8) -> Backend {
        code.checked_sub(1).and_then(|i| Backend::ALL.get(usize::from(i)).copied()).unwrap_or(Backend::F32x16)
    }

    pub(super) fn set_global(limit: Option<Backend>) {
        GLOBAL.store(encode(limit), Ordering::Relaxed);
    }

    /// The process-wide limit, reading `SDPA_BACKEND` on first use in `std`
    /// builds (an unknown or unsupported name is ignored).
    fn global() -> u8 {
        let code = GLOBAL.load(Ordering::Relaxed);
        #[cfg(feature = "std")]
        if code == UNREAD {
            let from_env = std::env::var("SDPA_BACKEND").ok().and_then(|name| Backend::from_name(&name));
            let code = encode(from_env.filter(|b| b.is_supported()));
            // Only the first reader stores it: a `set_backend` in between wins.
            let _ = GLOBAL.compare_exchange(UNREAD, code, Ordering::Relaxed, Ordering::Relaxed);
            return GLOBAL.load(Ordering::Relaxed);
        }
        code
    }

    #[cfg(feature = "std")]
    std::thread_local! {
        static SCOPED: core::cell::Cell<u8> = const { core::cell::Cell::new(0) };
    }

    /// The limit for the calling thread.
    #[inline]
    pub(super) fn limit() -> Backend {
        #[cfg(feature = "std")]
        {
            let scoped = SCOPED.with(|s| s.get());
            if scoped != 0 {
                return decode(scoped);
            }
        }
        decode(global())
    }

    /// Runs `f` with the calling thread limited to `limit`, restoring the
    /// previous limit afterwards (also when `f` unwinds).
    #[cfg(feature = "std")]
    pub(super) fn scoped<R>(limit: Backend, f: impl FnOnce() -> R) -> R {
        struct Restore(u8);
        impl Drop for Restore {
            fn drop(&mut self) {
                SCOPED.with(|s| s.set(self.0));
            }
        }
        let _restore = Restore(SCOPED.with(|s| s.replace(encode(Some(limit)))));
        f()
    }
}

/// Only the portable backend is compiled: nothing to request.
#[cfg(not(any(sdpa_wide4, sdpa_avx2, sdpa_avx512)))]
mod requested {
    use super::Backend;

    pub(super) fn set_global(_: Option<Backend>) {}

    #[cfg(feature = "std")]
    pub(super) fn scoped<R>(_: Backend, f: impl FnOnce() -> R) -> R {
        f()
    }
}
