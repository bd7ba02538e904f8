//! The lecture notebook's toy, then the notebook's "try it": does "bank"
//! attend to "river"?
//!
//! Run: `cargo run --release -p sdpa-demo` (from the repository root)

use sdpa::{Matrix, Options, attention_weights};

mod seed_toy {
    include!("../../../tests/data/seed_toy.rs");
}

/// Converts a numpy float64 matrix to the crate's f32 storage.
fn to_f32<const R: usize, const C: usize>(m: &[[f64; C]; R]) -> Matrix<R, C> {
    Matrix::from_fn(|r, c| m[r][c] as f32)
}

/// One character per weight, darker = more attention.
fn shade(w: f32) -> char {
    const RAMP: [char; 9] = [' ', '.', ':', '-', '=', '+', '*', '#', '@'];
    RAMP[((w.clamp(0.0, 1.0) * 8.0).round() as usize).min(8)]
}

/// Prints a weight matrix as numbers and as a text heat map.
fn heat_map<const NQ: usize, const NK: usize>(rows: &[&str; NQ], cols: &[&str; NK], w: &Matrix<NQ, NK>) {
    let width = cols.iter().map(|c| c.len()).max().unwrap_or(1).max(5);
    let label = rows.iter().map(|r| r.len()).max().unwrap_or(1);
    print!("{:label$}  ", "");
    for c in cols {
        print!(" {c:>width$}");
    }
    println!("   heat (' ' = 0 … '@' = 1)");
    for (name, row) in rows.iter().zip(w.rows()) {
        print!("{name:>label$}  ");
        for x in row {
            print!(" {x:>width$.3}");
        }
        let map: String = row.iter().map(|&x| shade(x)).collect();
        println!("   |{map}|");
    }
}

/// `X · W` for token embeddings `X` (tokens × E) and a projection `W` (E × H).
fn project<const T: usize, const E: usize, const H: usize>(x: &Matrix<T, E>, w: &Matrix<E, H>) -> Matrix<T, H> {
    Matrix::from_fn(|t, h| (0..E).map(|e| x.rows()[t][e] * w.rows()[e][h]).sum())
}

fn seed_toy() {
    println!("== The seed notebook's toy: 3 queries of dim 4, 5 keys, values of dim 6 (numpy seed 0)\n");
    let (q, k, v) = (to_f32(&seed_toy::Q), to_f32(&seed_toy::K), to_f32(&seed_toy::V));
    let mut out = Matrix::<3, 6>::zeros();
    let mut weights = Matrix::<3, 5>::zeros();
    attention_weights(&q, &k, &v, &mut out, &mut weights, &Options::new());

    println!("weights (3x5), softmax(Q·Kᵀ/√4):");
    heat_map(&["q0", "q1", "q2"], &["k0", "k1", "k2", "k3", "k4"], &weights);
    println!("\nout (3x6) = weights · V:");
    for row in out.rows() {
        println!("  {}", row.map(|x| format!("{x:>8.4}")).join(" "));
    }
    let diff =
        |ours: &[f32], numpy: &[f64]| ours.iter().zip(numpy).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
    let w_diff = diff(weights.as_slice(), seed_toy::WEIGHTS.as_flattened());
    let o_diff = diff(out.as_slice(), seed_toy::OUT.as_flattened());
    println!("\nvs numpy float64: max |weights - numpy| = {w_diff:.2e}, max |out - numpy| = {o_diff:.2e}");
    println!("(f32 throughout, {} backend; tests/seed_toy.rs holds both under 1e-5)\n", sdpa::backend());
}

/// Hand-made 4-dim embeddings: [needs-context noun, water/nature, money, function word].
fn embed(word: &str) -> [f32; 4] {
    match word {
        "bank" => [1.0, 0.1, 0.1, 0.0],
        "river" => [0.1, 1.0, 0.0, 0.0],
        "overflowing" => [0.0, 0.6, 0.0, 0.1],
        "loan" => [0.1, 0.0, 1.0, 0.0],
        "approved" => [0.0, 0.0, 0.5, 0.1],
        _ => [0.0, 0.0, 0.0, 1.0], // the, near, was
    }
}

/// Query: an ambiguous noun asks "is there water or money around?".
const WQ: Matrix<4, 2> = Matrix::from_rows([[3.0, 3.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]);
/// Key: a word answers with how much water and how much money it carries.
const WK: Matrix<4, 2> = Matrix::from_rows([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0], [0.0, 0.0]]);
/// Value: the sense a word contributes, [river sense, money sense].
const WV: Matrix<4, 2> = Matrix::from_rows([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]);

fn sentence<const T: usize>(title: &str, words: [&str; T]) {
    let x = Matrix::<T, 4>::from_fn(|t, e| embed(words[t])[e]);
    let (q, k, v) = (project(&x, &WQ), project(&x, &WK), project(&x, &WV));
    let mut out = Matrix::<T, 2>::zeros();
    let mut weights = Matrix::<T, T>::zeros();
    attention_weights(&q, &k, &v, &mut out, &mut weights, &Options::new());

    println!("== {title}\n");
    heat_map(&words, &words, &weights);
    let bank = words.iter().position(|w| *w == "bank").unwrap_or(0);
    let [river, money] = out.rows()[bank];
    let focus = (0..T).max_by(|&a, &b| weights.rows()[bank][a].total_cmp(&weights.rows()[bank][b])).unwrap_or(0);
    println!(
        "\n\"bank\" attends most to \"{}\" ({:.0}%); its new representation: river sense {river:.2}, money sense {money:.2}\n",
        words[focus],
        100.0 * weights.rows()[bank][focus]
    );
}

fn main() {
    seed_toy();
    sentence(
        "\"The bank near the river was overflowing.\"",
        ["The", "bank", "near", "the", "river", "was", "overflowing"],
    );
    sentence("Counter-example: \"The bank approved the loan.\"", ["The", "bank", "approved", "the", "loan"]);
}
