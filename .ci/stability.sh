#!/usr/bin/env bash
# Numerical stability (issues 3 and 16), beyond what `.ci/run`'s three
# `cargo test --release` runs already cover (every test there runs on every
# backend the build and CPU support): the deterministic battery of
# tests/backend_agreement.rs, recorded by several builds under
# target/backend-agreement/<build>/<arithmetic>.txt. Each run checks every
# backend it has against the oracle and against each other, and compares
# itself with the builds recorded before it: the same arithmetic must give
# the same bits in every build, so each backend the default build chooses
# at run time is shown equal to the compile-time build of that backend:
#
#   scalar      default build (with_backend)  =  --features force-scalar
#   f32x4       default build                 =  --no-default-features (SSE2, no dispatch)
#   f32x8-fma   default build (dispatched)    =  -C target-feature=+avx2,+fma,+f16c
#   f32x16-fma  default build (dispatched)    =  -C target-feature=+avx512f,+avx512bw (where the CPU
#               has them; wide 1.7 does not compile with avx512f alone)
#
# plus the native build (-C target-cpu=native), compared with all of them.
# The last step checks that every pair above was recorded and is identical.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/backend-agreement
rm -rf "$out"

# record <build> [cargo test options...]: the battery of one build.
record() {
    local build=$1
    shift
    echo "--- backend agreement: $build build"
    SDPA_AGREEMENT_BUILD=$build cargo test --release "$@" --test backend_agreement -- --nocapture
}

has() { grep -qw "$1" /proc/cpuinfo; }

record default
record force-scalar --features force-scalar
record sse2-static --no-default-features
if has avx2 && has fma && has f16c; then
    RUSTFLAGS="-C target-feature=+avx2,+fma,+f16c" record avx2-static --target-dir target/avx2
else
    echo "notice: this CPU has no AVX2+FMA+F16C: the f32x8 backend is neither dispatched nor built statically here"
fi
if has avx512f && has avx512bw; then
    RUSTFLAGS="-C target-feature=+avx512f,+avx512bw" record avx512-static --target-dir target/avx512
else
    echo "notice: this CPU has no AVX-512F+BW: the f32x16 backend is not run here (neither dispatched nor built statically)"
fi
RUSTFLAGS="-C target-cpu=native" record native --target-dir target/native

# same <arithmetic> <build> <build>: the two records exist and are identical.
same() {
    if cmp -s "$out/$2/$1.txt" "$out/$3/$1.txt"; then
        echo "same bits: $1 in the $2 and $3 builds"
    else
        echo "FAIL: $1 differs between the $2 and $3 builds, or one of them is missing" >&2
        ls -R "$out" >&2
        exit 1
    fi
}

same scalar default force-scalar
same f32x4 default sse2-static
if has avx2 && has fma && has f16c; then same f32x8-fma default avx2-static; fi
if has avx512f && has avx512bw; then same f32x16-fma default avx512-static; fi
