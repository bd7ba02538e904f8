//! Checks on the caller's buffers that need no memory access: sizes,
//! alignment and overlap, from addresses and lengths alone.

use crate::SdpaStatus;

/// The bytes `[start, end)` a buffer occupies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    start: usize,
    end: usize,
}

impl Region {
    /// No bytes: overlaps nothing (stands for an absent optional buffer).
    pub(crate) const EMPTY: Region = Region { start: 0, end: 0 };

    /// The region of `len` values of `T` at `address`, or why it cannot be
    /// a buffer: `Misaligned` if `address` is not a multiple of `T`'s
    /// alignment, `SizeOverflow` if its size in bytes exceeds `isize::MAX`
    /// (the largest Rust slice) or it wraps around the address space.
    /// `address` 0 is the caller's to refuse first (`NullPointer`).
    pub(crate) fn of<T>(address: usize, len: usize) -> Result<Region, SdpaStatus> {
        if !address.is_multiple_of(align_of::<T>()) {
            return Err(SdpaStatus::Misaligned);
        }
        let bytes = len.checked_mul(size_of::<T>()).filter(|&b| b <= isize::MAX as usize);
        let end = bytes.and_then(|b| address.checked_add(b));
        match end {
            Some(end) => Ok(Region { start: address, end }),
            None => Err(SdpaStatus::SizeOverflow),
        }
    }

    /// Whether the two regions share a byte.
    pub(crate) fn overlaps(self, other: Region) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// `Aliasing` if an output overlaps an input or another output. Inputs may
/// overlap each other (K and V may be one buffer).
pub(crate) fn disjoint(outputs: &[Region], inputs: &[Region]) -> Result<(), SdpaStatus> {
    let mut rest = outputs;
    while let [out, others @ ..] = rest {
        let touches = |regions: &[Region]| regions.iter().any(|r| out.overlaps(*r));
        if touches(others) || touches(inputs) {
            return Err(SdpaStatus::Aliasing);
        }
        rest = others;
    }
    Ok(())
}

/// `a · b`, or `SizeOverflow`.
pub(crate) fn mul(a: usize, b: usize) -> Result<usize, SdpaStatus> {
    a.checked_mul(b).ok_or(SdpaStatus::SizeOverflow)
}

/// `a + b`, or `SizeOverflow`.
pub(crate) fn add(a: usize, b: usize) -> Result<usize, SdpaStatus> {
    a.checked_add(b).ok_or(SdpaStatus::SizeOverflow)
}

/// `ZeroDimension` if any of `dims` is zero.
pub(crate) fn non_zero(dims: &[usize]) -> Result<(), SdpaStatus> {
    if dims.contains(&0) { Err(SdpaStatus::ZeroDimension) } else { Ok(()) }
}

/// `InvalidMask` unless every byte is 0 or 1: the check [`crate::ffi`]
/// runs before it reads the same bytes as `bool`.
pub(crate) fn mask_bytes(bytes: &[u8]) -> Result<(), SdpaStatus> {
    if bytes.iter().all(|&b| b <= 1) { Ok(()) } else { Err(SdpaStatus::InvalidMask) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_overlap_when_they_share_a_byte() {
        let a = Region::of::<f32>(1000, 4).unwrap(); // [1000, 1016)
        assert!(a.overlaps(Region::of::<f32>(1012, 1).unwrap()));
        assert!(!a.overlaps(Region::of::<f32>(1016, 1).unwrap()));
        assert!(!Region::of::<f32>(996, 1).unwrap().overlaps(a));
        assert!(Region::of::<u8>(1015, 1).unwrap().overlaps(a));
        assert!(Region::of::<f32>(900, 100).unwrap().overlaps(a)); // contains it
    }

    #[test]
    fn regions_refuse_misalignment_and_overflow() {
        assert_eq!(Region::of::<f32>(1002, 1), Err(SdpaStatus::Misaligned));
        assert_eq!(Region::of::<f32>(1000, usize::MAX / 2), Err(SdpaStatus::SizeOverflow));
        assert_eq!(Region::of::<f32>(1000, isize::MAX as usize / 4 + 1), Err(SdpaStatus::SizeOverflow));
        assert_eq!(Region::of::<u8>(usize::MAX - 3, 8), Err(SdpaStatus::SizeOverflow));
        assert!(Region::of::<u8>(1, 0).is_ok());
    }

    #[test]
    fn outputs_must_not_touch_inputs_or_each_other() {
        let r = |a: usize, n: usize| Region::of::<f32>(a, n).unwrap();
        assert_eq!(disjoint(&[r(0, 4)], &[r(16, 4), r(16, 4)]), Ok(())); // inputs may coincide
        assert_eq!(disjoint(&[r(0, 4)], &[r(12, 4)]), Err(SdpaStatus::Aliasing));
        assert_eq!(disjoint(&[r(0, 4), r(8, 4)], &[]), Err(SdpaStatus::Aliasing));
        assert_eq!(disjoint(&[r(0, 4), r(16, 4)], &[r(32, 4)]), Ok(()));
    }

    #[test]
    fn mask_bytes_are_zero_or_one() {
        assert_eq!(mask_bytes(&[0, 1, 1, 0]), Ok(()));
        assert_eq!(mask_bytes(&[0, 1, 2]), Err(SdpaStatus::InvalidMask));
        assert_eq!(mask_bytes(&[255]), Err(SdpaStatus::InvalidMask));
    }
}
