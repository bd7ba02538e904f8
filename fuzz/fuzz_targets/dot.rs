//! `dot`, `dot_reference` and `dot_rows` against f64 and against each other.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sdpa::kernels::{dot, dot_reference, dot_rows};
use sdpa_fuzz::SENTINEL;
use sdpa_fuzz::input::Input;
use sdpa_oracle::bounds::dot_depth_bound;
use sdpa_oracle::{LIMIT, dot64, finite_abs_dot64, lanes, same};

fuzz_target!(init: sdpa_fuzz::announce("dot"), |data: &[u8]| {
    let mut inp = Input::new(data);
    let mut a = vec![0.0; usize::from(inp.byte())];
    inp.fill(&mut a);
    let mut b = vec![0.0; usize::from(inp.byte())];
    inp.fill(&mut b);
    pair(&a, &b);

    let mut query = vec![0.0; inp.below(41)];
    inp.fill(&mut query);
    let d = query.len();
    let mut rows = vec![0.0; inp.below(13) * d + inp.below(d + 1)];
    inp.fill(&mut rows);
    let mut out = vec![SENTINEL; inp.below(16)];
    block(&query, &rows, &mut out);
});

/// Log₂ of the lane count.
fn log2_lanes() -> f64 {
    (lanes() as f64).log2()
}

/// The checks every dot product result obeys, with `depth` the documented
/// error bound's factor: `|got − exact| ≤ depth·u·Σ|aᵢbᵢ|` over the finite
/// products (plus gradual underflow, at most one `2⁻¹⁴⁹` per operation;
/// [`dot_depth_bound`]).
fn check(a: &[f32], b: &[f32], got: f32, depth: f64, what: &str) {
    let (exact, abs) = (dot64(a, b), finite_abs_dot64(a, b));
    if exact.is_nan() {
        assert!(got.is_nan(), "{what}: IEEE gives NaN, got {got:e}");
    } else if abs <= LIMIT {
        if exact.is_infinite() {
            assert_eq!(f64::from(got), exact, "{what}: an infinite product must win");
        } else {
            let bound = dot_depth_bound(depth, a.len(), abs);
            let err = (f64::from(got) - exact).abs();
            assert!(err <= bound, "{what}: {got:e} vs exact {exact:e}: error {err:e} > {bound:e} (n = {})", a.len());
        }
    }
}

fn pair(a: &[f32], b: &[f32]) {
    let n = a.len().min(b.len());
    let (ap, bp) = (&a[..n], &b[..n]);
    let got = dot(a, b);
    // Common prefix, commutative (products and fused products are).
    assert!(same(got, dot(ap, bp)), "dot must use the common prefix");
    assert!(same(got, dot(b, a)), "dot(a, b) != dot(b, a)");
    let l = lanes() as f64;
    check(ap, bp, got, n as f64 / l + 2.0 * log2_lanes() + 2.0, "dot");
    check(ap, bp, dot_reference(a, b), n as f64 + 1.0, "dot_reference");
}

fn block(query: &[f32], rows: &[f32], out: &mut [f32]) {
    let d = query.len();
    dot_rows(query, rows, out);
    if d == 0 {
        assert!(out.iter().all(|x| x.to_bits() == 0), "an empty query writes +0 to every output: {out:?}");
        return;
    }
    let n = out.len().min(rows.len() / d);
    let depth = d as f64 / lanes() as f64 + log2_lanes() + 1.0;
    for (j, &got) in out.iter().enumerate() {
        if j >= n {
            assert_eq!(got.to_bits(), SENTINEL.to_bits(), "dot_rows wrote output {j} past {n}");
            continue;
        }
        let row = &rows[j * d..(j + 1) * d];
        let mut alone = [SENTINEL];
        dot_rows(query, row, &mut alone);
        assert!(same(got, alone[0]), "dot_rows output {j}: {got:e} in a block, {:e} alone", alone[0]);
        check(query, row, got, depth, &format!("dot_rows output {j}"));
    }
}
