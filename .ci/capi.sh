#!/usr/bin/env bash
# C ABI (issue 8): the capi/ crate's Rust tests and lints, the committed
# header and test vectors against their generators, the C test on x86_64,
# the Cortex-M4F firmware link (and its run on QEMU), and the link-time proof
# that no exported function can panic. Runs from a clean machine as root and
# installs what it needs. capi/ is its own workspace: nothing here touches
# the sdpa crate's build.
set -euo pipefail
cd "$(dirname "$0")/../capi"
export CARGO_TERM_COLOR=never

step() { printf '\n=== capi: %s\n' "$*"; }
fail() { printf 'capi: FAILED: %s\n' "$*" >&2; exit 1; }

CBINDGEN_VERSION=0.29.4
ARM_FLAGS=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16)
C_FLAGS=(-std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -Itests)
PROOF_SYMBOL=sdpa_capi_no_panic_proof_failed_a_panic_is_reachable

step "targets and tools"
rustup component add rustfmt clippy
rustup target add thumbv7em-none-eabihf
if ! command -v arm-none-eabi-gcc >/dev/null || ! command -v qemu-system-arm >/dev/null || ! command -v gcc >/dev/null ||
    ! command -v g++ >/dev/null; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y gcc g++ gcc-arm-none-eabi binutils-arm-none-eabi qemu-system-arm
fi
if [ "$(cbindgen --version 2>/dev/null || true)" != "cbindgen $CBINDGEN_VERSION" ]; then
    cargo install --locked cbindgen --version "$CBINDGEN_VERSION"
fi
python3 -c "import numpy" 2>/dev/null || python3 -m pip install --quiet numpy
arm-none-eabi-gcc --version | head -n 1

step "format, lints, Rust tests of the C ABI"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --features force-scalar -- -D warnings
cargo test
cargo test --features force-scalar

step "committed header and C test vectors equal the regenerated ones"
header=$(mktemp --suffix=.h)
cbindgen --config cbindgen.toml --quiet --output "$header"
diff -u include/sdpa.h "$header" || fail "include/sdpa.h is stale: cd capi && cbindgen --config cbindgen.toml --output include/sdpa.h"
python3 scripts/c_vectors.py
git diff --exit-code -- tests/vectors.h || fail "tests/vectors.h is stale: python3 capi/scripts/c_vectors.py"

step "the header alone compiles as strict C99 and as C++"
mkdir -p tests/build
printf '#include "sdpa.h"\nint main(void) { return SDPA_STATUS_OK; }\n' >tests/build/header_only.c
gcc "${C_FLAGS[@]}" -c tests/build/header_only.c -o tests/build/header_only.o
g++ -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude -x c++ -c tests/build/header_only.c -o tests/build/header_only_cpp.o
arm-none-eabi-gcc "${ARM_FLAGS[@]}" "${C_FLAGS[@]}" -fshort-enums -c tests/build/header_only.c -o tests/build/header_only_arm.o

step "C test on x86_64 (gcc, linked against libsdpa_capi.a)"
cargo build --release
gcc "${C_FLAGS[@]}" -O2 tests/test_sdpa.c target/release/libsdpa_capi.a -lm -o tests/build/test_sdpa
./tests/build/test_sdpa | tee tests/build/test_sdpa.log
grep -Eq '^capi: [0-9]+ passed, 0 failed$' tests/build/test_sdpa.log || fail "the C test did not pass"

step "Cortex-M4F: the library built with the no-panic-proof handler, linked into C firmware, run on QEMU"
cargo build --release --target thumbv7em-none-eabihf --features no-panic-proof --target-dir target/proof
lib=target/proof/thumbv7em-none-eabihf/release/libsdpa_capi.a
# LTO makes the crate one object: the handler's call to a symbol defined
# nowhere survives only if some exported function can reach a panic.
# (nm's listing is saved first: `nm | grep -q` under pipefail fails when grep
# stops reading early, which would hide a match.)
references() { arm-none-eabi-nm "$1" >tests/build/nm.txt 2>/dev/null || true; grep -c "U $PROOF_SYMBOL" tests/build/nm.txt || true; }
if [ "$(references "$lib")" != 0 ]; then
    fail "a panic is reachable from an exported function (libsdpa_capi.a references $PROOF_SYMBOL)"
fi
echo "no-panic proof: libsdpa_capi.a (every exported function) has no reference to the panic handler's symbol"
firmware() { # $1 = output, rest = extra flags for main.c (the build is shared with firmware/scripts/count.sh)
    tests/firmware/build.sh "$lib" "$@"
}
firmware tests/build/firmware.elf
arm-none-eabi-size tests/build/firmware.elf
timeout 300 qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -kernel tests/build/firmware.elf 2>&1 | tee tests/build/firmware.log ||
    fail "the C firmware failed on QEMU"
grep -Eq '^[0-9]+ passed, 0 failed$' tests/build/firmware.log || fail "the C firmware did not report its checks"
# The peer's expf must be newlib's (the build traces where it came from).
arm-none-eabi-nm tests/build/firmware.elf >tests/build/nm.txt
grep -q ' T __ieee754_expf$' tests/build/nm.txt || fail "the C peer's expf is not newlib's"

step "the proof can fail: a library with a deliberate panic (feature canary) must not link"
cargo build --release --target thumbv7em-none-eabihf --features no-panic-proof,canary --target-dir target/canary
lib=target/canary/thumbv7em-none-eabihf/release/libsdpa_capi.a
[ "$(references "$lib")" != 0 ] || fail "the canary's panic left no reference: the proof is blind"
if firmware tests/build/canary.elf -DSDPA_CANARY 2>tests/build/canary.log; then
    fail "firmware calling the canary linked: the proof is blind"
fi
grep -q "undefined reference to \`$PROOF_SYMBOL'" tests/build/canary.log ||
    { cat tests/build/canary.log; fail "the canary link failed for another reason than the panic"; }
echo "canary: link refused as expected (undefined reference to $PROOF_SYMBOL)"

step "Miri on the pointer handling (nightly; CAPI_MIRI=0 skips it)"
# The tests of every refusal, the attention and kernel calls and the region
# checks (the layer tests are left out: minutes each under the interpreter;
# of the 16-bit cache's, the refusals, which run two decode steps).
# Feature `miri` selects libm's portable code (no x86 inline assembly).
if [ "${CAPI_MIRI:-1}" != 0 ]; then
    rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
    rustup +nightly component add miri rust-src
    timeout 900 cargo +nightly miri test --features miri -- tests::errors tests::attention tests::kernels tests::multihead tests::kv16 tests::decode16::refusals check::
else
    echo "skipped (CAPI_MIRI=0)"
fi

echo "capi: PASS"
