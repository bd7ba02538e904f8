/*
 * Instruction-count benchmark (issue 13) in the C firmware: each workload
 * through sdpa's C ABI (sdpa_attention: runtime shapes, argument checks)
 * and through the C peer (peer.c), each call once between the empty marker
 * functions bench_start() and bench_stop(). The QEMU plugin
 * shared/tools/qemu-insn-count counts exactly the instructions between them;
 * without it the markers cost a few instructions and this is a plain check.
 *
 * The log names the counted regions in order, as the Rust bench
 * (firmware/cortex-m4f/src/bench.rs) does, for firmware/scripts/insn_report.py:
 *   bench region <n> empty | spin <iterations> | <impl> <workload> <nq> <nk> <d> <dv> <causal>
 *   bench output <impl> <workload> <fnv-1a of the output bits> <ok|FAIL>
 *   bench error <workload> <impl>-vs-f64 <max |error| in units of 1e-10> ...
 * Inputs: the seed toy (vectors.h) and SplitMix64 streams with the Rust
 * bench's generator and seeds, so both see bit-identical inputs. Both
 * outputs are checked against a float64 reference computed here (newlib's
 * exp) with tolerance 1e-5, the seed toy also against numpy.
 */
#include "bench.h"

#include "peer.h"
#include "sdpa.h"
#include "semihost.h"
#include "vectors.h"

#include <math.h>
#include <stdint.h>

/* Distinct stores keep the markers two functions (identical bodies could be
   folded into one address) whose calls cannot be optimized away. */
static volatile unsigned bench_marks;
__attribute__((noinline, used)) void bench_start(void) { bench_marks = 1; }
__attribute__((noinline, used)) void bench_stop(void) { bench_marks = 2; }

/* Exactly 2 * n instructions in its loop (n >= 1). */
__attribute__((noinline)) static void spin(unsigned n) { __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n)); }

enum { SPIN = 1000 };

typedef struct Workload {
    const char *name;
    const char *label; /* "<nq> <nk> <d> <dv> <causal>" */
    size_t nq, nk, d, dv;
    int causal;
    uint64_t seed; /* 0: the seed toy */
} Workload;

static const Workload WORKLOADS[] = {
    { "toy", "3 5 4 6 0", 3, 5, 4, 6, 0, 0 },
    { "causal32", "32 32 16 16 1", 32, 32, 16, 16, 1, 101 },
    { "causal256", "256 256 16 16 1", 256, 256, 16, 16, 1, 201 },
    { "full64", "64 64 32 32 0", 64, 64, 32, 32, 0, 301 },
    { "decode256", "1 256 32 32 0", 1, 256, 32, 32, 0, 401 },
};

#define MAX_IN (256 * 32)
#define MAX_OUT (256 * 16)
static float q[MAX_IN], k[MAX_IN], v[MAX_IN], out_capi[MAX_OUT], out_peer[MAX_OUT];
static double reference[MAX_OUT], scores[PEER_MAX_KEYS];

/* SplitMix64 values uniform in [-1, 1), as firmware/cortex-m4f/src/inputs.rs. */
static void uniform(float *m, size_t n, uint64_t seed) {
    uint64_t state = seed;
    for (size_t i = 0; i < n; i++) {
        state += 0x9E3779B97F4A7C15u;
        uint64_t z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
        z ^= z >> 31;
        m[i] = (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
    }
}

/* The float64 reference of the same attention. */
static void attention_f64(const Workload *w) {
    for (size_t i = 0; i < w->nq; i++) {
        size_t n = w->causal && i + 1 < w->nk ? i + 1 : w->nk;
        double max = -INFINITY, sum = 0;
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t c = 0; c < w->d; c++) s += (double)q[i * w->d + c] * k[j * w->d + c];
            scores[j] = s / sqrt((double)w->d);
            if (scores[j] > max) max = scores[j];
        }
        for (size_t j = 0; j < n; j++) sum += scores[j] = exp(scores[j] - max);
        for (size_t c = 0; c < w->dv; c++) {
            double acc = 0;
            for (size_t j = 0; j < n; j++) acc += scores[j] * v[j * w->dv + c];
            reference[i * w->dv + c] = acc / sum;
        }
    }
}

