#!/usr/bin/env python3
"""Writes the hand-picked seed corpus under fuzz/corpus/<target>/.

Each seed is encoded in the byte format of fuzz/src/input.rs (read front to
back, integers little-endian, zeros once the data runs out), so a seed is a
readable list of edge cases rather than an opaque blob. Run from anywhere:
    python3 fuzz/seeds.py
"""

import math
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# Float modes (Input::mode reads byte % 5).
RAW, MODERATE, WIDE, MIXED, MASKY = range(5)
# Indices into SPECIALS (fuzz/src/input.rs).
S = dict(zero=0, neg_zero=1, one=2, minus_one=3, inf=4, neg_inf=5, nan=6, neg_nan=7, nan_payload=8,
         snan=9, max=10, neg_max=11, min_pos=12, neg_min_pos=13, tiny=14, neg_tiny=15, big_subnormal=16,
         ln_max=17, above_ln_max=18, ln_min_pos=19, ln_tiny=20, below_ln_tiny=21, two24=22,
         neg_two24_plus1=23, half=24, eps=25, e30=26, neg_e30=27, e_30=28, e38=29, neg_e38=30, shifter=31)


def u8(b):
    return bytes([b & 0xFF])


def moderate(x):
    """Mode MODERATE value: i16 / 1024."""
    return struct.pack("<h", max(-32768, min(32767, round(x * 1024))))


def wide(m, e):
    """Mode WIDE value: (m / 2^15) * 2^e, m an i16, e an i8."""
    return struct.pack("<hb", m, e)


def raw(bits):
    return struct.pack("<I", bits)


def special(name):
    """Mode MIXED value: a tag picking SPECIALS[name]."""
    return u8(32 + S[name])


def mixed_moderate(x):
    """Mode MIXED value: a tag >= 96, then a moderate value."""
    return u8(200) + moderate(x)


def tensor(mode, values):
    return u8(mode) + b"".join(values)


def moderate_tensor(xs):
    return tensor(MODERATE, [moderate(x) for x in xs])


def wave(n, amp=1.0, phase=0.0):
    return [amp * math.sin(0.37 * i + phase) for i in range(n)]


def scalar_special(name):
    """Input::scalar: a byte > 15, then a MIXED value."""
    return u8(0x80) + special(name)


def scalar_moderate(x):
    return u8(0x80) + mixed_moderate(x)


def settings(scale=None, causal=False, bottom_right=False, window=None, alibi=None):
    """Input::settings: the flag byte, then scale, window and slope as present."""
    flags = (scale is not None) | causal << 1 | bottom_right << 2 | (window is not None) << 3 | (alibi is not None) << 4
    out = u8(flags)
    if scale is not None:
        out += scale
    if window is not None:
        out += u8(window[0]) + u8(window[1])
    if alibi is not None:
        out += alibi
    return out


def bools(values):
    """Input::bools in 'bits' style."""
    out = u8(2)
    for i in range(0, len(values), 8):
        byte = 0
        for k, b in enumerate(values[i:i + 8]):
            byte |= int(b) << k
        out += u8(byte)
    return out


SHAPES = [(1, 1, 1, 1), (3, 1, 4, 2), (3, 5, 4, 6), (2, 3, 3, 5), (4, 5, 5, 3), (2, 7, 7, 9), (5, 9, 9, 7),
          (3, 15, 15, 17), (2, 17, 17, 15), (4, 31, 8, 4), (3, 32, 16, 16), (2, 33, 4, 8), (6, 2, 3, 3),
          (1, 65, 2, 1), (7, 7, 16, 16), (5, 37, 19, 11), (9, 4, 1, 2)]


def attention(shape, q=None, k=None, v=None, opts=settings(), mask=u8(0), bias=u8(0), tail=b""):
    """One attention seed; q/k/v default to moderate waves; tail = rows/poison/NaN-query choices."""
    nq, nk, d, dv = SHAPES[shape]
    q = q or moderate_tensor(wave(nq * d))
    k = k or moderate_tensor(wave(nk * d, 1.5, 1.0))
    v = v or moderate_tensor(wave(nk * dv, 4.0, 2.0))
    return u8(shape) + q + k + v + opts + mask + bias + tail


