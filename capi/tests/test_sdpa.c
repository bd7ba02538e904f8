/*
 * The C test of sdpa.h, linked against libsdpa_capi.a: numpy's seed toy, a
 * masked case against a float64 reference written here, the kernels, the
 * self-attention layer against numpy's vectors (forward and decode with
 * fixed and rolling caches), the size macros, and every status code each
 * function can return, with a check that a refused call wrote nothing.
 *
 * Build (see .ci/capi.sh): gcc -std=c99 -Wall -Wextra -Werror -pedantic
 *     -Iinclude tests/test_sdpa.c target/release/libsdpa_capi.a -lm
 * Prints one line per failure and ends with "capi: N passed, M failed".
 */
#include "sdpa.h"
#include "vectors.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...)                                             \
    do {                                                             \
        if (cond) {                                                  \
            passed++;                                                \
        } else {                                                     \
            failed++;                                                \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            printf(__VA_ARGS__);                                     \
            printf("\n");                                            \
        }                                                            \
    } while (0)

/* A call's status equals `want`. */
#define EXPECT(call, want)                                                                        \
    do {                                                                                          \
        SdpaStatus got_ = (call);                                                                 \
        CHECK(got_ == (want), "got %d (%s), want %d (%s)", (int)got_, sdpa_status_message(got_), \
              (int)(want), sdpa_status_message(want));                                            \
    } while (0)

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define SENTINEL (-12345.0f)

static void fill(float *x, size_t n, float value) {
    for (size_t i = 0; i < n; i++) x[i] = value;
}

static int untouched(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] != SENTINEL) return 0;
    return 1;
}

static double max_err(const float *ours, const double *want, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)ours[i] - want[i]);
        if (!(e <= worst)) worst = e; /* NaN counts as worst */
    }
    return worst;
}

/* Deterministic values in [-1, 1). */
static uint32_t lcg_state;
static float next_value(void) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (float)(lcg_state >> 8) / (float)(1u << 23) - 1.0f;
}
static void random_fill(float *x, size_t n, uint32_t seed) {
    lcg_state = seed;
    for (size_t i = 0; i < n; i++) x[i] = next_value();
}

/* ---------------------------------------------------------------------------
 * The seed toy against numpy.
 */
static void test_seed_toy(void) {
    SdpaShape shape = { .queries = 3, .keys = 5, .head_dim = 4, .value_dim = 6 };
    float out[18], weights[15], fused[18], row[6];
    EXPECT(sdpa_attention_weights(shape, SEED_Q, SEED_K, SEED_V, out, weights, NULL), SDPA_STATUS_OK);
    CHECK(max_err(out, SEED_OUT, 18) < 1e-5, "out error %g", max_err(out, SEED_OUT, 18));
    CHECK(max_err(weights, SEED_WEIGHTS, 15) < 1e-5, "weights error %g", max_err(weights, SEED_WEIGHTS, 15));
    printf("seed toy: max |out - numpy| = %.2e, max |weights - numpy| = %.2e\n", max_err(out, SEED_OUT, 18),
           max_err(weights, SEED_WEIGHTS, 15));

    SdpaOptions defaults = { 0 };
    EXPECT(sdpa_attention(shape, SEED_Q, SEED_K, SEED_V, fused, &defaults), SDPA_STATUS_OK);
    CHECK(max_err(fused, SEED_OUT, 18) < 1e-5, "fused error %g", max_err(fused, SEED_OUT, 18));
    /* Each row alone is the full call's row, bit for bit. */
    for (size_t i = 0; i < 3; i++) {
        EXPECT(sdpa_attention_rows(shape, SEED_Q, SEED_K, SEED_V, i, 1, row, NULL), SDPA_STATUS_OK);
        CHECK(memcmp(row, fused + 6 * i, sizeof row) == 0, "row %zu differs from the full call", i);
    }
}

/* ---------------------------------------------------------------------------
 * A masked case against a float64 reference of the documented semantics.
 */
enum { NQ = 5, NK = 37, D = 8, DV = 5 };

/* out = softmax(q.k*scale - slope*|p(i)-j| + bias) v over the visible keys, in double. */
static void reference(const float *q, const float *k, const float *v, const SdpaOptions *o, double *out,
                      double *weights) {
    for (size_t i = 0; i < NQ; i++) {
        double s[NK], max = -INFINITY, sum = 0.0;
        long p = (o->flags & SDPA_FLAG_BOTTOM_RIGHT) ? (long)i + NK - NQ : (long)i;
        double scale = (o->flags & SDPA_FLAG_SCALE) ? o->scale : 1.0 / sqrt((double)D);
        for (size_t j = 0; j < NK; j++) {
            long jj = (long)j;
            int visible = 1;
            if ((o->flags & SDPA_FLAG_CAUSAL) && jj > p) visible = 0;
            if ((o->flags & SDPA_FLAG_WINDOW) && (jj < p - (long)o->window_left || jj > p + (long)o->window_right))
                visible = 0;
            if (o->mask_kind == SDPA_MASK_PER_KEY && o->mask[j] == 0) visible = 0;
            if (o->mask_kind == SDPA_MASK_PER_QUERY && o->mask[i * NK + j] == 0) visible = 0;
            double bias = o->bias_kind == SDPA_MASK_PER_KEY     ? o->bias[j]
                          : o->bias_kind == SDPA_MASK_PER_QUERY ? o->bias[i * NK + j]
                                                                : 0.0;
            if (bias == -INFINITY) visible = 0;
            s[j] = -INFINITY;
            if (visible) {
                double dot = 0.0;
                for (size_t c = 0; c < D; c++) dot += (double)q[i * D + c] * k[j * D + c];
                s[j] = dot * scale + bias;
                if (o->flags & SDPA_FLAG_ALIBI) s[j] -= o->alibi_slope * fabs((double)(p - jj));
                if (s[j] > max) max = s[j];
            }
        }
        for (size_t j = 0; j < NK; j++) {
            s[j] = s[j] == -INFINITY ? 0.0 : exp(s[j] - max);
            sum += s[j];
        }
        for (size_t c = 0; c < DV; c++) out[i * DV + c] = 0.0;
        for (size_t j = 0; j < NK; j++) {
            double w = sum > 0.0 ? s[j] / sum : 0.0;
            weights[i * NK + j] = w;
            for (size_t c = 0; c < DV; c++) out[i * DV + c] += w * v[j * DV + c];
        }
    }
}

