/*
 * The peer of issue 13: attention as a firmware engineer writes it in C
 * (peer.c), to count sdpa against on the same core.
 */
#ifndef SDPA_FIRMWARE_PEER_H
#define SDPA_FIRMWARE_PEER_H

#include <stddef.h>

/* Longest key sequence peer_attention takes (its score row buffer). */
#define PEER_MAX_KEYS 256

/*
 * out (nq x dv) = softmax(q k^T / sqrt(d)) v, row-major; with `causal`,
 * query i sees keys 0..i (top-left). Does nothing if nk > PEER_MAX_KEYS.
 */
void peer_attention(size_t nq, size_t nk, size_t d, size_t dv, const float *q, const float *k, const float *v,
                    float *out, int causal);

#endif
