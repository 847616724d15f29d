//! What `reduce` can compute, and for which element types.

use std::fmt;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};

use crate::error::Error;
use crate::exec::reduce::{self as fold, Fold, Numeric};
use crate::exec::reference;
use crate::plan::Plan;

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
/// `f64` accumulates sequentially in `f64`. Integer sums and products wrap
/// on overflow, as numpy's do. `Min` and `Max` propagate NaN.
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

mod sealed {
    pub trait Sealed {}
}

/// Element types that [`reduce`](crate::reduce) supports: `f32`, `f64`,
/// the primitive integers, and `bool`. Sealed; use
/// [`reduce_with`](crate::reduce_with) for other types.
pub trait Reducible: Clone + sealed::Sealed {
    /// Runs `plan` with `reduction`; `None` if the type does not support
    /// it. With `reference`, uses the element-by-element executor.
    #[doc(hidden)]
    fn run(
        plan: &Plan,
        x: &ArrayViewD<'_, Self>,
        reduction: Reduction,
        reference: bool,
    ) -> Option<Result<ArrayD<Self>, Error>>;

    /// Runs `plan` with `reduction` into `out`; `None` if the type does not
    /// support it.
    #[doc(hidden)]
    fn run_into(
        plan: &Plan,
        x: &ArrayViewD<'_, Self>,
        reduction: Reduction,
        out: ArrayViewMutD<'_, Self>,
    ) -> Option<Result<(), Error>>;
}

fn go<A, F: Fold<A>>(
    plan: &Plan,
    x: &ArrayViewD<'_, A>,
    f: F,
    reference: bool,
) -> Result<ArrayD<A>, Error> {
    if reference {
        Ok(reference::reduce(plan, x, &f))
    } else {
        fold::reduce(plan, x, &f)
    }
}

fn go_into<A, F: Fold<A>>(
    plan: &Plan,
    x: &ArrayViewD<'_, A>,
    f: F,
    out: ArrayViewMutD<'_, A>,
) -> Result<(), Error> {
    fold::reduce_into(plan, x, &f, out)
}

macro_rules! numeric {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Reducible for $t {
            fn run(plan: &Plan, x: &ArrayViewD<'_, Self>, r: Reduction, reference: bool) -> Option<Result<ArrayD<Self>, Error>> {
                Some(match r {
                    Reduction::Sum => go(plan, x, fold::Sum, reference),
                    Reduction::Mean => {
                        <$t as Numeric>::mean(<$t as Numeric>::ZERO, 1)?;
                        go(plan, x, fold::Mean, reference)
                    }
                    Reduction::Min => go(plan, x, fold::Min, reference),
                    Reduction::Max => go(plan, x, fold::Max, reference),
                    Reduction::Prod => go(plan, x, fold::Prod, reference),
                    Reduction::Any | Reduction::All => return None,
                })
            }
            fn run_into(plan: &Plan, x: &ArrayViewD<'_, Self>, r: Reduction, out: ArrayViewMutD<'_, Self>) -> Option<Result<(), Error>> {
                Some(match r {
                    Reduction::Sum => go_into(plan, x, fold::Sum, out),
                    Reduction::Mean => {
                        <$t as Numeric>::mean(<$t as Numeric>::ZERO, 1)?;
                        go_into(plan, x, fold::Mean, out)
                    }
                    Reduction::Min => go_into(plan, x, fold::Min, out),
                    Reduction::Max => go_into(plan, x, fold::Max, out),
                    Reduction::Prod => go_into(plan, x, fold::Prod, out),
                    Reduction::Any | Reduction::All => return None,
                })
            }
        }
    )*};
}
numeric!(
    f32, f64, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

impl sealed::Sealed for bool {}
impl Reducible for bool {
    fn run(
        plan: &Plan,
        x: &ArrayViewD<'_, Self>,
        r: Reduction,
        reference: bool,
    ) -> Option<Result<ArrayD<Self>, Error>> {
        Some(match r {
            Reduction::Any => go(plan, x, fold::Any, reference),
            Reduction::All => go(plan, x, fold::All, reference),
            _ => return None,
        })
    }

    fn run_into(
        plan: &Plan,
        x: &ArrayViewD<'_, Self>,
        r: Reduction,
        out: ArrayViewMutD<'_, Self>,
    ) -> Option<Result<(), Error>> {
        Some(match r {
            Reduction::Any => go_into(plan, x, fold::Any, out),
            Reduction::All => go_into(plan, x, fold::All, out),
            _ => return None,
        })
    }
}