static void test_masked(void) {
    float q[NQ * D], k[NK * D], v[NK * DV], out[NQ * DV], weights[NQ * NK], bias[NQ * NK];
    uint8_t keep[NK], mask[NQ * NK];
    double want[NQ * DV], want_w[NQ * NK];
    SdpaShape shape = { .queries = NQ, .keys = NK, .head_dim = D, .value_dim = DV };
    random_fill(q, COUNT(q), 1);
    random_fill(k, COUNT(k), 2);
    random_fill(v, COUNT(v), 3);
    random_fill(bias, COUNT(bias), 4);
    for (size_t j = 0; j < NK; j++) keep[j] = (uint8_t)(j % 5 != 3);       /* some padded keys */
    for (size_t j = 0; j < NQ * NK; j++) mask[j] = (uint8_t)(j % 7 != 2);  /* scattered holes */
    for (size_t j = 0; j < NQ * NK; j += 11) bias[j] = -INFINITY;           /* masks like a 0 byte */

    /* Causal bottom-right with a window, a key padding mask, a per-query
     * additive mask, ALiBi and an explicit scale. */
    SdpaOptions all = { .flags = SDPA_FLAG_SCALE | SDPA_FLAG_CAUSAL | SDPA_FLAG_BOTTOM_RIGHT | SDPA_FLAG_WINDOW |
                                 SDPA_FLAG_ALIBI,
                        .scale = 0.3f,
                        .alibi_slope = 0.125f,
                        .window_left = 20,
                        .window_right = 0,
                        .mask_kind = SDPA_MASK_PER_KEY,
                        .mask = keep,
                        .bias_kind = SDPA_MASK_PER_QUERY,
                        .bias = bias };
    /* Bidirectional with a per-query boolean mask and a per-key bias. */
    SdpaOptions scattered = { .mask_kind = SDPA_MASK_PER_QUERY, .mask = mask, .bias_kind = SDPA_MASK_PER_KEY,
                              .bias = bias };
    const SdpaOptions *cases[2] = { &all, &scattered };
    for (int c = 0; c < 2; c++) {
        reference(q, k, v, cases[c], want, want_w);
        EXPECT(sdpa_attention(shape, q, k, v, out, cases[c]), SDPA_STATUS_OK);
        double err = max_err(out, want, COUNT(out));
        CHECK(err < 2e-6, "masked case %d: out error %g", c, err);
        EXPECT(sdpa_attention_weights(shape, q, k, v, out, weights, cases[c]), SDPA_STATUS_OK);
        double err_w = max_err(weights, want_w, COUNT(weights));
        CHECK(err_w < 2e-6, "masked case %d: weights error %g", c, err_w);
        printf("masked case %d: max |out - float64| = %.2e, max |weights - float64| = %.2e\n", c, err, err_w);
    }

    /* Every key masked for query 0: an all-zero row, never NaN. */
    uint8_t none[NQ * NK];
    for (size_t j = 0; j < NQ * NK; j++) none[j] = j >= NK;
    SdpaOptions blind = { .mask_kind = SDPA_MASK_PER_QUERY, .mask = none };
    EXPECT(sdpa_attention_weights(shape, q, k, v, out, weights, &blind), SDPA_STATUS_OK);
    int zeros = 1;
    for (size_t c = 0; c < DV; c++) zeros &= out[c] == 0.0f;
    for (size_t j = 0; j < NK; j++) zeros &= weights[j] == 0.0f;
    CHECK(zeros, "a fully masked query must give zeros");
}

/* ---------------------------------------------------------------------------
 * Kernels.
 */
static void test_kernels(void) {
    float a[37], b[37], r = 0.0f, rows[4 * 37], scores[4];
    random_fill(a, 37, 5);
    random_fill(b, 37, 6);
    random_fill(rows, COUNT(rows), 7);
    double want = 0.0;
    for (size_t i = 0; i < 37; i++) want += (double)a[i] * b[i];
    EXPECT(sdpa_dot(a, b, 37, &r), SDPA_STATUS_OK);
    CHECK(fabs(r - want) < 1e-5, "dot %g, want %g", r, want);
    EXPECT(sdpa_dot_rows(a, 37, rows, 4, scores), SDPA_STATUS_OK);
    for (size_t j = 0; j < 4; j++) {
        float one;
        sdpa_dot(a, rows + 37 * j, 37, &one);
        CHECK(fabs(scores[j] - one) < 1e-5, "dot_rows[%zu] %g, dot %g", j, scores[j], one);
    }

    float x[4] = { 1.0f, 2.0f, 3.0f, -INFINITY };
    EXPECT(sdpa_softmax(x, 4), SDPA_STATUS_OK);
    double e1 = exp(1.0), e2 = exp(2.0), e3 = exp(3.0), sum = e1 + e2 + e3;
    CHECK(fabs(x[0] - e1 / sum) < 1e-6 && fabs(x[1] - e2 / sum) < 1e-6 && fabs(x[2] - e3 / sum) < 1e-6 && x[3] == 0,
          "softmax %g %g %g %g", x[0], x[1], x[2], x[3]);
    float masked[3] = { -INFINITY, -INFINITY, -INFINITY };
    EXPECT(sdpa_softmax(masked, 3), SDPA_STATUS_OK);
    CHECK(masked[0] == 0 && masked[1] == 0 && masked[2] == 0, "a fully masked softmax gives zeros");
}

/* ---------------------------------------------------------------------------
 * The layer against numpy.
 */
static double tolerance(const double *want, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > m) m = fabs(want[i]);
    return 2e-6 * (1.0 + m);
}

static float scratch[4096];

