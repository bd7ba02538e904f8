//! Decoding fuzzer bytes into floats, masks and options.
//!
//! The format is a plain byte stream read front to back through
//! [`arbitrary::Unstructured`] (integers little-endian, zeros once the data
//! runs out), so seeds can be written by hand (`fuzz/seeds.py`).
//!
//! Floats come in tensors: one mode byte, then the values in that mode.
//! [`FloatMode::Raw`] and [`FloatMode::Mixed`] reach every `f32` bit pattern
//! (NaN payloads, signalling NaNs, ±∞, ±0, subnormals, ±MAX); the other
//! modes make finite, attention-sized data likely so the accuracy checks run.

use arbitrary::Unstructured;
use sdpa::{Alignment, Settings, Window};

/// Values the `Mixed` mode picks by index: the edges every kernel must handle.
pub const SPECIALS: [f32; 32] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    -f32::NAN,
    f32::from_bits(0x7fc0_0001), // quiet NaN with a payload
    f32::from_bits(0x7f80_0001), // signalling NaN
    f32::MAX,
    -f32::MAX,
    f32::MIN_POSITIVE,
    -f32::MIN_POSITIVE,
    f32::from_bits(1), // smallest subnormal
    f32::from_bits(0x8000_0001),
    f32::from_bits(0x007f_ffff), // largest subnormal
    88.722_84,                   // ≈ ln(f32::MAX)
    88.8,
    -87.336_55,  // ≈ ln(f32::MIN_POSITIVE)
    -103.972_08, // ≈ ln(smallest subnormal)
    -104.0,
    16_777_216.0, // 2^24
    -16_777_217.0,
    0.5,
    f32::EPSILON,
    1e30,
    -1e30,
    1e-30,
    3.0e38,
    -3.0e38,
    12_582_912.0, // exp's rounding shifter
];

/// How the values of one tensor are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatMode {
    /// Four bytes of raw bits each: any pattern.
    Raw,
    /// Two bytes each: `i16 / 1024`, in `[-32, 32)`.
    Moderate,
    /// Three bytes each: `(i16 / 2^15) · 2^e`, `e` an `i8`: huge and tiny
    /// finite values, subnormals, exact zeros.
    Wide,
    /// A tag byte each: raw bits, one of [`SPECIALS`], or a moderate value.
    Mixed,
    /// One byte each: `−∞` (a quarter), `0`, or a small multiple of `1/8`;
    /// made for biases, where `−∞` masks.
    Masky,
}

/// The fuzzer's bytes, read front to back.
pub struct Input<'a> {
    u: Unstructured<'a>,
}

impl<'a> Input<'a> {
    /// Wraps the raw fuzzer input.
    pub fn new(data: &'a [u8]) -> Self {
        Self { u: Unstructured::new(data) }
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.u.len()
    }

    /// The next byte, `0` once the data is exhausted.
    pub fn byte(&mut self) -> u8 {
        self.u.arbitrary().unwrap_or(0)
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        self.u.arbitrary().unwrap_or(0)
    }

    /// The next four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        self.u.arbitrary().unwrap_or(0)
    }

    /// The low bit of the next byte.
    pub fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// `byte % n` (`n` in `1..=256`).
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    /// A size that is usually small (`0..=250`) but can be any of a few huge
    /// values, to reach overflow and saturation paths.
    pub fn size(&mut self) -> usize {
        const HUGE: [usize; 5] = [usize::MAX, usize::MAX - 1, usize::MAX / 2 + 1, 1 << 32, isize::MAX as usize];
        match self.byte() {
            b @ 0..=250 => usize::from(b),
            b => HUGE[usize::from(b - 251)],
        }
    }

    /// A decoding mode for the next tensor.
    pub fn mode(&mut self) -> FloatMode {
        match self.byte() % 5 {
            0 => FloatMode::Raw,
            1 => FloatMode::Moderate,
            2 => FloatMode::Wide,
            3 => FloatMode::Mixed,
            _ => FloatMode::Masky,
        }
    }

    /// One float in `mode`.
    pub fn float(&mut self, mode: FloatMode) -> f32 {
        match mode {
            FloatMode::Raw => f32::from_bits(self.u32()),
            FloatMode::Moderate => self.moderate(),
            FloatMode::Wide => {
                let m = f32::from(self.u16() as i16) / 32768.0;
                let e = i32::from(self.byte() as i8);
                m * 2f32.powi(e)
            }
            FloatMode::Mixed => match self.byte() {
                0..=31 => f32::from_bits(self.u32()),
                t @ 32..=95 => SPECIALS[usize::from(t - 32) % SPECIALS.len()],
                _ => self.moderate(),
            },
            FloatMode::Masky => match self.byte() {
                0..=63 => f32::NEG_INFINITY,
                64..=127 => 0.0,
                b => f32::from(b as i8) / 8.0,
            },
        }
    }

    /// A mode byte, then `out.len()` floats in that mode.
    pub fn fill(&mut self, out: &mut [f32]) {
        let mode = self.mode();
        for x in out {
            *x = self.float(mode);
        }
    }

    /// A single float with its own mode byte (`Mixed` by default, so the
    /// common case is a special value or a moderate number).
    pub fn scalar(&mut self) -> f32 {
        match self.byte() {
            0..=15 => f32::from_bits(self.u32()),
            _ => self.float(FloatMode::Mixed),
        }
    }

    /// `out.len()` booleans, eight per byte; a leading byte picks the style:
    /// bits as given, all true, or all false.
    pub fn bools(&mut self, out: &mut [bool]) {
        match self.byte() % 4 {
            0 => out.fill(true),
            1 => out.fill(false),
            _ => {
                for chunk in out.chunks_mut(8) {
                    let bits = self.byte();
                    for (k, b) in chunk.iter_mut().enumerate() {
                        *b = bits >> k & 1 == 1;
                    }
                }
            }
        }
    }

    /// A window extent: usually `0..40`, sometimes huge (saturation paths).
    pub fn extent(&mut self) -> usize {
        match self.byte() {
            b @ 0..=239 => usize::from(b % 40),
            b @ 240..=244 => 60 + usize::from(b - 240),
            b => usize::MAX >> (b - 245), // usize::MAX, MAX/2, MAX/4, ...
        }
    }

    /// Settings: an optional scale, causal, alignment, an optional window and
    /// an optional ALiBi slope, one flag byte first.
    pub fn settings(&mut self) -> Settings {
        let flags = self.byte();
        let scale = (flags & 1 != 0).then(|| self.scalar());
        let window = (flags & 8 != 0).then(|| Window { left: self.extent(), right: self.extent() });
        let alibi_slope = (flags & 16 != 0).then(|| self.scalar());
        Settings {
            scale,
            causal: flags & 2 != 0,
            alignment: if flags & 4 != 0 { Alignment::BottomRight } else { Alignment::TopLeft },
            window,
            alibi_slope,
        }
    }

    fn moderate(&mut self) -> f32 {
        f32::from(self.u16() as i16) / 1024.0
    }
}
