//! The runtime-shape API with arbitrary (often wrong) shapes and lengths:
//! it must return an error whose condition really holds, write nothing when
//! it does, succeed exactly when every length is right, and then compute
//! what the f64 reference says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdpa::runtime::{self, Error, Shape};
use sdpa_fuzz::SENTINEL;
use sdpa_fuzz::check::{self, assert_same};
use sdpa_fuzz::input::Input;
use sdpa_oracle::{Problem, Spread};

/// Slices longer than this are never built; such lengths become small random ones.
const CAP: usize = 4096;

fuzz_target!(init: sdpa_fuzz::announce("runtime"), |data: &[u8]| {
    let mut inp = Input::new(data);
    let shape = Shape { queries: dim(&mut inp, 9), keys: dim(&mut inp, 41), head_dim: dim(&mut inp, 9), value_dim: dim(&mut inp, 9) };
    let Shape { queries: nq, keys: nk, head_dim: d, value_dim: dv } = shape;
    let mut q = vec![0.0; len(&mut inp, nq.checked_mul(d))];
    inp.fill(&mut q);
    let mut k = vec![0.0; len(&mut inp, nk.checked_mul(d))];
    inp.fill(&mut k);
    let mut v = vec![0.0; len(&mut inp, nk.checked_mul(dv))];
    inp.fill(&mut v);
    let settings = inp.settings();
    let pairs = nq.checked_mul(nk);
    let mask_kind = inp.byte() % 3;
    let mut mask = vec![true; match mask_kind { 1 => len(&mut inp, pairs), 2 => len(&mut inp, Some(nk)), _ => 0 }];
    inp.bools(&mut mask);
    let bias_kind = inp.byte() % 3;
    let mut bias = vec![0.0; match bias_kind { 1 => len(&mut inp, pairs), 2 => len(&mut inp, Some(nk)), _ => 0 }];
    inp.fill(&mut bias);
    let out_len = len(&mut inp, nq.checked_mul(dv));
    let weights_len = len(&mut inp, pairs);
    let first_row = inp.size();
    let rows = inp_rows(&mut inp, nq, first_row);
    let rows_len = len(&mut inp, rows.checked_mul(dv));

    let problem = Problem {
        nq,
        nk,
        d,
        dv,
        q: &q,
        k: &k,
        v: &v,
        settings,
        mask: match mask_kind {
            1 => Some(Spread::PerQuery(&mask)),
            2 => Some(Spread::PerKey(&mask)),
            _ => None,
        },
        bias: match bias_kind {
            1 => Some(Spread::PerQuery(&bias)),
            2 => Some(Spread::PerKey(&bias)),
            _ => None,
        },
    };
    let o = problem.runtime_options();
    let common = common_errors(shape, &q, &k, &v, &problem);

    let mut out = vec![SENTINEL; out_len];
    let got = runtime::attention(shape, &q, &k, &v, &mut out, &o);
    let mut applies = common.clone();
    if Some(out_len) != nq.checked_mul(dv) {
        applies.push(Error::OutputLength);
    }
    verdict(got, &applies, &out, "attention");

    let mut out_w = vec![SENTINEL; out_len];
    let mut weights = vec![SENTINEL; weights_len];
    let got_w = runtime::attention_weights(shape, &q, &k, &v, &mut out_w, &mut weights, &o);
    if Some(weights_len) != pairs {
        applies.push(Error::WeightsLength);
    }
    verdict(got_w, &applies, &out_w, "attention_weights");
    if got_w.is_err() {
        assert!(weights.iter().all(|x| x.to_bits() == SENTINEL.to_bits()), "attention_weights wrote weights on error");
    }
    if got.is_ok() && got_w.is_ok() {
        check::attention(&problem, &out, &out_w, &weights);
    }

    let mut part = vec![SENTINEL; rows_len];
    let got_r = runtime::attention_rows(shape, &q, &k, &v, first_row, &mut part, &o);
    let mut applies = common;
    if dv > 0 && !rows_len.is_multiple_of(dv) {
        applies.push(Error::OutputLength);
    }
    if dv > 0 && rows_len.is_multiple_of(dv) && first_row.checked_add(rows_len / dv).is_none_or(|end| end > nq) {
        applies.push(Error::RowRange);
    }
    verdict(got_r, &applies, &part, "attention_rows");
    if got_r.is_ok() {
        let mut full = vec![SENTINEL; nq * dv];
        assert_eq!(runtime::attention(shape, &q, &k, &v, &mut full, &o), Ok(()), "rows valid, whole call refused");
        let want = &full[first_row * dv..first_row * dv + rows_len];
        assert_same(&part, want, "attention_rows vs the same rows of attention");
    }
});