static void test_layer(void) {
    size_t len = 0;
    float out[128]; /* the largest T x D below is 112 */

    /* BERT-style encoder: biases, key padding. */
    const SdpaLayer bert = { .d_model = BERT_D, .q_heads = BERT_QH, .kv_heads = BERT_KVH, .head_dim = BERT_HD,
                             .weights = BERT_PACKED, .weights_len = COUNT(BERT_PACKED),
                             .flags = SDPA_FLAG_BIASES, .positions = SDPA_POSITIONS_NONE };
    EXPECT(sdpa_layer_weights_len(&bert, &len), SDPA_STATUS_OK);
    CHECK(len == COUNT(BERT_PACKED) && len == SDPA_LAYER_WEIGHTS_FLOATS(BERT_D, BERT_KVH, BERT_HD, 1),
          "weights_len %zu", len);
    EXPECT(sdpa_layer_scratch_len(&bert, BERT_T, &len), SDPA_STATUS_OK);
    CHECK(len == SDPA_LAYER_SCRATCH_FLOATS(BERT_T, BERT_D, BERT_KVH, BERT_HD), "scratch_len %zu", len);
    SdpaLayerMask padding = { .padding = BERT_KEEP };
    EXPECT(sdpa_layer_forward(&bert, BERT_X, BERT_T, &padding, out, scratch, COUNT(scratch)), SDPA_STATUS_OK);
    double err = max_err(out, BERT_OUT, COUNT(BERT_OUT));
    CHECK(err <= tolerance(BERT_OUT, COUNT(BERT_OUT)), "bert forward error %g", err);
    printf("layer bert (biases, padding): forward max |error| = %.2e\n", err);

    /* llama-style GQA with half-split RoPE: forward, and decode with a fixed cache. */
    const SdpaLayer llama = { .d_model = LLAMA_GQA_D, .q_heads = LLAMA_GQA_QH, .kv_heads = LLAMA_GQA_KVH,
                              .head_dim = LLAMA_GQA_HD, .weights = LLAMA_GQA_PACKED,
                              .weights_len = COUNT(LLAMA_GQA_PACKED), .positions = SDPA_POSITIONS_ROPE_HALF_SPLIT };
    SdpaLayerMask causal = { .flags = SDPA_FLAG_CAUSAL };
    EXPECT(sdpa_layer_forward(&llama, LLAMA_GQA_X, LLAMA_GQA_T, &causal, out, scratch, COUNT(scratch)),
           SDPA_STATUS_OK);
    err = max_err(out, LLAMA_GQA_OUT, COUNT(LLAMA_GQA_OUT));
    CHECK(err <= tolerance(LLAMA_GQA_OUT, COUNT(LLAMA_GQA_OUT)), "llama forward error %g", err);
    printf("layer llama_gqa (GQA, RoPE half-split): forward max |error| = %.2e\n", err);

    static float storage[SDPA_KV_CACHE_FLOATS(LLAMA_GQA_KVH, LLAMA_GQA_T, LLAMA_GQA_HD)];
    static SdpaKvCache cache;
    EXPECT(sdpa_kv_cache_storage_len(&llama, LLAMA_GQA_T, &len), SDPA_STATUS_OK);
    CHECK(len == COUNT(storage), "storage_len %zu", len);
    EXPECT(sdpa_decode_scratch_len(&llama, LLAMA_GQA_T, &len), SDPA_STATUS_OK);
    CHECK(len == SDPA_DECODE_SCRATCH_FLOATS(LLAMA_GQA_D, LLAMA_GQA_T), "decode scratch_len %zu", len);
    EXPECT(sdpa_kv_cache_init(&cache, &llama, storage, COUNT(storage), LLAMA_GQA_T, SDPA_CACHE_MODE_FIXED),
           SDPA_STATUS_OK);
    double worst = 0.0;
    int same = 1;
    double apart = 0.0; /* decode vs the causal forward */
    for (size_t t = 0; t < LLAMA_GQA_T; t++) {
        float y[LLAMA_GQA_D];
        size_t position = 99;
        EXPECT(sdpa_layer_decode(&llama, LLAMA_GQA_X + t * LLAMA_GQA_D, y, &cache, scratch, len, &position),
               SDPA_STATUS_OK);
        CHECK(position == t && cache.len == t + 1, "position %zu, len %zu", position, cache.len);
        double e = max_err(y, LLAMA_GQA_OUT + t * LLAMA_GQA_D, LLAMA_GQA_D);
        if (e > worst) worst = e;
        same &= memcmp(y, out + t * LLAMA_GQA_D, sizeof y) == 0;
        for (size_t i = 0; i < LLAMA_GQA_D; i++) {
            double d = fabs((double)y[i] - (double)out[t * LLAMA_GQA_D + i]);
            if (!(d <= apart)) apart = d;
        }
    }
    CHECK(worst <= tolerance(LLAMA_GQA_OUT, COUNT(LLAMA_GQA_OUT)), "llama decode error %g", worst);
    /* Decode and forward may run different attention engines of sdpa (not
       bitwise equal since the tiled/tiny engines); the Rust tests check each
       against sdpa::layer bit for bit. Here: they agree within tolerance. */
    CHECK(apart <= tolerance(LLAMA_GQA_OUT, COUNT(LLAMA_GQA_OUT)), "decode vs forward %g", apart);
    printf("layer llama_gqa: decode max |error| = %.2e, max |decode - forward| = %.2e (bit for bit: %s)\n", worst,
           apart, same ? "yes" : "no");
    float y[LLAMA_GQA_D];
    fill(y, COUNT(y), SENTINEL);
    EXPECT(sdpa_layer_decode(&llama, LLAMA_GQA_X, y, &cache, scratch, len, NULL), SDPA_STATUS_CACHE_FULL);
    CHECK(untouched(y, COUNT(y)) && cache.len == LLAMA_GQA_T, "a full cache must change nothing");
    EXPECT(sdpa_kv_cache_clear(&cache), SDPA_STATUS_OK);
    CHECK(cache.len == 0 && cache.next_position == 0, "clear");

    /* ALiBi with a sliding window; decode through a rolling cache of 4 that wraps. */
    const SdpaLayer alibi = { .d_model = ALIBI_SLIDING_D, .q_heads = ALIBI_SLIDING_QH,
                              .kv_heads = ALIBI_SLIDING_KVH, .head_dim = ALIBI_SLIDING_HD,
                              .weights = ALIBI_SLIDING_PACKED, .weights_len = COUNT(ALIBI_SLIDING_PACKED),
                              .positions = SDPA_POSITIONS_ALIBI };
    SdpaLayerMask window = { .flags = SDPA_FLAG_CAUSAL | SDPA_FLAG_WINDOW, .window_left = 3 };
    EXPECT(sdpa_layer_forward(&alibi, ALIBI_SLIDING_X, ALIBI_SLIDING_T, &window, out, scratch, COUNT(scratch)),
           SDPA_STATUS_OK);
    err = max_err(out, ALIBI_SLIDING_OUT, COUNT(ALIBI_SLIDING_OUT));
    CHECK(err <= tolerance(ALIBI_SLIDING_OUT, COUNT(ALIBI_SLIDING_OUT)), "alibi forward error %g", err);
    static float ring[SDPA_KV_CACHE_FLOATS(ALIBI_SLIDING_KVH, 4, ALIBI_SLIDING_HD)];
    SdpaKvCache rolling;
    EXPECT(sdpa_kv_cache_init(&rolling, &alibi, ring, COUNT(ring), 4, SDPA_CACHE_MODE_SLIDING), SDPA_STATUS_OK);
    worst = 0.0;
    for (size_t t = 0; t < ALIBI_SLIDING_T; t++) {
        float z[ALIBI_SLIDING_D];
        EXPECT(sdpa_layer_decode(&alibi, ALIBI_SLIDING_X + t * ALIBI_SLIDING_D, z, &rolling, scratch,
                                 SDPA_DECODE_SCRATCH_FLOATS(ALIBI_SLIDING_D, 4), NULL),
               SDPA_STATUS_OK);
        double e = max_err(z, ALIBI_SLIDING_OUT + t * ALIBI_SLIDING_D, ALIBI_SLIDING_D);
        if (e > worst) worst = e;
    }
    CHECK(worst <= tolerance(ALIBI_SLIDING_OUT, COUNT(ALIBI_SLIDING_OUT)), "rolling decode error %g", worst);
    CHECK(rolling.len == 4 && rolling.next_position == ALIBI_SLIDING_T, "rolling len %zu", rolling.len);
    printf("layer alibi_sliding (ALiBi, window 4): forward max |error| = %.2e, rolling-cache decode %.2e\n", err,
           worst);
}

/* ---------------------------------------------------------------------------
 * A KV cache in 16 bits: the llama layer decoded on binary16 and bfloat16
 * caches. Each stored value is the float cache's value rounded to nearest
 * (checked exactly for bfloat16, within half an ulp for binary16), the
 * outputs stay within the rounding's reach of the float decode, and the
 * refusals of the 16-bit functions write nothing.
 */
