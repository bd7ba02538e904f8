//! What the CPU (and the OS, which must save the wide registers) supports:
//! cpuid and `xgetbv`, read once per process by [`super::super::select`].

use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
use core::sync::atomic::{AtomicU8, Ordering};

/// The instruction-set extensions the backends need. Made only by
/// [`detect`], so a `true` field always comes from the CPU itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Features {
    /// AVX2, FMA and F16C, with the OS saving YMM state.
    pub(crate) avx2: bool,
    /// AVX-512F (with AVX2, FMA, F16C), with the OS saving ZMM and mask state.
    pub(crate) avx512: bool,
}

/// The detected features: bit 0 set once detected, bit 1 AVX2, bit 2 AVX-512.
static DETECTED: AtomicU8 = AtomicU8::new(0);

/// [`detect`], run once per process (a race runs it twice, harmlessly).
#[inline]
pub(crate) fn features() -> Features {
    let mut bits = DETECTED.load(Ordering::Relaxed);
    if bits == 0 {
        let f = detect();
        bits = 1 | u8::from(f.avx2) << 1 | u8::from(f.avx512) << 2;
        DETECTED.store(bits, Ordering::Relaxed);
    }
    Features { avx2: bits & 2 != 0, avx512: bits & 4 != 0 }
}

/// Reads cpuid leaves 1 and 7 and, where the OS enabled `xsave`, `XCR0`.
pub(crate) fn detect() -> Features {
    // Miri cannot run `cpuid`: the x86 backends are not interpreted there.
    if cfg!(miri) {
        return Features { avx2: false, avx512: false };
    }
    let leaf0 = __cpuid(0);
    let leaf1 = __cpuid(1);
    let ecx = leaf1.ecx;
    let bit = |x: u32, n: u32| x & (1 << n) != 0;
    let (fma, osxsave, avx, f16c) = (bit(ecx, 12), bit(ecx, 27), bit(ecx, 28), bit(ecx, 29));
    let ebx7 = if leaf0.eax >= 7 { __cpuid_count(7, 0).ebx } else { 0 };
    let (avx2, avx512f) = (bit(ebx7, 5), bit(ebx7, 16));
    let xcr0 = if osxsave {
        // SAFETY: `xgetbv` needs the `xsave` feature, which OSXSAVE (cpuid
        // leaf 1, ECX bit 27) reports as enabled by the OS; register 0 (XCR0)
        // always exists then.
        unsafe { _xgetbv(0) }
    } else {
        0
    };
    let ymm_state = xcr0 & 0b110 == 0b110; // SSE and AVX state
    let zmm_state = xcr0 & 0b1110_0110 == 0b1110_0110; // plus opmask, ZMM_Hi256, Hi16_ZMM
    let avx2 = avx && avx2 && fma && f16c && ymm_state;
    Features { avx2, avx512: avx2 && avx512f && zmm_state }
}

#[cfg(test)]
mod tests {
    extern crate std;

    #[test]
    fn detection_agrees_with_the_standard_library() {
        let f = super::detect();
        let std_avx2 = std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c");
        assert_eq!(f.avx2, std_avx2);
        assert_eq!(f.avx512, std_avx2 && std::is_x86_feature_detected!("avx512f"));
        assert_eq!(super::features(), f, "the cached result is the detected one");
    }
}