static double max_error(const float *ours, const double *want, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)ours[i] - want[i]);
        if (!(e <= 1e30)) return INFINITY; /* NaN or infinity */
        if (e > worst) worst = e;
    }
    return worst;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= 1e30)) return INFINITY;
        if (e > worst) worst = e;
    }
    return worst;
}

/* FNV-1a (64 bit) over the little-endian bytes, as the Rust bench. */
static uint64_t fnv1a(const float *x, size_t n) {
    uint64_t h = 0xcbf29ce484222325u;
    const unsigned char *b = (const unsigned char *)x;
    for (size_t i = 0; i < 4 * n; i++) h = (h ^ b[i]) * 0x00000100000001b3u;
    return h;
}

static unsigned region;
static void label(const char *what, const char *workload, const char *shape) {
    print("bench region ");
    print_uint(region++);
    print(" ");
    print(what);
    if (workload) {
        print(" ");
        print(workload);
        print(" ");
        print(shape);
    }
    print("\n");
}

static void print_error(const char *what, double e) {
    print(" ");
    print(what);
    print(" ");
    print_uint(e < 1e8 ? (unsigned long)(e * 1e10 + 0.5) : 0xFFFFFFFFu);
}

static int verdict(const char *impl, const Workload *w, const float *out, double error) {
    int ok = error <= 1e-5;
    print("bench output ");
    print(impl);
    print(" ");
    print(w->name);
    print(" ");
    print_hex64(fnv1a(out, w->nq * w->dv));
    print(ok ? " ok\n" : " FAIL\n");
    return ok;
}

unsigned bench_run(void) {
    unsigned failed = 0;
    label("empty", 0, 0);
    bench_start();
    bench_stop();
    label("spin 1000", 0, 0);
    bench_start();
    spin(SPIN);
    bench_stop();

    for (size_t n = 0; n < sizeof WORKLOADS / sizeof WORKLOADS[0]; n++) {
        const Workload *w = &WORKLOADS[n];
        const size_t nout = w->nq * w->dv;
        if (w->seed == 0) {
            for (size_t i = 0; i < 12; i++) q[i] = SEED_Q[i];
            for (size_t i = 0; i < 20; i++) k[i] = SEED_K[i];
            for (size_t i = 0; i < 30; i++) v[i] = SEED_V[i];
        } else {
            uniform(q, w->nq * w->d, w->seed);
            uniform(k, w->nk * w->d, w->seed + 1);
            uniform(v, w->nk * w->dv, w->seed + 2);
        }
        attention_f64(w);
        for (size_t i = 0; i < nout; i++) out_capi[i] = out_peer[i] = NAN;

        const SdpaShape shape = { .queries = w->nq, .keys = w->nk, .head_dim = w->d, .value_dim = w->dv };
        const SdpaOptions causal = { .flags = SDPA_FLAG_CAUSAL };
        const SdpaOptions *options = w->causal ? &causal : NULL;
        label("sdpa_capi", w->name, w->label);
        bench_start();
        SdpaStatus status = sdpa_attention(shape, q, k, v, out_capi, options);
        bench_stop();
        label("c_peer", w->name, w->label);
        bench_start();
        peer_attention(w->nq, w->nk, w->d, w->dv, q, k, v, out_peer, w->causal);
        bench_stop();

        double e_capi = status == SDPA_STATUS_OK ? max_error(out_capi, reference, nout) : INFINITY;
        double e_peer = max_error(out_peer, reference, nout);
        if (w->seed == 0) {
            e_capi = fmax(e_capi, max_error(out_capi, SEED_OUT, nout));
            e_peer = fmax(e_peer, max_error(out_peer, SEED_OUT, nout));
        }
        print("bench error ");
        print(w->name);
        print_error("sdpa_capi-vs-f64", e_capi);
        print_error("c_peer-vs-f64", e_peer);
        print_error("c_peer-vs-sdpa_capi", max_diff(out_peer, out_capi, nout));
        print(" (units of 1e-10)\n");
        failed += !verdict("sdpa_capi", w, out_capi, e_capi);
        failed += !verdict("c_peer", w, out_peer, e_peer);
    }
    return failed;
}
