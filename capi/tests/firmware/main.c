/*
 * C firmware for a Cortex-M4F linked against libsdpa_capi.a built for
 * thumbv7em-none-eabihf: a vector table, a reset handler (copies .data,
 * zeroes .bss, turns the FPU on); newlib's libm and libc only for the
 * benchmark's C peer and float64 reference (bench.c). It calls every exported
 * function, so linking it with the library's `no-panic-proof` panic handler
 * (a call to a symbol defined nowhere) and --gc-sections proves that no
 * panic is reachable from any of them. On QEMU (-machine mps2-an386
 * -semihosting) it also runs: numpy's seed toy, a causal property, the
 * llama-style layer's forward and decode against numpy, and refusals; it
 * exits 0 only if every check passes. Then the instruction-count benchmark
 * of issue 13 (bench.c: sdpa_attention and the C peer of peer.c on five
 * workloads, checked against float64).
 *
 * Build: build.sh; run: see .ci/capi.sh.
 */
#include "bench.h"
#include "sdpa.h"
#include "semihost.h"
#include "vectors.h"

#include <stdint.h>

/* ---- checks ---- */
static unsigned passed, failed;
static void check(int ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        print("FAIL: ");
        print(what);
        print("\n");
    }
}
static double absd(double x) { return x < 0 ? -x : x; }
static int close_to(const float *ours, const double *want, unsigned n, double tol) {
    for (unsigned i = 0; i < n; i++)
        if (!(absd((double)ours[i] - want[i]) <= tol)) return 0;
    return 1;
}
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Inputs the optimizer cannot see through, so every call is a real call. */
static volatile size_t opaque_one = 1;

static float out[128], weights[64], scratch[1024];
static float storage[SDPA_KV_CACHE_FLOATS(LLAMA_GQA_KVH, LLAMA_GQA_T, LLAMA_GQA_HD)];
static SdpaKvCache cache;

