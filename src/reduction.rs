//! What `reduce` can compute: a leaf module, so that errors can name a
//! reduction without depending on the executor.

use std::fmt;

/// How [`reduce`](crate::reduce) combines the elements of the axes it
/// removes.
///
/// `Sum`, `Mean`, `Min`, `Max` and `Prod` are defined for the numeric
/// types (`f32`, `f64` and the primitive integers), except `Mean` on
/// integers, which is an error (convert to a float type first: einops
/// would silently change the element type). `Any` and `All` are defined
/// for `bool`. For anything else use [`reduce_with`](crate::reduce_with).
///
/// Accuracy: `f32` sums, means and products accumulate in `f64` and round
/// once at the end, so a sum of millions of `f32`s keeps `f32` precision.
/// `f64` accumulates sequentially in `f64`. Integer sums and products are
/// exact: a result that does not fit the element type is an
/// [`ErrorKind::IntegerOverflow`](crate::ErrorKind::IntegerOverflow) that
/// suggests a wider type, never a wrapped value. `Min` and `Max`
/// propagate NaN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reduction {
    /// The sum.
    Sum,
    /// The arithmetic mean (floats only).
    Mean,
    /// The smallest element.
    Min,
    /// The largest element.
    Max,
    /// The product.
    Prod,
    /// Whether any element is `true` (`bool` only).
    Any,
    /// Whether every element is `true` (`bool` only).
    All,
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reduction::Sum => "sum",
            Reduction::Mean => "mean",
            Reduction::Min => "min",
            Reduction::Max => "max",
            Reduction::Prod => "prod",
            Reduction::Any => "any",
            Reduction::All => "all",
        })
    }
}
