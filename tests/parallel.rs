//! The `rayon` feature: attention and the layer split over threads give
//! the same bits as one thread, on every backend.
//!
//! `cargo test --release --features rayon --test parallel`

use sdpa::__engines::with_threads;
use sdpa::layer::{LayerMask, Positions, Scratch, SelfAttention, Weights};
use sdpa::runtime::{self, Shape};
use sdpa::{Matrix, Options, attention};
use sdpa_oracle::Rng;
use sdpa_oracle::backend::each_backend;

fn filled<const R: usize, const C: usize>(rng: &mut Rng) -> Box<Matrix<R, C>> {
    Box::new(Matrix::from_fn(|_, _| rng.uniform(-1.0, 1.0)))
}

fn bits(xs: &[f32]) -> Vec<u32> {
    xs.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn attention_on_one_two_and_three_threads_gives_the_same_bits() {
    let mut rng = Rng::new(11);
    let (q, k, v) = (filled::<300, 64>(&mut rng), filled::<300, 64>(&mut rng), filled::<300, 48>(&mut rng));
    each_backend(|b| {
        for options in [Options::new(), Options::new().causal(), Options::new().causal().window(40, 0)] {
            let run = |threads| {
                with_threads(threads, || {
                    let mut out = Box::new(Matrix::<300, 48>::zeros());
                    attention(&q, &k, &v, &mut out, &options);
                    bits(out.as_slice())
                })
                .expect("a pool")
            };
            let one = run(1);
            assert_eq!(one, run(2), "{b}: 2 threads differ");
            assert_eq!(one, run(3), "{b}: 3 threads differ");
            let shape = Shape { queries: 300, keys: 300, head_dim: 64, value_dim: 48 };
            let rt = with_threads(2, || {
                let mut out = vec![0.0; 300 * 48];
                let o = options.to_runtime();
                runtime::attention(shape, q.as_slice(), k.as_slice(), v.as_slice(), &mut out, &o).expect("valid");
                bits(&out)
            });
            assert_eq!(Some(one), rt, "{b}: the runtime API on 2 threads differs");
        }
    });
}

#[test]
fn the_layer_on_two_threads_gives_the_same_bits() {
    const T: usize = 96;
    const D: usize = 128;
    let mut rng = Rng::new(12);
    let w: Vec<f32> = (0..D * D).map(|_| rng.uniform(-0.1, 0.1)).collect();
    let kv: Vec<f32> = (0..D * D / 2).map(|_| rng.uniform(-0.1, 0.1)).collect();
    let bias: Vec<f32> = (0..D).map(|_| rng.uniform(-0.1, 0.1)).collect();
    let weights = Weights::<D, 4, 2, 32>::new(&w, &kv, &kv, &w)
        .and_then(|w| w.with_biases(&bias, &bias[..D / 2], &bias[..D / 2], &bias))
        .expect("shapes");
    let x = filled::<T, D>(&mut rng);
    each_backend(|b| {
        for positions in [Positions::None, Positions::Alibi] {
            let layer = SelfAttention::new(weights, positions);
            let run = |threads| {
                with_threads(threads, || {
                    let mut out = Box::new(Matrix::<T, D>::zeros());
                    let mut scratch = Box::new(Scratch::new());
                    layer.forward(&x, &mut out, &LayerMask::causal(), &mut scratch);
                    bits(out.as_slice())
                })
                .expect("a pool")
            };
            assert_eq!(run(1), run(2), "{b} {positions:?}: 2 threads differ");
        }
    });
}
