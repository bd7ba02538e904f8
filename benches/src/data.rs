//! The workloads of issue 5 and their inputs: f32 uniform in [-1, 1), fixed
//! seed, scale 1/√D.

/// SplitMix64, the same generator the tests use (and `benches/torch_peers.py`,
/// so PyTorch sees the same inputs).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    pub fn unit(&mut self) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        2.0 * u - 1.0
    }

    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.unit()).collect()
    }
}

/// One attention workload.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub id: &'static str,
    pub nq: usize,
    pub nk: usize,
    pub d: usize,
    pub dv: usize,
    pub causal: bool,
}

impl Workload {
    /// Criterion group name, also parsed by `scripts/bench_chart.py`.
    pub fn group(&self) -> String {
        let mask = if self.causal { " causal" } else { "" };
        format!("attention {} {}x{}x{}x{}{}", self.id, self.nq, self.nk, self.d, self.dv, mask)
    }

    /// Flops counted for throughput: `2·NQ·NK·D + 2·NQ·NK·DV`, halved for a
    /// causal mask (the convention).
    pub fn flops(&self) -> u64 {
        let full = 2 * self.nq * self.nk * (self.d + self.dv);
        (if self.causal { full / 2 } else { full }) as u64
    }

    pub fn scale(&self) -> f32 {
        1.0 / (self.d as f32).sqrt()
    }
}

/// The workloads of issue 5 (shapes in BENCHMARKS.md; `benches/torch_peers.py`
/// has the same list).
pub const WORKLOADS: [Workload; 8] = [
    Workload { id: "W1", nq: 3, nk: 5, d: 4, dv: 6, causal: false },
    Workload { id: "W2", nq: 16, nk: 16, d: 16, dv: 16, causal: false },
    Workload { id: "W3", nq: 64, nk: 64, d: 32, dv: 32, causal: false },
    Workload { id: "W4", nq: 128, nk: 128, d: 64, dv: 64, causal: false },
    Workload { id: "W5", nq: 256, nk: 256, d: 64, dv: 64, causal: false },
    Workload { id: "W6", nq: 512, nk: 512, d: 64, dv: 64, causal: false },
    Workload { id: "W7", nq: 256, nk: 256, d: 64, dv: 64, causal: true },
    Workload { id: "W8", nq: 1, nk: 1024, d: 64, dv: 64, causal: false },
];

/// Flat row-major inputs of one workload.
pub struct Inputs {
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
}

impl Inputs {
    pub fn new(w: &Workload) -> Self {
        let mut rng = Rng::new(0x5D0A_0005_u64.wrapping_add(w.nq as u64 * 31 + w.nk as u64));
        let q = rng.vec(w.nq * w.d);
        let k = rng.vec(w.nk * w.d);
        let v = rng.vec(w.nk * w.dv);
        Inputs { q, k, v }
    }
}

#[cfg(test)]
mod tests {
    use super::{Inputs, WORKLOADS};

    /// `benches/torch_peers.py` regenerates the inputs with the same
    /// generator; these values are what it prints for W1
    /// (`attention_inputs(3, 5, 4, 6)`), so both sides see the same numbers.
    #[test]
    fn w1_inputs_match_torch_peers_py() {
        let w1 = Inputs::new(&WORKLOADS[0]);
        assert_eq!(w1.q[..3], [0.215_125_56, 0.461_471_2, -0.697_139_5]);
        assert_eq!(w1.v[w1.v.len() - 2..], [0.996_357_56, -0.895_622_5]);
    }
}