def attention_seeds():
    nq, nk, d, dv = SHAPES[15]
    yield "toy_plain", attention(2)
    yield "nk1_causal_bottom_right", attention(1, opts=settings(causal=True, bottom_right=True))
    yield "block32_all_keys_masked", attention(10, mask=u8(2) + u8(1))
    yield "block33_key_bias_minus_inf", attention(11, bias=u8(2) + tensor(MASKY, [u8(i * 37) for i in range(33)]))
    nan_k = tensor(MIXED, [special("nan") if i == 40 else mixed_moderate(x) for i, x in enumerate(wave(nk * d))])
    yield "nan_key_causal", attention(15, k=nan_k, opts=settings(causal=True), tail=u8(0) + u8(2) + u8(0) + u8(1))
    yield "two_blocks_alibi_window", attention(13, opts=settings(window=(20, 3), alibi=scalar_moderate(0.25)))
    huge = tensor(WIDE, [wide(30000 - 5000 * i, 120) for i in range(6)])
    yield "huge_scores_nq_gt_nk", attention(12, k=huge, opts=settings(scale=scalar_special("e30")))
    yield "nan_everywhere_raw", attention(0, q=tensor(RAW, [raw(0x7FC00001)]), k=tensor(RAW, [raw(0xFF800000)]))
    per_query = [(i + j) % 3 != 0 for i in range(7) for j in range(7)]
    yield "square_mask_bias", attention(14, mask=u8(1) + bools(per_query),
                                       bias=u8(1) + tensor(MASKY, [u8(i * 29) for i in range(49)]))
    yield "lanes_minus_one_window_right", attention(7, opts=settings(causal=False, window=(0, 2)))
    # Finding 1: attention_rows with first_row = usize::MAX (engine overflow panic).
    yield "regress_rows_at_usize_max", attention(0, tail=u8(0xFB) + u8(0))
    # Finding 3: first_row·D overflowed on the tiny engine (first_row = usize::MAX, D = 4).
    yield "regress_tiny_rows_far_past_the_end", attention(2, tail=u8(0xFB) + u8(1))
    # Finding 4: every score -inf with infinite values gave NaN instead of +0
    # (tiny engine and attention_weights).
    minus_inf_q = tensor(MIXED, [special("neg_inf") if i % 4 == 0 else mixed_moderate(0.5) for i in range(12)])
    inf_v = tensor(MIXED, [special("inf") if i % 3 == 0 else mixed_moderate(2.0) for i in range(30)])
    yield "regress_minus_inf_scores_inf_values", attention(2, q=minus_inf_q, k=moderate_tensor([1.0] * 20), v=inf_v)


