//! Which positional encoding the attention itself applies.

use super::rope::Rope;

/// The positional encoding applied inside the layer.
///
/// - `None` (NoPE, and models that add positions to their inputs, such as
///   BERT's learned embeddings or [`sinusoidal`](crate::layer::sinusoidal)):
///   no work at all.
/// - `Rope`: rotates every query and key head by its token's absolute position.
/// - `Alibi`: adds `−mₕ·|i − j|` to head `h`'s scores, with the paper's slopes
///   [`alibi_slope`](crate::layer::alibi_slope)`(h, QH)`.
///
/// ```
/// use sdpa::layer::{Positions, Rope};
/// let llama = Positions::Rope(Rope::half_split());
/// assert_ne!(llama, Positions::None);
/// assert_eq!(Positions::default(), Positions::None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Positions {
    /// No positional encoding in the layer.
    #[default]
    None,
    /// Rotary embedding of queries and keys.
    Rope(Rope),
    /// Linear distance biases per head.
    Alibi,
}