static float from_f16(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float mag;
    if (exp == 0x1f) return man ? NAN : (sign ? -INFINITY : INFINITY);
    mag = exp ? ldexpf((float)(man | 0x400), (int)exp - 25) : ldexpf((float)man, -24);
    return sign ? -mag : mag;
}

static uint16_t to_bf16(float x) { /* round to nearest even; the test's values are finite */
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return (uint16_t)((b + 0x7fff + ((b >> 16) & 1)) >> 16);
}

static void test_layer_decode_kv16(void) {
    const SdpaLayer llama = { .d_model = LLAMA_GQA_D, .q_heads = LLAMA_GQA_QH, .kv_heads = LLAMA_GQA_KVH,
                              .head_dim = LLAMA_GQA_HD, .weights = LLAMA_GQA_PACKED,
                              .weights_len = COUNT(LLAMA_GQA_PACKED), .positions = SDPA_POSITIONS_ROPE_HALF_SPLIT };
    enum { N = SDPA_KV_CACHE_FLOATS(LLAMA_GQA_KVH, LLAMA_GQA_T, LLAMA_GQA_HD) };
    static float storage[N];
    static uint16_t storage16[2][N];
    static float y32[LLAMA_GQA_T * LLAMA_GQA_D], y16[LLAMA_GQA_T * LLAMA_GQA_D];
    const size_t len = SDPA_DECODE_SCRATCH_FLOATS(LLAMA_GQA_D, LLAMA_GQA_T);
    SdpaKvCache cache;
    EXPECT(sdpa_kv_cache_init(&cache, &llama, storage, N, LLAMA_GQA_T, SDPA_CACHE_MODE_FIXED), SDPA_STATUS_OK);
    for (size_t t = 0; t < LLAMA_GQA_T; t++)
        EXPECT(sdpa_layer_decode(&llama, LLAMA_GQA_X + t * LLAMA_GQA_D, y32 + t * LLAMA_GQA_D, &cache, scratch,
                                 len, NULL),
               SDPA_STATUS_OK);
    const uint32_t types[2] = { SDPA_KV_TYPE_F16, SDPA_KV_TYPE_BF16 };
    for (size_t k = 0; k < 2; k++) {
        SdpaKvCache16 c16;
        EXPECT(sdpa_kv_cache16_init(&c16, &llama, storage16[k], N, LLAMA_GQA_T, SDPA_CACHE_MODE_FIXED, types[k]),
               SDPA_STATUS_OK);
        for (size_t t = 0; t < LLAMA_GQA_T; t++) {
            size_t position = 99;
            EXPECT(sdpa_layer_decode_kv16(&llama, LLAMA_GQA_X + t * LLAMA_GQA_D, y16 + t * LLAMA_GQA_D, &c16,
                                          scratch, len, &position),
                   SDPA_STATUS_OK);
            CHECK(position == t && c16.len == t + 1, "16-bit decode: position %zu, len %zu", position, c16.len);
        }
        int rounded = 1;
        for (size_t i = 0; i < N; i++) {
            if (k == 1) {
                rounded &= storage16[k][i] == to_bf16(storage[i]);
            } else {
                double x = storage[i], e = fabs((double)from_f16(storage16[k][i]) - x);
                rounded &= e <= ldexp(fabs(x), -11) || e <= ldexp(1.0, -25);
            }
        }
        CHECK(rounded, "%s cache: a stored value is not the float value rounded", k ? "bfloat16" : "binary16");
        double apart = 0.0, peak = 0.0;
        for (size_t i = 0; i < COUNT(y16); i++) {
            double d = fabs((double)y16[i] - (double)y32[i]);
            if (!(d <= apart)) apart = d;
            if (fabs((double)y32[i]) > peak) peak = fabs((double)y32[i]);
        }
        CHECK(apart > 0.0 && apart < peak, "%s decode vs float decode: %g", k ? "bfloat16" : "binary16", apart);
        printf("layer llama_gqa decode on a %s cache: max |out - float cache| = %.2e (max |out| %.2f)\n",
               k ? "bfloat16" : "binary16", apart, peak);
        float z[LLAMA_GQA_D];
        fill(z, COUNT(z), SENTINEL);
        EXPECT(sdpa_layer_decode_kv16(&llama, LLAMA_GQA_X, z, &c16, scratch, len, NULL), SDPA_STATUS_CACHE_FULL);
        c16.kv_type = 0;
        EXPECT(sdpa_kv_cache16_clear(&c16), SDPA_STATUS_OK);
        EXPECT(sdpa_layer_decode_kv16(&llama, LLAMA_GQA_X, z, &c16, scratch, len, NULL),
               SDPA_STATUS_CACHE_INVALID);
        CHECK(untouched(z, COUNT(z)) && c16.len == 0, "a refused 16-bit decode step wrote");
    }
    SdpaKvCache16 c16;
    EXPECT(sdpa_kv_cache16_init(&c16, &llama, storage16[0], N, LLAMA_GQA_T, SDPA_CACHE_MODE_FIXED, 0),
           SDPA_STATUS_INVALID_OPTION);
    EXPECT(sdpa_kv_cache16_init(&c16, &llama, storage16[0], N, LLAMA_GQA_T, SDPA_CACHE_MODE_FIXED, 3),
           SDPA_STATUS_INVALID_OPTION);
    EXPECT(sdpa_kv_cache16_init(&c16, &llama, storage16[0], N - 1, LLAMA_GQA_T, SDPA_CACHE_MODE_FIXED,
                                SDPA_KV_TYPE_F16),
           SDPA_STATUS_BAD_LENGTH);
    EXPECT(sdpa_kv_cache16_init(&c16, &llama, NULL, N, LLAMA_GQA_T, SDPA_CACHE_MODE_FIXED, SDPA_KV_TYPE_F16),
           SDPA_STATUS_NULL_POINTER);
}

/* ---------------------------------------------------------------------------
 * Every status code: what each function refuses, and that it wrote nothing.
 */
