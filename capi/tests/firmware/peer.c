/*
 * Straightforward C attention, the peer sdpa is counted against (issue 13):
 * per query, the scores into a row buffer while tracking their maximum,
 * exp(score - max) with newlib's expf and their sum, then each output
 * column as the weighted sum of its value column divided by the sum.
 * Runtime shapes, no intrinsics, no hand unrolling: what a firmware
 * engineer writes first. Built with the flags (see build.sh):
 * arm-none-eabi-gcc -O3 -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard,
 * GCC's default C dialect (gnu17, so a*b+c may contract to VFMA).
 */
#include "peer.h"

#include <math.h>

void peer_attention(size_t nq, size_t nk, size_t d, size_t dv, const float *q, const float *k, const float *v,
                    float *out, int causal) {
    float scores[PEER_MAX_KEYS];
    const float scale = 1.0f / sqrtf((float)d);
    if (nk > PEER_MAX_KEYS) return;
    for (size_t i = 0; i < nq; i++) {
        const float *qi = q + i * d;
        const size_t n = causal && i + 1 < nk ? i + 1 : nk;
        float max = -INFINITY;
        for (size_t j = 0; j < n; j++) {
            const float *kj = k + j * d;
            float s = 0.0f;
            for (size_t c = 0; c < d; c++) s += qi[c] * kj[c];
            s *= scale;
            scores[j] = s;
            if (s > max) max = s;
        }
        float sum = 0.0f;
        for (size_t j = 0; j < n; j++) {
            scores[j] = expf(scores[j] - max);
            sum += scores[j];
        }
        float *oi = out + i * dv;
        for (size_t c = 0; c < dv; c++) {
            float acc = 0.0f;
            for (size_t j = 0; j < n; j++) acc += scores[j] * v[j * dv + c];
            oi[c] = acc / sum;
        }
    }
}