int main(void) {
    print("sdpa C firmware on Cortex-M4F, backend ");
    print(sdpa_backend());
    print("\n");

    /* The seed toy against numpy, with weights, then fused, then one row. */
    SdpaShape toy = { .queries = 3, .keys = 5, .head_dim = 4, .value_dim = 6 };
    check(sdpa_attention_weights(toy, SEED_Q, SEED_K, SEED_V, out, weights, NULL) == SDPA_STATUS_OK, "weights call");
    check(close_to(out, SEED_OUT, 18, 1e-5) && close_to(weights, SEED_WEIGHTS, 15, 1e-5), "seed toy vs numpy");
    check(sdpa_attention(toy, SEED_Q, SEED_K, SEED_V, out, NULL) == SDPA_STATUS_OK, "attention call");
    check(close_to(out, SEED_OUT, 18, 1e-5), "fused seed toy vs numpy");
    check(sdpa_attention_rows(toy, SEED_Q, SEED_K, SEED_V, 2, opaque_one, out, NULL) == SDPA_STATUS_OK, "rows call");
    check(close_to(out, SEED_OUT + 12, 6, 1e-5), "row 2 vs numpy");

    /* Causal: query 0 sees key 0 only, so its output is V's row 0 exactly. */
    SdpaOptions causal = { .flags = SDPA_FLAG_CAUSAL };
    check(sdpa_attention(toy, SEED_Q, SEED_K, SEED_V, out, &causal) == SDPA_STATUS_OK, "causal call");
    int row0 = 1;
    for (int c = 0; c < 6; c++) row0 &= out[c] == SEED_V[c];
    check(row0, "causal row 0 is V row 0");

    /* Kernels. */
    float r = 0, x[3] = { 0.0f, 0.0f, 0.0f };
    check(sdpa_dot(SEED_Q, SEED_K, 4 * opaque_one, &r) == SDPA_STATUS_OK, "dot call");
    check(sdpa_dot_rows(SEED_Q, 4, SEED_K, 5, out) == SDPA_STATUS_OK && out[0] == r, "dot_rows equals dot");
    check(sdpa_softmax(x, 3) == SDPA_STATUS_OK && absd(x[1] - 1.0 / 3.0) < 1e-6, "softmax of zeros is uniform");

    /* The llama-style layer: forward and decode against numpy. */
    const SdpaLayer llama = { .d_model = LLAMA_GQA_D, .q_heads = LLAMA_GQA_QH, .kv_heads = LLAMA_GQA_KVH,
                              .head_dim = LLAMA_GQA_HD, .weights = LLAMA_GQA_PACKED,
                              .weights_len = COUNT(LLAMA_GQA_PACKED), .positions = SDPA_POSITIONS_ROPE_HALF_SPLIT };
    size_t len = 0, dlen = 0, slen = 0;
    check(sdpa_layer_weights_len(&llama, &len) == SDPA_STATUS_OK && len == COUNT(LLAMA_GQA_PACKED), "weights_len");
    check(sdpa_layer_scratch_len(&llama, LLAMA_GQA_T, &len) == SDPA_STATUS_OK && len <= COUNT(scratch), "scratch_len");
    check(sdpa_kv_cache_storage_len(&llama, LLAMA_GQA_T, &slen) == SDPA_STATUS_OK && slen == COUNT(storage), "storage");
    check(sdpa_decode_scratch_len(&llama, LLAMA_GQA_T, &dlen) == SDPA_STATUS_OK, "decode scratch_len");
    SdpaLayerMask mask = { .flags = SDPA_FLAG_CAUSAL };
    check(sdpa_layer_forward(&llama, LLAMA_GQA_X, LLAMA_GQA_T, &mask, out, scratch, COUNT(scratch)) == SDPA_STATUS_OK,
          "forward call");
    check(close_to(out, LLAMA_GQA_OUT, COUNT(LLAMA_GQA_OUT), 1e-5), "layer forward vs numpy");
    check(sdpa_kv_cache_init(&cache, &llama, storage, COUNT(storage), LLAMA_GQA_T, SDPA_CACHE_MODE_FIXED) ==
              SDPA_STATUS_OK,
          "cache init");
    int decoded = 1;
    for (size_t t = 0; t < LLAMA_GQA_T; t++) {
        float y[LLAMA_GQA_D];
        size_t position = 0;
        decoded &= sdpa_layer_decode(&llama, LLAMA_GQA_X + t * LLAMA_GQA_D, y, &cache, scratch, dlen, &position) ==
                       SDPA_STATUS_OK &&
                   position == t && close_to(y, LLAMA_GQA_OUT + t * LLAMA_GQA_D, LLAMA_GQA_D, 1e-5);
    }
    check(decoded, "layer decode vs numpy");
    check(sdpa_layer_decode(&llama, LLAMA_GQA_X, out, &cache, scratch, dlen, NULL) == SDPA_STATUS_CACHE_FULL,
          "a full cache");
    check(sdpa_kv_cache_clear(&cache) == SDPA_STATUS_OK && cache.len == 0, "clear");

    /* Refusals. */
    uint8_t keep[5] = { 1, 1, 2, 1, 1 };
    SdpaOptions bad = { .mask_kind = SDPA_MASK_PER_KEY, .mask = keep };
    check(sdpa_attention(toy, SEED_Q, SEED_K, SEED_V, out, &bad) == SDPA_STATUS_INVALID_MASK, "invalid mask");
    check(sdpa_attention(toy, SEED_Q, SEED_K, SEED_V, (float *)(void *)(uintptr_t)SEED_K, NULL) == SDPA_STATUS_ALIASING,
          "aliasing");
    SdpaShape huge = { .queries = SIZE_MAX / 2, .keys = 5, .head_dim = 4, .value_dim = 6 };
    check(sdpa_attention(huge, SEED_Q, SEED_K, SEED_V, out, NULL) == SDPA_STATUS_SIZE_OVERFLOW, "overflow");
    check(sdpa_status_message(SDPA_STATUS_ALIASING)[0] == 'a', "message");

#ifdef SDPA_CANARY
    /* The library's deliberate panic path (feature `canary`): with the
       no-panic-proof handler this program must not link. */
    extern float sdpa_canary(size_t i);
    check(sdpa_canary(opaque_one) == 1.0f, "canary");
#endif

    /* Last, so the counted regions follow everything else. */
    check(bench_run() == 0, "bench: sdpa_attention and the C peer against float64");

    print_uint(passed);
    print(" passed, ");
    print_uint(failed);
    print(" failed\n");
    return failed == 0;
}

/* ---- start-up ---- */
extern uint32_t _data_start, _data_end, _data_load, _bss_start, _bss_end, _stack_top;

void Reset_Handler(void);
void Reset_Handler(void) {
    uint32_t *src = &_data_load, *dst = &_data_start;
    while (dst < &_data_end) *dst++ = *src++;
    for (dst = &_bss_start; dst < &_bss_end;) *dst++ = 0;
    /* CPACR: full access to coprocessors 10 and 11, the FPU. */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    stop(main());
}

static void Fault_Handler(void) {
    print("FAIL: fault\n");
    stop(0);
}

typedef void (*Vector)(void);
__attribute__((section(".vectors"), used)) static const Vector vectors[16] = {
    (Vector)(uintptr_t)&_stack_top, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler,
};