static void test_errors(void) {
    SdpaShape toy = { .queries = 3, .keys = 5, .head_dim = 4, .value_dim = 6 };
    float out[64], w[64];
    const float *q = SEED_Q, *k = SEED_K, *v = SEED_V;

    /* The message of every code, and of an unknown one. */
    for (int code = SDPA_STATUS_OK; code <= SDPA_STATUS_OUTPUT_OVERLAP; code++)
        CHECK(strcmp(sdpa_status_message(code), "unknown status") != 0, "code %d has no message", code);
    CHECK(strcmp(sdpa_status_message(-7), "unknown status") == 0, "unknown code");
    CHECK(strcmp(sdpa_status_message(SDPA_STATUS_INVALID_MASK), "a mask byte is neither 0 nor 1") == 0, "message");
    CHECK(sizeof(SdpaStatus) == 4, "SdpaStatus is int32_t");

    fill(out, 64, SENTINEL);
    fill(w, 64, SENTINEL);
    /* NULL_POINTER */
    EXPECT(sdpa_attention(toy, NULL, k, v, out, NULL), SDPA_STATUS_NULL_POINTER);
    EXPECT(sdpa_attention(toy, q, NULL, v, out, NULL), SDPA_STATUS_NULL_POINTER);
    EXPECT(sdpa_attention(toy, q, k, NULL, out, NULL), SDPA_STATUS_NULL_POINTER);
    EXPECT(sdpa_attention(toy, q, k, v, NULL, NULL), SDPA_STATUS_NULL_POINTER);
    EXPECT(sdpa_attention_weights(toy, q, k, v, out, NULL, NULL), SDPA_STATUS_NULL_POINTER);
    EXPECT(sdpa_attention_rows(toy, q, k, v, 0, 1, NULL, NULL), SDPA_STATUS_NULL_POINTER);
    SdpaOptions no_mask = { .mask_kind = SDPA_MASK_PER_KEY };
    EXPECT(sdpa_attention(toy, q, k, v, out, &no_mask), SDPA_STATUS_NULL_POINTER);
    SdpaOptions no_bias = { .bias_kind = SDPA_MASK_PER_QUERY };
    EXPECT(sdpa_attention(toy, q, k, v, out, &no_bias), SDPA_STATUS_NULL_POINTER);
    EXPECT(sdpa_dot(NULL, k, 4, out), SDPA_STATUS_NULL_POINTER);
    EXPECT(sdpa_dot_rows(q, 4, NULL, 5, out), SDPA_STATUS_NULL_POINTER);
    EXPECT(sdpa_softmax(NULL, 4), SDPA_STATUS_NULL_POINTER);

    /* ZERO_DIMENSION */
    SdpaShape zeros[4] = { { 0, 5, 4, 6 }, { 3, 0, 4, 6 }, { 3, 5, 0, 6 }, { 3, 5, 4, 0 } };
    for (int i = 0; i < 4; i++) EXPECT(sdpa_attention(zeros[i], q, k, v, out, NULL), SDPA_STATUS_ZERO_DIMENSION);
    EXPECT(sdpa_attention_rows(toy, q, k, v, 0, 0, out, NULL), SDPA_STATUS_ZERO_DIMENSION);
    EXPECT(sdpa_dot(q, k, 0, out), SDPA_STATUS_ZERO_DIMENSION);
    EXPECT(sdpa_dot_rows(q, 0, k, 5, out), SDPA_STATUS_ZERO_DIMENSION);
    EXPECT(sdpa_softmax(out, 0), SDPA_STATUS_ZERO_DIMENSION);

    /* SIZE_OVERFLOW: products past SIZE_MAX, and buffers past PTRDIFF_MAX bytes. */
    SdpaShape huge[3] = { { SIZE_MAX / 2 + 1, 5, 4, 6 }, { 3, 5, SIZE_MAX / 3, 6 }, { SIZE_MAX / 64, 128, 1, 1 } };
    for (int i = 0; i < 3; i++) EXPECT(sdpa_attention(huge[i], q, k, v, out, NULL), SDPA_STATUS_SIZE_OVERFLOW);
    SdpaShape past_ptrdiff = { (size_t)PTRDIFF_MAX / 4 + 1, 1, 1, 1 };
    EXPECT(sdpa_attention(past_ptrdiff, q, k, v, out, NULL), SDPA_STATUS_SIZE_OVERFLOW);
    EXPECT(sdpa_dot(q, k, SIZE_MAX / 2, out), SDPA_STATUS_SIZE_OVERFLOW);
    EXPECT(sdpa_dot_rows(q, SIZE_MAX / 2, k, 3, out), SDPA_STATUS_SIZE_OVERFLOW);
    EXPECT(sdpa_softmax(out, SIZE_MAX / 4 + 1), SDPA_STATUS_SIZE_OVERFLOW);

    /* MISALIGNED */
    const float *skewed = (const float *)(const void *)((const char *)q + 1);
    EXPECT(sdpa_attention(toy, skewed, k, v, out, NULL), SDPA_STATUS_MISALIGNED);
    EXPECT(sdpa_attention(toy, q, k, v, (float *)(void *)((char *)out + 2), NULL), SDPA_STATUS_MISALIGNED);
    EXPECT(sdpa_dot(skewed, k, 3, out), SDPA_STATUS_MISALIGNED);
    EXPECT(sdpa_softmax((float *)(void *)((char *)w + 1), 3), SDPA_STATUS_MISALIGNED);
    SdpaOptions opts[2] = { { 0 }, { 0 } };
    EXPECT(sdpa_attention(toy, q, k, v, out, (const SdpaOptions *)(const void *)((const char *)opts + 4)),
           SDPA_STATUS_MISALIGNED);

    /* ALIASING: the output over an input, over the weights, over the mask; dot's result inside a. */
    static float buf[256];
    for (size_t i = 0; i < 62; i++) buf[i] = 0.5f;
    const float *bq = buf, *bk = buf + 12, *bv = buf + 32;
    EXPECT(sdpa_attention(toy, bq, bk, bv, buf + 8, NULL), SDPA_STATUS_ALIASING);
    EXPECT(sdpa_attention(toy, bq, bk, bv, buf + 31, NULL), SDPA_STATUS_ALIASING);
    EXPECT(sdpa_attention_weights(toy, bq, bk, bv, buf + 100, buf + 110, NULL), SDPA_STATUS_ALIASING);
    EXPECT(sdpa_attention_weights(toy, bq, bk, bv, buf + 100, buf + 20, NULL), SDPA_STATUS_ALIASING);
    uint8_t *mask_bytes = (uint8_t *)(void *)(buf + 180);
    memset(mask_bytes, 1, 5);
    SdpaOptions over_mask = { .mask_kind = SDPA_MASK_PER_KEY, .mask = mask_bytes };
    EXPECT(sdpa_attention(toy, bq, bk, bv, buf + 170, &over_mask), SDPA_STATUS_ALIASING);
    EXPECT(sdpa_dot(buf, buf + 20, 8, buf + 3), SDPA_STATUS_ALIASING);
    EXPECT(sdpa_dot_rows(buf, 2, buf + 20, 4, buf + 22), SDPA_STATUS_ALIASING);
    EXPECT(sdpa_attention(toy, bq, bk, bv, buf + 62, NULL), SDPA_STATUS_OK); /* right after V: fine */

    /* INVALID_MASK */
    uint8_t bad_mask[15];
    memset(bad_mask, 1, sizeof bad_mask);
    bad_mask[14] = 2;
    SdpaOptions invalid_mask = { .mask_kind = SDPA_MASK_PER_QUERY, .mask = bad_mask };
    EXPECT(sdpa_attention(toy, q, k, v, out, &invalid_mask), SDPA_STATUS_INVALID_MASK);
    bad_mask[14] = 0xFF;
    invalid_mask.mask_kind = SDPA_MASK_PER_QUERY;
    EXPECT(sdpa_attention_weights(toy, q, k, v, out, w, &invalid_mask), SDPA_STATUS_INVALID_MASK);

    /* INVALID_OPTION */
    SdpaOptions bad_flag = { .flags = SDPA_FLAG_BIASES }, bad_kind = { .mask_kind = 3, .mask = bad_mask },
                bad_bias = { .bias_kind = 9, .bias = q };
    EXPECT(sdpa_attention(toy, q, k, v, out, &bad_flag), SDPA_STATUS_INVALID_OPTION);
    EXPECT(sdpa_attention(toy, q, k, v, out, &bad_kind), SDPA_STATUS_INVALID_OPTION);
    EXPECT(sdpa_attention(toy, q, k, v, out, &bad_bias), SDPA_STATUS_INVALID_OPTION);

    /* ROW_RANGE */
    EXPECT(sdpa_attention_rows(toy, q, k, v, 2, 2, out, NULL), SDPA_STATUS_ROW_RANGE);
    EXPECT(sdpa_attention_rows(toy, q, k, v, SIZE_MAX, 2, out, NULL), SDPA_STATUS_ROW_RANGE);
    CHECK(untouched(out, 64) && untouched(w, 64), "a refused attention or kernel call wrote its output");

    /* The layer: UNSUPPORTED_SHAPE, BAD_LENGTH, INVALID_OPTION, INVALID_MASK, ALIASING. */
    const SdpaLayer good = { .d_model = BERT_D, .q_heads = BERT_QH, .kv_heads = BERT_KVH, .head_dim = BERT_HD,
                             .weights = BERT_PACKED, .weights_len = COUNT(BERT_PACKED), .flags = SDPA_FLAG_BIASES };
    size_t len = 77;
    SdpaLayer l = good;
    l.head_dim = 5;
    EXPECT(sdpa_layer_weights_len(&l, &len), SDPA_STATUS_UNSUPPORTED_SHAPE);
    l = good;
    l.kv_heads = 3;
    EXPECT(sdpa_layer_weights_len(&l, &len), SDPA_STATUS_UNSUPPORTED_SHAPE);
    l = good;
    l.q_heads = 0;
    EXPECT(sdpa_layer_weights_len(&l, &len), SDPA_STATUS_ZERO_DIMENSION);
    l = good;
    l.positions = 4;
    EXPECT(sdpa_layer_weights_len(&l, &len), SDPA_STATUS_INVALID_OPTION);
    l = good;
    l.flags = SDPA_FLAG_CAUSAL;
    EXPECT(sdpa_layer_weights_len(&l, &len), SDPA_STATUS_INVALID_OPTION);
    l = good;
    l.d_model = l.head_dim = SIZE_MAX / 2;
    l.q_heads = l.kv_heads = 1;
    EXPECT(sdpa_layer_weights_len(&l, &len), SDPA_STATUS_SIZE_OVERFLOW);
    EXPECT(sdpa_layer_weights_len(NULL, &len), SDPA_STATUS_NULL_POINTER);
    CHECK(len == 77, "a refused size query wrote its output");

    static float x[BERT_T * BERT_D], y[BERT_T * BERT_D + 16];
    fill(y, COUNT(y), SENTINEL);
    fill(scratch, COUNT(scratch), SENTINEL);
    size_t need = SDPA_LAYER_SCRATCH_FLOATS(BERT_T, BERT_D, BERT_KVH, BERT_HD);
    l = good;
    l.weights_len -= 1;
    EXPECT(sdpa_layer_forward(&l, x, BERT_T, NULL, y, scratch, need), SDPA_STATUS_BAD_LENGTH);
    EXPECT(sdpa_layer_forward(&good, x, BERT_T, NULL, y, scratch, need - 1), SDPA_STATUS_BAD_LENGTH);
    EXPECT(sdpa_layer_forward(&good, x, 0, NULL, y, scratch, need), SDPA_STATUS_ZERO_DIMENSION);
    l = good;
    l.weights = NULL;
    EXPECT(sdpa_layer_forward(&l, x, BERT_T, NULL, y, scratch, need), SDPA_STATUS_NULL_POINTER);
    SdpaLayerMask bad_layer_mask = { .flags = SDPA_FLAG_ALIBI };
    EXPECT(sdpa_layer_forward(&good, x, BERT_T, &bad_layer_mask, y, scratch, need), SDPA_STATUS_INVALID_OPTION);
    uint8_t keep[BERT_T] = { 1, 1, 1, 1, 0, 3 };
    SdpaLayerMask bad_padding = { .padding = keep };
    EXPECT(sdpa_layer_forward(&good, x, BERT_T, &bad_padding, y, scratch, need), SDPA_STATUS_INVALID_MASK);
    EXPECT(sdpa_layer_forward(&good, x, BERT_T, NULL, y, y + 8, need), SDPA_STATUS_ALIASING);
    EXPECT(sdpa_layer_forward(&good, y, BERT_T, NULL, y + 16, scratch, need), SDPA_STATUS_ALIASING);
    CHECK(untouched(y, COUNT(y)) && untouched(scratch, COUNT(scratch)), "a refused forward wrote something");

    /* The KV cache: init refusals, CACHE_INVALID, CACHE_FULL. */
    const SdpaLayer llama = { .d_model = LLAMA_GQA_D, .q_heads = LLAMA_GQA_QH, .kv_heads = LLAMA_GQA_KVH,
                              .head_dim = LLAMA_GQA_HD, .weights = LLAMA_GQA_PACKED,
                              .weights_len = COUNT(LLAMA_GQA_PACKED), .positions = SDPA_POSITIONS_ROPE_HALF_SPLIT };
    static float storage[SDPA_KV_CACHE_FLOATS(LLAMA_GQA_KVH, 2, LLAMA_GQA_HD)];
    SdpaKvCache cache;
    EXPECT(sdpa_kv_cache_init(&cache, &llama, storage, COUNT(storage) - 1, 2, SDPA_CACHE_MODE_FIXED),
           SDPA_STATUS_BAD_LENGTH);
    EXPECT(sdpa_kv_cache_init(&cache, &llama, storage, COUNT(storage), 2, 5), SDPA_STATUS_INVALID_OPTION);
    EXPECT(sdpa_kv_cache_init(&cache, &llama, storage, COUNT(storage), 0, 0), SDPA_STATUS_ZERO_DIMENSION);
    EXPECT(sdpa_kv_cache_init(NULL, &llama, storage, COUNT(storage), 2, 0), SDPA_STATUS_NULL_POINTER);
    SdpaLayer llama_copy = llama; /* the cache struct over the layer struct */
    EXPECT(sdpa_kv_cache_init((SdpaKvCache *)(void *)&llama_copy, &llama_copy, storage, COUNT(storage), 2, 0),
           SDPA_STATUS_ALIASING);
    EXPECT(sdpa_kv_cache_init(&cache, &llama, storage, COUNT(storage), 2, SDPA_CACHE_MODE_FIXED), SDPA_STATUS_OK);
    float z[LLAMA_GQA_D];
    size_t dneed = SDPA_DECODE_SCRATCH_FLOATS(LLAMA_GQA_D, 2), position = 55;
    fill(z, COUNT(z), SENTINEL);
    SdpaKvCache broken = cache;
    broken.kv_heads = 1;
    EXPECT(sdpa_layer_decode(&llama, LLAMA_GQA_X, z, &broken, scratch, dneed, &position), SDPA_STATUS_CACHE_INVALID);
    broken = cache;
    broken.len = 5;
    EXPECT(sdpa_layer_decode(&llama, LLAMA_GQA_X, z, &broken, scratch, dneed, &position), SDPA_STATUS_CACHE_INVALID);
    broken = cache;
    broken.mode = 9;
    EXPECT(sdpa_layer_decode(&llama, LLAMA_GQA_X, z, &broken, scratch, dneed, &position), SDPA_STATUS_CACHE_INVALID);
    EXPECT(sdpa_layer_decode(&llama, LLAMA_GQA_X, z, &cache, scratch, dneed - 1, &position), SDPA_STATUS_BAD_LENGTH);
    EXPECT(sdpa_layer_decode(&llama, LLAMA_GQA_X, z, &cache, scratch, dneed, (size_t *)(void *)&cache),
           SDPA_STATUS_ALIASING);
    CHECK(untouched(z, COUNT(z)) && position == 55 && cache.len == 0, "a refused decode wrote something");
    for (int t = 0; t < 2; t++)
        EXPECT(sdpa_layer_decode(&llama, LLAMA_GQA_X, z, &cache, scratch, dneed, &position), SDPA_STATUS_OK);
    fill(z, COUNT(z), SENTINEL);
    EXPECT(sdpa_layer_decode(&llama, LLAMA_GQA_X, z, &cache, scratch, dneed, &position), SDPA_STATUS_CACHE_FULL);
    CHECK(untouched(z, COUNT(z)) && position == 1 && cache.len == 2, "a full cache changed something");
}

