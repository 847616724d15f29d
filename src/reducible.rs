//! The element types `reduce` supports, and how each runs a reduction.

use ndarray::{ArrayD, ArrayViewMutD};

use self::sealed::Planned;
use crate::error::Error;
use crate::exec::reduce::{self as fold, Fold, Numeric};
use crate::exec::reference;
use crate::reduction::Reduction;

pub(crate) mod sealed {
    use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};

    use crate::error::Error;
    use crate::plan::Plan;
    use crate::reduction::Reduction;

    /// A plan and an array of the plan's input shape. Only the crate can
    /// make one (its fields are private), so [`Run`]'s methods, which
    /// trust the match, cannot be called from outside with a plan for some
    /// other shape.
    #[derive(Debug)]
    pub struct Planned<'p, 'a, A> {
        pub(crate) plan: &'p Plan,
        pub(crate) x: &'p ArrayViewD<'a, A>,
    }

    impl<'p, 'a, A> Planned<'p, 'a, A> {
        /// Pairs `plan` with `x`, which must have its input shape: the
        /// caller made the plan for `x.shape()`.
        pub(crate) fn new(plan: &'p Plan, x: &'p ArrayViewD<'a, A>) -> Self {
            debug_assert_eq!(plan.input_shape(), x.shape());
            Planned { plan, x }
        }
    }

    /// How an element type runs a reduce plan. Outside the crate this
    /// trait can be neither named nor implemented, and its methods need a
    /// [`Planned`], which only the crate makes.
    pub trait Run: Clone {
        /// Runs the plan with `reduction`; `None` if the type does not
        /// support it. With `reference`, uses the element-by-element
        /// executor.
        fn run(
            job: Planned<'_, '_, Self>,
            reduction: Reduction,
            reference: bool,
        ) -> Option<Result<ArrayD<Self>, Error>>;

        /// Runs the plan with `reduction` into `out`; `None` if the type
        /// does not support it.
        fn run_into(
            job: Planned<'_, '_, Self>,
            reduction: Reduction,
            out: ArrayViewMutD<'_, Self>,
        ) -> Option<Result<(), Error>>;
    }
}

/// Element types that [`reduce`](crate::reduce) supports: `f32`, `f64`,
/// the primitive integers, and `bool`. Sealed; use
/// [`reduce_with`](crate::reduce_with) for other types.
///
/// Which [`Reduction`]s each type takes is checked when the reduction
/// runs: see [`Reduction`].
///
/// # Examples
///
/// A function generic over the element type takes `A: Reducible`:
///
/// ```
/// use einplan::{Reducible, Reduction};
/// use ndarray::{ArrayD, ArrayView2, arr1, arr2};
///
/// /// The total of each column.
/// fn column_totals<A: Reducible>(x: ArrayView2<'_, A>) -> Result<ArrayD<A>, einplan::Error> {
///     einplan::reduce(&x, "r c -> c", Reduction::Sum, &[])
/// }
///
/// let counts = arr2(&[[1u8, 2], [3, 4]]);
/// assert_eq!(column_totals(counts.view())?, arr1(&[4u8, 6]).into_dyn());
/// let weights = arr2(&[[0.5f32, 1.0], [0.25, 2.0]]);
/// assert_eq!(column_totals(weights.view())?, arr1(&[0.75f32, 3.0]).into_dyn());
///
/// // `bool` is `Reducible` too, but has no `Sum`: an error, not a panic.
/// let flags = arr2(&[[true, false], [true, true]]);
/// assert!(column_totals(flags.view()).is_err());
/// # Ok::<(), einplan::Error>(())
/// ```
pub trait Reducible: sealed::Run {}

fn go<A, F: Fold<A>>(job: Planned<'_, '_, A>, f: F, reference: bool) -> Result<ArrayD<A>, Error> {
    let (plan, x) = (job.plan, job.x);
    if reference {
        reference::reduce(plan, x, &f)
    } else {
        fold::reduce(plan, x, &f)
    }
}

fn go_into<A, F: Fold<A>>(
    job: Planned<'_, '_, A>,
    f: F,
    out: ArrayViewMutD<'_, A>,
) -> Result<(), Error> {
    fold::reduce_into(job.plan, job.x, &f, out)
}

macro_rules! numeric {
    ($($t:ty),*) => {$(
        impl Reducible for $t {}
        impl sealed::Run for $t {
            fn run(job: Planned<'_, '_, Self>, r: Reduction, reference: bool) -> Option<Result<ArrayD<Self>, Error>> {
                Some(match r {
                    Reduction::Sum => go(job, fold::Sum, reference),
                    Reduction::Mean => {
                        <$t as Numeric>::mean(<$t as Numeric>::ZERO, 1)?;
                        go(job, fold::Mean, reference)
                    }
                    Reduction::Min => go(job, fold::Min, reference),
                    Reduction::Max => go(job, fold::Max, reference),
                    Reduction::Prod => go(job, fold::Prod, reference),
                    Reduction::Any | Reduction::All => return None,
                })
            }
            fn run_into(job: Planned<'_, '_, Self>, r: Reduction, out: ArrayViewMutD<'_, Self>) -> Option<Result<(), Error>> {
                Some(match r {
                    Reduction::Sum => go_into(job, fold::Sum, out),
                    Reduction::Mean => {
                        <$t as Numeric>::mean(<$t as Numeric>::ZERO, 1)?;
                        go_into(job, fold::Mean, out)
                    }
                    Reduction::Min => go_into(job, fold::Min, out),
                    Reduction::Max => go_into(job, fold::Max, out),
                    Reduction::Prod => go_into(job, fold::Prod, out),
                    Reduction::Any | Reduction::All => return None,
                })
            }
        }
    )*};
}
numeric!(
    f32, f64, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

impl Reducible for bool {}
impl sealed::Run for bool {
    fn run(
        job: Planned<'_, '_, Self>,
        r: Reduction,
        reference: bool,
    ) -> Option<Result<ArrayD<Self>, Error>> {
        Some(match r {
            Reduction::Any => go(job, fold::Any, reference),
            Reduction::All => go(job, fold::All, reference),
            _ => return None,
        })
    }

    fn run_into(
        job: Planned<'_, '_, Self>,
        r: Reduction,
        out: ArrayViewMutD<'_, Self>,
    ) -> Option<Result<(), Error>> {
        Some(match r {
            Reduction::Any => go_into(job, fold::Any, out),
            Reduction::All => go_into(job, fold::All, out),
            _ => return None,
        })
    }
}
