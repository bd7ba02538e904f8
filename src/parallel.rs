//! Work split over blocks of output rows: on all cores through rayon with
//! the `rayon` feature, in one piece without it.
//!
//! Every engine computes a row the same way whatever the rows around it
//! (row ranges reassemble the whole bit for bit), so the split changes no
//! bit of the result: only which thread computes which rows.

use crate::attention::OutRows;

/// Rows per block: a multiple of `align` (the engine's query block), at
/// least `align`, and few enough that every thread gets several blocks.
#[cfg(feature = "rayon")]
fn block_rows(rows: usize, align: usize) -> usize {
    let align = align.max(1);
    let per_thread = rows.div_ceil(4 * rayon::current_num_threads().max(1));
    per_thread.div_ceil(align).max(1) * align
}

/// Calls `f(first, block)` for disjoint blocks of `out`'s first `rows` rows
/// (`first` is the block's first row), covering each row once. With the
/// `rayon` feature and more than `min_rows` rows the blocks run on rayon's
/// pool; otherwise `f(0, out)` runs once, here.
pub(crate) fn row_blocks<F>(out: OutRows<'_>, rows: usize, align: usize, min_rows: usize, f: F)
where
    F: Fn(usize, OutRows<'_>) + Sync + Send,
{
    #[cfg(feature = "rayon")]
    if rows > min_rows.max(align) && rayon::current_num_threads() > 1 {
        use rayon::prelude::*;
        let block = block_rows(rows, align);
        let (stride, width) = (out.stride.max(1), out.width);
        let OutRows { data, .. } = out;
        data.par_chunks_mut(block.saturating_mul(stride).max(1))
            .take(rows.div_ceil(block))
            .enumerate()
            .for_each(|(b, data)| f(b * block, OutRows { data, stride, width }));
        return;
    }
    let _ = (rows, align, min_rows);
    f(0, out);
}

/// Runs `f` on a rayon pool of `threads` threads (test support for the
/// bit-identity of any split; `None` if the pool cannot be built).
#[cfg(feature = "rayon")]
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Option<R> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().ok()?;
    Some(pool.install(f))
}