/// A dimension: `0..max` mostly, sometimes huge (products overflow).
fn dim(inp: &mut Input<'_>, max: usize) -> usize {
    match inp.byte() {
        b @ 0..=239 => usize::from(b) % max,
        _ => inp.size().max(1 << 20),
    }
}

/// A slice length: usually the expected one, or one off, or anything small.
fn len(inp: &mut Input<'_>, expected: Option<usize>) -> usize {
    let tag = inp.byte();
    match (tag % 4, expected.filter(|&n| n <= CAP)) {
        (0 | 1, Some(n)) => n,
        (2, Some(n)) => {
            if tag & 4 == 0 {
                n + 1
            } else {
                n.saturating_sub(1)
            }
        }
        _ => inp.below(100),
    }
}

/// How many rows an `attention_rows` call asks for (at most to the end, or one more).
fn inp_rows(inp: &mut Input<'_>, nq: usize, first_row: usize) -> usize {
    nq.saturating_sub(first_row).min(CAP) + usize::from(inp.byte() % 8 == 0)
}

/// Errors whose condition holds for the validation every call shares.
fn common_errors(shape: Shape, q: &[f32], k: &[f32], v: &[f32], p: &Problem<'_>) -> Vec<Error> {
    let Shape { queries: nq, keys: nk, head_dim: d, value_dim: dv } = shape;
    let mut e = Vec::new();
    if nq == 0 || nk == 0 || d == 0 || dv == 0 {
        e.push(Error::ZeroDimension);
    }
    let pairs = nq.checked_mul(nk);
    let products = [nq.checked_mul(d), nk.checked_mul(d), nk.checked_mul(dv), nq.checked_mul(dv), pairs];
    if products.iter().any(Option::is_none) {
        e.push(Error::SizeOverflow);
    }
    for (have, want, err) in [
        (q.len(), products[0], Error::QueryLength),
        (k.len(), products[1], Error::KeyLength),
        (v.len(), products[2], Error::ValueLength),
    ] {
        if Some(have) != want {
            e.push(err);
        }
    }
    let spread_ok = |per_query: bool, n: usize| if per_query { Some(n) == pairs } else { n == nk };
    match p.mask {
        Some(Spread::PerQuery(m)) if !spread_ok(true, m.len()) => e.push(Error::MaskLength),
        Some(Spread::PerKey(m)) if !spread_ok(false, m.len()) => e.push(Error::MaskLength),
        _ => {}
    }
    match p.bias {
        Some(Spread::PerQuery(b)) if !spread_ok(true, b.len()) => e.push(Error::BiasLength),
        Some(Spread::PerKey(b)) if !spread_ok(false, b.len()) => e.push(Error::BiasLength),
        _ => {}
    }
    e
}

/// `Ok` exactly when no error applies; an error only if it applies, with the output untouched.
fn verdict(got: Result<(), Error>, applies: &[Error], out: &[f32], what: &str) {
    match got {
        Ok(()) => assert!(applies.is_empty(), "{what}: Ok although {applies:?} apply"),
        Err(e) => {
            assert!(applies.contains(&e), "{what}: {e:?} returned, but only {applies:?} apply");
            assert!(out.iter().all(|x| x.to_bits() == SENTINEL.to_bits()), "{what}: wrote output before {e:?}");
        }
    }
}