def kernel_seeds():
    yield "dot", "lengths_around_lanes", u8(17) + moderate_tensor(wave(17)) + u8(15) + moderate_tensor(wave(15, 2.0))
    yield "dot", "inf_times_zero", u8(3) + tensor(MIXED, [special("inf"), special("one"), special("zero")]) \
        + u8(3) + tensor(MIXED, [special("zero"), special("one"), special("one")])
    yield "dot", "rows_block_of_five", u8(0) + u8(0) + u8(9) + moderate_tensor(wave(9)) + u8(5) + u8(3) \
        + moderate_tensor(wave(48)) + u8(7)
    yield "dot", "overflowing_products", u8(4) + tensor(MIXED, [special("e38")] * 4) + u8(4) + tensor(MIXED, [special("e38")] * 4)
    yield "softmax", "masked_and_finite", u8(37) + tensor(MASKY, [u8(i * 41) for i in range(37)]) + u8(5) + u8(32) + u8(0)
    yield "softmax", "all_minus_inf", u8(20) + tensor(MASKY, [u8(0)] * 20) + u8(7) + u8(3)
    yield "softmax", "huge_spread", u8(3) + tensor(MIXED, [special("max"), special("neg_max"), special("max")])
    yield "softmax", "plus_inf", u8(5) + tensor(MIXED, [special("one"), special("inf")] + [special("zero")] * 3)
    yield "softmax", "online_blocks_with_values", u8(64) + moderate_tensor(wave(64, 20.0)) \
        + b"".join(u8(b) for b in [1, 31, 32, 0, 5]) + u8(255) + u8(4) + moderate_tensor(wave(256, 3.0))
    # Finding 5: dot_rows past its documented bound on f32x4 (wide's
    # f32x4::reduce_add sums lanes in order: three roundings, not log2(4)).
    yield "dot", "regress_reduce_add_order", bytes.fromhex(
        "0904033d3d3dda285d185e5ede5e5e5e5e5e5e5e010000005e5e5e5e5e5e5e5e5e5e5e5e000000000000000000000000000000000000000000000000000000007c0000000000000000000000000000007e5e5effffffffffffffff5e5e625e5e5e5e5e5e5e5e5e5e5e5e0000000000000000000000000000000000000000000000060606060606060606060606060606060606060606060600002a7c5c1adc52000000ffffffffffffffffff5bff5ede5e5e5e5e5e5e5e010000005e5e5e5e5e5e5e5e5e5e5e5e000000000000000000000000000000000000000000000000000000007c0000000000000000000000000000007e5e5effffffffffffffff5e5e625e5e5e5e5e5e5e5e5e5e5e5e0000000000000000000000000000000000000000000000060606060606060606060606060606060606060606060600002a7c5c1adc52000000ffffffffffffffffff5bffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff68581a5e5e7c007878")
    # Finding 2: a NaN in the lane of the maximum hid it (OnlineSoftmax::max).
    yield "softmax", "regress_nan_hides_max", bytes.fromhex("7e264a3f51272703")
    yield "accumulate", "tails", u8(19) + moderate_tensor(wave(19)) + scalar_moderate(1.5) + u8(21) + moderate_tensor(wave(21)) \
        + u8(6) + moderate_tensor(wave(6)) + u8(5) + moderate_tensor(wave(5)) + u8(4) + u8(3) + moderate_tensor(wave(27))
    yield "accumulate", "fma_vs_two_roundings", u8(4) + moderate_tensor([1.0, -1.0, 3.0, 0.5]) \
        + u8(0) + raw(0x3F800001) + u8(4) + tensor(RAW, [raw(0x3F7FFFFF)] * 4)
    yield "accumulate", "inf_weight_zero_x", u8(5) + moderate_tensor(wave(5)) + scalar_special("inf") + u8(5) \
        + tensor(MIXED, [special("zero")] * 5)
    yield "exp", "specials", u8(32) + tensor(MIXED, [u8(32 + i) for i in range(32)])
    yield "exp", "subnormal_results", u8(8) + tensor(WIDE, [wide(-28000 - 500 * i, 7) for i in range(8)])
    yield "exp", "near_overflow", u8(4) + tensor(RAW, [raw(0x42B17217), raw(0x42B17218), raw(0x42B17219), raw(0x42B20000)])


def runtime_seeds():
    def shape(q, k, d, dv):
        return u8(q) + u8(k) + u8(d) + u8(dv)
    exact = u8(0)
    ok = shape(3, 5, 4, 6) + exact + moderate_tensor(wave(12)) + exact + moderate_tensor(wave(20)) + exact \
        + moderate_tensor(wave(30)) + settings(causal=True) + u8(0) + u8(0) + exact + exact + u8(1) + exact
    yield "valid_toy", ok
    yield "zero_dimension", shape(0, 5, 4, 6)
    yield "size_overflow", u8(255) + u8(0xFB) + shape(1, 2, 2, 0)[1:]
    yield "key_length_off_by_one", shape(2, 3, 2, 2) + exact + moderate_tensor(wave(4)) + u8(2) + moderate_tensor(wave(7))
    yield "mask_length_wrong", shape(2, 3, 1, 1) + exact + moderate_tensor(wave(2)) + exact + moderate_tensor(wave(3)) \
        + exact + moderate_tensor(wave(3)) + settings() + u8(1) + u8(2 | 4) + bools([True] * 5)
    yield "rows_past_the_end", shape(2, 2, 1, 1) + exact + moderate_tensor(wave(2)) + exact + moderate_tensor(wave(2)) \
        + exact + moderate_tensor(wave(2)) + settings() + u8(0) + u8(0) + exact + exact + u8(2) + u8(0)


