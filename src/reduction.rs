//! What `reduce` can compute: a leaf module, so that errors can name a
//! reduction without depending on the executor.

use std::fmt;

/// How [`reduce`](crate::reduce) combines the elements of the axes it
/// removes.
///
/// `Sum`, `Mean`, `Min`, `Max` and `Prod` are defined for the numeric
/// types (`f32`, `f64` and the primitive integers), except `Mean` on
/// integers, which is an
/// [`ErrorKind::UnsupportedReduction`](crate::ErrorKind::UnsupportedReduction)
/// (convert to a float type first; einops refuses it too). `Any` and
/// `All` are defined for `bool`. For anything else use
/// [`reduce_with`](crate::reduce_with).
///
/// Accuracy: `f32` sums, means and products accumulate in `f64` and round
/// once at the end, so a sum of millions of `f32`s keeps `f32` precision.
/// `f64` accumulates sequentially in `f64`. Integer sums and products are
/// exact: a result that does not fit the element type is an
/// [`ErrorKind::IntegerOverflow`](crate::ErrorKind::IntegerOverflow) that
/// suggests a wider type, never a wrapped value. `Min` and `Max`
/// propagate NaN.
///
/// # Examples
///
/// ```
/// use einplan::{ErrorKind, Reduction};
/// use ndarray::{arr1, arr2};
///
/// let x = arr2(&[[1, 2, 3], [4, 5, 6]]);
/// let row_sums = einplan::reduce(&x, "r c -> r", Reduction::Sum, &[])?;
/// assert_eq!(row_sums, arr1(&[6, 15]).into_dyn());
/// let col_max = einplan::reduce(&x, "r c -> c", Reduction::Max, &[])?;
/// assert_eq!(col_max, arr1(&[4, 5, 6]).into_dyn());
///
/// // `Mean` is for floats: integers are converted first.
/// let err = einplan::reduce(&x, "r c -> r", Reduction::Mean, &[]).unwrap_err();
/// assert!(matches!(
///     err.kind(),
///     ErrorKind::UnsupportedReduction { reduction: Reduction::Mean, element: "i32" }
/// ));
/// let means = einplan::reduce(&x.mapv(f64::from), "r c -> r", Reduction::Mean, &[])?;
/// assert_eq!(means, arr1(&[2.0, 5.0]).into_dyn());
///
/// // `Any` and `All` are for `bool`.
/// let big = x.mapv(|v| v > 4);
/// let any = einplan::reduce(&big, "r c -> r", Reduction::Any, &[])?;
/// assert_eq!(any, arr1(&[false, true]).into_dyn());
/// let all = einplan::reduce(&big, "r c -> r", Reduction::All, &[])?;
/// assert_eq!(all, arr1(&[false, false]).into_dyn());
///
/// // `Display` gives einops' name for it.
/// assert_eq!(Reduction::Prod.to_string(), "prod");
/// # Ok::<(), einplan::Error>(())
/// ```
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
