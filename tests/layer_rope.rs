//! Properties of RoPE (proptest): it preserves norms, `q(m)·k(n)` depends on
//! `m − n` only, and the half-split layout is the interleaved one with the
//! components reordered (pair `i` is `(i, i + HD/2)` instead of `(2i, 2i + 1)`).
//! Every case runs on every backend this build and CPU support.

mod common;

use common::prop::on_every_backend;
use proptest::prelude::*;
use sdpa::layer::Rope;
use sdpa_oracle::backend::each_backend;

const HD: usize = 16;

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

fn rope() -> impl Strategy<Value = Rope> {
    (
        prop_oneof![Just(Rope::interleaved()), Just(Rope::half_split())],
        prop_oneof![Just(10_000.0f32), Just(500_000.0), 2.0f32..1e4],
    )
        .prop_map(|(r, theta)| r.theta(theta))
}

fn vector() -> impl Strategy<Value = [f32; HD]> {
    proptest::array::uniform16(-2.0f32..2.0)
}

proptest! {
    #[test]
    fn rotation_preserves_the_norm(r in rope(), x in vector(), pos in 0usize..4096) {
        on_every_backend(|_| {
            let mut y = x;
            r.rotate(pos, &mut y);
            let (a, b) = (dot(&x, &x).sqrt(), dot(&y, &y).sqrt());
            prop_assert!((a - b).abs() <= 1e-6 * (1.0 + a), "{} vs {}", a, b);
            Ok(())
        })?;
    }

    /// Shifting both positions by `s` leaves the score unchanged (up to f32
    /// angle rounding, which grows with the position: positions < 256 here).
    #[test]
    fn scores_depend_on_the_relative_position_only(
        r in rope(), q in vector(), k in vector(), m in 0usize..128, n in 0usize..128, s in 0usize..128,
    ) {
        let score = |pm: usize, pn: usize| {
            let (mut a, mut b) = (q, k);
            r.rotate(pm, &mut a);
            r.rotate(pn, &mut b);
            dot(&a, &b)
        };
        on_every_backend(|_| {
            let (near, shifted) = (score(m, n), score(m + s, n + s));
            let size = dot(&q, &q).sqrt() * dot(&k, &k).sqrt();
            prop_assert!((near - shifted).abs() <= 2e-4 * size, "{} vs {}", near, shifted);
            Ok(())
        })?;
    }

    #[test]
    fn half_split_is_interleaved_on_reordered_components(
        theta in 2.0f32..1e5, x in vector(), pos in 0usize..10_000,
    ) {
        // Component 2i ↔ i and 2i + 1 ↔ i + HD/2.
        let to_half = |v: &[f32; HD]| -> [f32; HD] {
            core::array::from_fn(|j| if j < HD / 2 { v[2 * j] } else { v[2 * (j - HD / 2) + 1] })
        };
        on_every_backend(|_| {
            let mut inter = x;
            Rope::interleaved().theta(theta).rotate(pos, &mut inter);
            let mut half = to_half(&x);
            Rope::half_split().theta(theta).rotate(pos, &mut half);
            prop_assert_eq!(half, to_half(&inter));
            Ok(())
        })?;
    }
}

#[test]
fn position_zero_is_the_identity_and_theta_sets_the_frequencies() {
    each_backend(|_| {
        let x: [f32; HD] = core::array::from_fn(|i| i as f32 - 7.5);
        for r in [Rope::interleaved(), Rope::half_split()] {
            let mut y = x;
            r.rotate(0, &mut y);
            assert_eq!(y, x);
        }
        // Pair 1 of an interleaved head of 4 turns by p·θ^(−2/4): with θ = 100 at p = 3, 0.3 rad.
        let mut y = [0.0, 0.0, 1.0, 0.0];
        Rope::interleaved().theta(100.0).rotate(3, &mut y);
        assert!((y[2] - 0.3f32.cos()).abs() < 1e-6 && (y[3] - 0.3f32.sin()).abs() < 1e-6, "{y:?}");
    });
}