/* ---------------------------------------------------------------------------
 * Multi-head attention over strided tensors: every head equals sdpa_attention
 * on its rows (GQA, a fused QKV buffer, padded BHSD output with NaN-free
 * padding kept), the seed toy as one head of two against numpy, and every
 * refusal writing nothing.
 */
enum { MB = 2, MT = 6, MH = 4, MKV = 2, MD = 4, MW = (MH + 2 * MKV) * MD, MPAD = 1 };

/* Element (b, h, t, 0) of a view. */
static size_t at(SdpaStrides s, size_t b, size_t h, size_t t) { return b * s.batch + h * s.head + t * s.token; }

static void test_multihead(void) {
    /* [batch][tokens][q heads 4 + k heads 2 + v heads 2][dim 4]: one fused projection. */
    static float qkv[MB * MT * MW];
    random_fill(qkv, MB * MT * MW, 11);
    SdpaStrides fused = { .batch = MT * MW, .head = MD, .token = MW, .dim = 1 };
    size_t n = MB * MT * MW;
    SdpaTensor q = { qkv, n, fused }, k = { qkv + MH * MD, n - MH * MD, fused },
               v = { qkv + (MH + MKV) * MD, n - (MH + MKV) * MD, fused };
    /* Output [batch][heads][tokens][dim + 1 padding]. */
    SdpaStrides padded = { .batch = MH * MT * (MD + MPAD), .head = MT * (MD + MPAD), .token = MD + MPAD, .dim = 1 };
    enum { OUT_LEN = MB * MH * MT * (MD + MPAD) };
    float out[OUT_LEN];
    fill(out, OUT_LEN, SENTINEL);
    SdpaTensorMut o = { out, OUT_LEN, padded };
    SdpaHeadShape shape = { MB, MH, MKV, MT, MT, MD, MD };
    SdpaHeadOptions causal = { .base = { .flags = SDPA_FLAG_CAUSAL } };
    EXPECT(sdpa_multihead_attention(shape, q, k, v, o, &causal), SDPA_STATUS_OK);

    SdpaShape one = { MT, MT, MD, MD };
    SdpaOptions single = { .flags = SDPA_FLAG_CAUSAL };
    int same = 1, padding_kept = 1;
    for (size_t b = 0; b < MB; b++)
        for (size_t h = 0; h < MH; h++) {
            float qh[MT * MD], kh[MT * MD], vh[MT * MD], want[MT * MD];
            size_t g = h / (MH / MKV);
            for (size_t t = 0; t < MT; t++) {
                memcpy(qh + t * MD, qkv + at(fused, b, h, t), sizeof(float) * MD);
                memcpy(kh + t * MD, qkv + MH * MD + at(fused, b, g, t), sizeof(float) * MD);
                memcpy(vh + t * MD, qkv + (MH + MKV) * MD + at(fused, b, g, t), sizeof(float) * MD);
            }
            EXPECT(sdpa_attention(one, qh, kh, vh, want, &single), SDPA_STATUS_OK);
            for (size_t t = 0; t < MT; t++) {
                if (memcmp(out + at(padded, b, h, t), want + t * MD, sizeof(float) * MD) != 0) same = 0;
                if (out[at(padded, b, h, t) + MD] != SENTINEL) padding_kept = 0;
            }
        }
    CHECK(same, "a head differs from sdpa_attention on its rows");
    CHECK(padding_kept, "the output's padding was written");

    /* The seed toy as head 1 of 2, [tokens][heads][dim]; head 0 is noise. */
    float tq[3 * 2 * 4], tk[5 * 2 * 4], tv[5 * 2 * 6], tout[3 * 2 * 6];
    fill(tq, 24, 100.0f);
    fill(tk, 40, -100.0f);
    fill(tv, 60, 1e3f);
    for (size_t r = 0; r < 3; r++) memcpy(tq + r * 8 + 4, SEED_Q + r * 4, sizeof(float) * 4);
    for (size_t r = 0; r < 5; r++) memcpy(tk + r * 8 + 4, SEED_K + r * 4, sizeof(float) * 4);
    for (size_t r = 0; r < 5; r++) memcpy(tv + r * 12 + 6, SEED_V + r * 6, sizeof(float) * 6);
    fill(tout, 36, 0.0f);
    SdpaHeadShape toy = { 1, 2, 2, 3, 5, 4, 6 };
    SdpaStrides s4 = { .head = 4, .token = 8, .dim = 1 }, s6 = { .head = 6, .token = 12, .dim = 1 };
    SdpaTensor toy_q = { tq, 24, s4 }, toy_k = { tk, 40, s4 }, toy_v = { tv, 60, s6 };
    SdpaTensorMut toy_out = { tout, 36, s6 };
    EXPECT(sdpa_multihead_attention(toy, toy_q, toy_k, toy_v, toy_out, NULL), SDPA_STATUS_OK);
    float head1[18];
    for (size_t r = 0; r < 3; r++) memcpy(head1 + r * 6, tout + r * 12 + 6, sizeof(float) * 6);
    CHECK(max_err(head1, SEED_OUT, 18) < 1e-5, "toy head vs numpy: %g", max_err(head1, SEED_OUT, 18));
    printf("multihead: the seed toy as head 1 of 2, max |out - numpy| = %.2e\n", max_err(head1, SEED_OUT, 18));

    /* Refusals: each status, nothing written. */
    fill(out, OUT_LEN, SENTINEL);
    SdpaTensor bad;
    SdpaTensorMut bad_out;
    bad = q;
    bad.data = NULL;
    EXPECT(sdpa_multihead_attention(shape, bad, k, v, o, NULL), SDPA_STATUS_NULL_POINTER);
    SdpaHeadOptions bad_spread = { .base = { .mask_kind = SDPA_MASK_PER_KEY, .mask = (const uint8_t *)"\1\1\1\1\1\1" },
                                   .mask_broadcast = 4 };
    EXPECT(sdpa_multihead_attention(shape, q, k, v, o, &bad_spread), SDPA_STATUS_INVALID_OPTION);
    SdpaHeadShape zero = shape;
    zero.keys = 0;
    EXPECT(sdpa_multihead_attention(zero, q, k, v, o, NULL), SDPA_STATUS_ZERO_DIMENSION);
    SdpaHeadShape groups = shape;
    groups.kv_heads = 3;
    EXPECT(sdpa_multihead_attention(groups, q, k, v, o, NULL), SDPA_STATUS_UNSUPPORTED_SHAPE);
    SdpaHeadShape huge = shape;
    huge.batch = SIZE_MAX / 2;
    SdpaHeadOptions per_batch = bad_spread;
    per_batch.mask_broadcast = SDPA_BROADCAST_PER_BATCH;
    EXPECT(sdpa_multihead_attention(huge, q, k, v, o, &per_batch), SDPA_STATUS_SIZE_OVERFLOW);
    bad = k;
    bad.data = (const float *)((const char *)k.data + 2);
    bad.len -= 1;
    EXPECT(sdpa_multihead_attention(shape, q, bad, v, o, NULL), SDPA_STATUS_MISALIGNED);
    bad_out.data = qkv + 4; /* inside the inputs' buffer */
    bad_out.len = OUT_LEN;
    bad_out.strides = padded;
    EXPECT(sdpa_multihead_attention(shape, q, k, v, bad_out, NULL), SDPA_STATUS_ALIASING);
    uint8_t two[MT] = { 1, 1, 2, 1, 1, 1 };
    SdpaHeadOptions bad_mask = { .base = { .mask_kind = SDPA_MASK_PER_KEY, .mask = two } };
    EXPECT(sdpa_multihead_attention(shape, q, k, v, o, &bad_mask), SDPA_STATUS_INVALID_MASK);
    bad = q;
    bad.strides.dim = 2;
    EXPECT(sdpa_multihead_attention(shape, bad, k, v, o, NULL), SDPA_STATUS_BAD_STRIDE);
    bad = v;
    bad.strides.token = MD - 1;
    EXPECT(sdpa_multihead_attention(shape, q, k, bad, o, NULL), SDPA_STATUS_BAD_STRIDE);
    bad = v;
    bad.len = v.len - 1; /* the view ends exactly at the buffer's end: one float short */
    EXPECT(sdpa_multihead_attention(shape, q, k, bad, o, NULL), SDPA_STATUS_OUT_OF_BOUNDS);
    bad_out = o;
    bad_out.len = OUT_LEN - MPAD - 1;
    EXPECT(sdpa_multihead_attention(shape, q, k, v, bad_out, NULL), SDPA_STATUS_OUT_OF_BOUNDS);
    bad_out = o;
    bad_out.strides.head = 2;
    EXPECT(sdpa_multihead_attention(shape, q, k, v, bad_out, NULL), SDPA_STATUS_OUTPUT_OVERLAP);
    CHECK(untouched(out, OUT_LEN), "a refused multi-head call wrote to the output");
}

