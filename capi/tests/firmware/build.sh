#!/usr/bin/env bash
# Builds the C firmware: main.c, semihost.c and bench.c at -Os with strict
# C99 warnings, the C peer peer.c at the issue's -O3, linked against an
# sdpa_capi static library, newlib's libm and libc, and libgcc. Used by
# .ci/capi.sh (its tests and no-panic proof) and firmware/scripts/count.sh
# (instruction counts).
#
#     capi/tests/firmware/build.sh LIB OUT.elf [extra C flags for main.c]
#
# Link order: the C objects, then newlib's libm, then LIB, then libc and
# libgcc, so the C code's math (the peer's expf) is newlib's and sdpa's own
# calls resolve inside LIB first (the build prints where expf, fmaxf, fminf
# and memset come from).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
include=$here/../../include
lib=$1
elf=$2
shift 2
build=$(dirname "$elf")
mkdir -p "$build"
ARM_FLAGS=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16)
C_FLAGS=(-std=c99 -Wall -Wextra -Werror -pedantic -I"$include" -I"$here/..")
objects=()
for src in main semihost bench; do
    arm-none-eabi-gcc "${ARM_FLAGS[@]}" "${C_FLAGS[@]}" -Os -ffunction-sections -fdata-sections "$@" \
        -c "$here/$src.c" -o "$build/$src.o"
    objects+=("$build/$src.o")
done
arm-none-eabi-gcc "${ARM_FLAGS[@]}" -O3 -Wall -Wextra -Werror -ffunction-sections -fdata-sections \
    -c "$here/peer.c" -o "$build/peer.o"
objects+=("$build/peer.o")
arm-none-eabi-gcc "${ARM_FLAGS[@]}" -nostdlib -nostartfiles -T "$here/link.ld" "${objects[@]}" -lm "$lib" -lc -lgcc \
    -Wl,--gc-sections -Wl,-z,noexecstack \
    -Wl,--trace-symbol=expf,--trace-symbol=fmaxf,--trace-symbol=fminf,--trace-symbol=memset -o "$elf"