# layer_decode shapes <D, QH, KVH, HD, CAP, T> (fuzz_targets/layer_decode.rs).
LAYER_SHAPES = [(4, 2, 2, 2, 3, 8), (8, 2, 1, 4, 5, 12), (8, 4, 2, 2, 4, 9), (16, 2, 1, 8, 17, 20)]
NO_POS, ROPE_INTERLEAVED, ROPE_HALF_SPLIT, ALIBI = range(4)


def layer(shape, positions, sliding, steps, biases=False, scale=None, x=None, amp=0.3):
    """One layer_decode seed: weights, optional biases, tokens, positions, scale, cache mode, steps."""
    d, qh, kvh, hd, cap, t = LAYER_SHAPES[shape]
    out = u8(shape)
    for n, phase in [(d * d, 0.0), (kvh * hd * d, 1.0), (kvh * hd * d, 2.0), (d * d, 3.0)]:
        out += moderate_tensor(wave(n, amp, phase))
    out += u8(int(biases))
    if biases:
        for n, phase in [(d, 0.5), (kvh * hd, 1.5), (kvh * hd, 2.5), (d, 3.5)]:
            out += moderate_tensor(wave(n, 0.1, phase))
    out += x or moderate_tensor(wave(t * d, 1.0, 0.7))
    out += u8(positions)
    out += u8(0) if scale is None else u8(1) + scale
    return out + u8(int(sliding)) + u8(steps)


def layer_seeds():
    yield "mha_rope_fixed_refuses_past_capacity", layer(0, ROPE_INTERLEAVED, False, 8)
    yield "mqa_alibi_biases_sliding_wraps", layer(1, ALIBI, True, 12, biases=True)
    yield "gqa_half_split_scale_sliding", layer(2, ROPE_HALF_SPLIT, True, 9, scale=scalar_moderate(0.5))
    yield "long_cache_fixed", layer(3, NO_POS, False, 20)
    nan_x = tensor(MIXED, [special("nan") if i == 9 else mixed_moderate(x) for i, x in enumerate(wave(8 * 4))])
    yield "nan_token_sliding", layer(0, ALIBI, True, 8, x=nan_x)
    yield "huge_weights", layer(1, ROPE_INTERLEAVED, True, 12, amp=31.0)


def multihead(dims=(2, 4, 2, 3, 5, 4, 6), layouts=(u8(0),) * 4, lens=(u8(0),) * 4, opts=u8(0),
              mask=u8(0) + u8(0) + u8(0), bias=u8(0) + u8(0), slopes=u8(0), seed=1):
    """One multihead seed (fuzz_targets/multihead.rs): the seven sizes (batch, q_heads, kv_heads,
    queries, keys, head_dim, value_dim), a value seed, the layouts and buffer lengths of q, k, v
    and out, settings, mask, bias and ALiBi slopes."""
    return b"".join(u8(x) for x in dims) + struct.pack("<I", seed) + b"".join(layouts) + b"".join(lens) \
        + opts + mask + bias + slopes


def mh_settings(scale=None, causal=False, bottom_right=False, window=None, alibi=None):
    """The target's own settings: flag byte, scale as i8/16, window extents, slope as u8/64."""
    flags = (scale is not None) | causal << 1 | bottom_right << 2 | (window is not None) << 3 | (alibi is not None) << 4
    out = u8(flags)
    if scale is not None:
        out += struct.pack("<b", round(scale * 16))
    if window is not None:
        out += u8(window[0]) + u8(window[1])
    if alibi is not None:
        out += u8(round(alibi * 64))
    return out


def nested(order, pads):
    """A nested layout: axis order index (0..5) and the padding of each stride, innermost first."""
    return u8(2) + u8(order) + b"".join(u8(p) for p in pads)


def arbitrary(batch, head, token, dim=None):
    """Strides as given (each a byte: below 64, or 250.. for the huge ones); dim 1 unless given."""
    if dim is None:
        return u8(5) + u8(batch) + u8(head) + u8(token)
    return u8(6) + u8(dim) + u8(batch) + u8(head) + u8(token)