/* ---------------------------------------------------------------------------
 * Multi-head attention with 16-bit K and V: the seed toy with K and V in
 * binary16 and in bfloat16 against numpy on the rounded values, and the
 * refusals of the 16-bit call (type, pointers, alignment, bounds), each
 * writing nothing.
 */
static void test_multihead_kv16(void) {
    SdpaHeadShape toy = { 1, 1, 1, 3, 5, 4, 6 };
    SdpaStrides s4 = { .token = 4, .dim = 1 }, s6 = { .token = 6, .dim = 1 };
    SdpaTensor q = { SEED_Q, 12, s4 };
    float out[18];
    SdpaTensorMut o = { out, 18, s6 };
    const struct {
        uint32_t type;
        const uint16_t *k, *v;
        const double *want;
        const char *name;
    } kinds[] = {
        { SDPA_KV_TYPE_F16, SEED_K_F16, SEED_V_F16, SEED_OUT_F16, "binary16" },
        { SDPA_KV_TYPE_BF16, SEED_K_BF16, SEED_V_BF16, SEED_OUT_BF16, "bfloat16" },
    };
    for (size_t i = 0; i < COUNT(kinds); i++) {
        SdpaTensor16 k = { kinds[i].k, 20, s4 }, v = { kinds[i].v, 30, s6 };
        fill(out, 18, SENTINEL);
        EXPECT(sdpa_multihead_attention_kv16(toy, q, k, v, kinds[i].type, o, NULL), SDPA_STATUS_OK);
        double err = max_err(out, kinds[i].want, 18);
        CHECK(err < 1e-5, "toy with %s K/V vs numpy: %g", kinds[i].name, err);
        printf("multihead kv16: the seed toy with %s K and V, max |out - numpy| = %.2e\n", kinds[i].name, err);
    }

    SdpaTensor16 k = { SEED_K_F16, 20, s4 }, v = { SEED_V_F16, 30, s6 }, bad;
    fill(out, 18, SENTINEL);
    EXPECT(sdpa_multihead_attention_kv16(toy, q, k, v, 0, o, NULL), SDPA_STATUS_INVALID_OPTION);
    EXPECT(sdpa_multihead_attention_kv16(toy, q, k, v, 3, o, NULL), SDPA_STATUS_INVALID_OPTION);
    bad = k;
    bad.data = NULL;
    EXPECT(sdpa_multihead_attention_kv16(toy, q, bad, v, SDPA_KV_TYPE_F16, o, NULL), SDPA_STATUS_NULL_POINTER);
    bad = v;
    bad.data = (const uint16_t *)(const void *)((const char *)v.data + 1);
    bad.len -= 1;
    EXPECT(sdpa_multihead_attention_kv16(toy, q, k, bad, SDPA_KV_TYPE_F16, o, NULL), SDPA_STATUS_MISALIGNED);
    bad = v;
    bad.len -= 1; /* one 16-bit element short */
    EXPECT(sdpa_multihead_attention_kv16(toy, q, k, bad, SDPA_KV_TYPE_BF16, o, NULL), SDPA_STATUS_OUT_OF_BOUNDS);
    CHECK(untouched(out, 18), "a refused 16-bit multi-head call wrote to the output");
}

int main(void) {
    printf("sdpa C test (backend %s)\n", sdpa_backend());
    test_seed_toy();
    test_masked();
    test_kernels();
    test_layer();
    test_layer_decode_kv16();
    test_multihead();
    test_multihead_kv16();
    test_errors();
    printf("capi: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