BHSD_L, BSHD_L = u8(0), u8(1)
EXACT, SHORT, LONG = u8(0), u8(2 | 4), u8(2)
SHARED, PER_HEAD, PER_BATCH, PER_BATCH_HEAD = range(4)


def multihead_seeds():
    yield "gqa_bhsd_causal", multihead(opts=mh_settings(causal=True))
    yield "mqa_bshd_padding_mask", multihead(
        dims=(1, 6, 1, 9, 17, 8, 5), layouts=(BSHD_L,) * 4,
        mask=u8(2) + u8(PER_BATCH) + EXACT + bools([True] * 12 + [False] * 5))
    yield "padded_every_order", multihead(
        dims=(3, 2, 2, 4, 7, 5, 3), layouts=(nested(0, (1, 2, 3)), nested(3, (0, 3, 1)), nested(4, (2, 0, 0)),
                                             nested(5, (3, 1, 2))),
        lens=(LONG, EXACT, LONG, EXACT), opts=mh_settings(window=(2, 1), bottom_right=True))
    yield "tiled_engine_rows", multihead(dims=(1, 2, 1, 11, 39, 11, 11), layouts=(BSHD_L, BHSD_L, BSHD_L, BHSD_L),
                                         opts=mh_settings(causal=True, scale=0.5))
    yield "alibi_per_head_bias_per_head", multihead(
        opts=mh_settings(causal=True), bias=u8(1) + u8(PER_HEAD) + EXACT + b"".join(u8(i * 37) for i in range(60)),
        slopes=u8(1) + b"".join(u8(x) for x in (32, 16, 8, 4)))
    yield "batch_head_key_mask_bias", multihead(
        mask=u8(2) + u8(PER_BATCH_HEAD) + EXACT + bools([(i * 7) % 5 != 0 for i in range(40)]),
        bias=u8(2) + u8(PER_BATCH) + EXACT + b"".join(u8(i * 53) for i in range(10)))
    yield "broadcast_kv_stride_zero", multihead(
        dims=(2, 3, 1, 2, 4, 3, 3), layouts=(BHSD_L, arbitrary(0, 0, 3), arbitrary(0, 0, 3), BSHD_L))
    yield "zero_dimension", multihead(dims=(2, 4, 2, 0, 5, 4, 6))
    yield "head_groups", multihead(dims=(1, 4, 3, 3, 5, 4, 6))
    yield "huge_batch", u8(250) + u8(0xFB) + multihead(dims=(4, 2, 3, 5, 4, 6))
    yield "output_overlap", multihead(layouts=(BHSD_L, BHSD_L, BHSD_L, arbitrary(72, 0, 24)))
    yield "output_interleaved", multihead(dims=(1, 2, 2, 3, 3, 1, 1),
                                          layouts=(BHSD_L, BHSD_L, BHSD_L, arbitrary(0, 3, 2)))
    yield "dim_stride", multihead(layouts=(BHSD_L, u8(7) + u8(2), BHSD_L, BHSD_L))
    yield "token_stride", multihead(layouts=(BHSD_L, BHSD_L, arbitrary(60, 30, 5), BHSD_L))
    yield "key_one_short", multihead(lens=(EXACT, SHORT, EXACT, EXACT))
    yield "stride_overflow", multihead(layouts=(arbitrary(250, 251, 252), BHSD_L, BHSD_L, BHSD_L))
    yield "mask_length_wrong", multihead(mask=u8(1) + u8(PER_HEAD) + LONG + u8(0))
    yield "slopes_length_wrong", multihead(slopes=u8(2) + u8(3))


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    for name, data in attention_seeds():
        write("attention", name, data)
    for target, name, data in kernel_seeds():
        write(target, name, data)
    for name, data in runtime_seeds():
        write("runtime", name, data)
    for name, data in layer_seeds():
        write("layer_decode", name, data)
    for name, data in multihead_seeds():
        write("multihead", name, data)


if __name__ == "__main__":
    main()
