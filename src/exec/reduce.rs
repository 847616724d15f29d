//! Reductions: how elements combine (`Fold`) and the executor that runs a
//! reduce plan, with the pooling kernel ([`pool::pool`]) for sums and
//! means of floats shaped like pooling, and the memory-order
//! [`pool::fold`] for everything else.

use ndarray::{ArrayD, ArrayView, ArrayViewMut, IxDyn};

use super::pool;
use super::source::Source;
use crate::error::Error;
use crate::plan::Plan;

/// One way of combining elements into an accumulator.
pub(crate) trait Fold<A> {
    type Acc: Clone;
    fn init(&self) -> Self::Acc;
    fn step(&self, acc: &mut Self::Acc, x: &A);
    /// `count` is how many elements each accumulator saw.
    fn finish(&self, acc: Self::Acc, count: usize) -> A;

    /// If `acc` overflowed the element type: the operation's name and a
    /// wider type to suggest. Only checked integer sums and products
    /// overflow.
    fn overflow(&self, _acc: &Self::Acc) -> Option<(&'static str, Option<&'static str>)> {
        None
    }

    /// Runs the whole reduction of `src` (its axes after the first `kept`)
    /// with a specialised kernel, appending the results to `out`, when
    /// this fold has one for the element type and layout; `false` (and
    /// nothing written) otherwise. The results equal `init`, `step` and
    /// `finish` in memory order.
    fn pool(&self, _src: &Source<'_, A>, _kept: usize, _out: &mut Vec<A>) -> bool {
        false
    }

    /// [`pool`](Fold::pool) into a standard-layout slice.
    fn pool_into(&self, _src: &Source<'_, A>, _kept: usize, _out: &mut [A]) -> bool {
        false
    }
}

/// The number of input elements that fold into each output element.
pub(crate) fn count(plan: &Plan) -> usize {
    plan.reduced_axes()
        .iter()
        .map(|&a| plan.axis_len(a))
        .product()
}

/// Runs a reduce plan: accumulators in output order, input read in memory
/// order.
pub(crate) fn reduce<A, F: Fold<A>>(
    plan: &Plan,
    x: &ArrayView<'_, A, IxDyn>,
    fold: &F,
) -> Result<ArrayD<A>, Error> {
    let n_out: usize = plan.output_shape().iter().product();
    let mut data = plan.buffer(n_out)?;
    let src = Source::new(x, plan.all_steps());
    if !fold.pool(&src, plan.kept().len(), &mut data) {
        let acc = accumulate::<A, F>(plan, &src, fold)?;
        let n = count(plan);
        data.extend(acc.into_iter().map(|a| fold.finish(a, n)));
    }
    let out = ArrayD::from_shape_vec(IxDyn(plan.output_shape()), data);
    Ok(out.expect("one accumulator per output element"))
}

/// Runs a reduce plan into `out`, which may have any layout.
///
/// # Errors
///
/// If `out` does not have the plan's output shape; as [`reduce`].
pub(crate) fn reduce_into<A, F: Fold<A>>(
    plan: &Plan,
    x: &ArrayView<'_, A, IxDyn>,
    fold: &F,
    mut out: ArrayViewMut<'_, A, IxDyn>,
) -> Result<(), Error> {
    plan.check_output(out.shape())?;
    let src = Source::new(x, plan.all_steps());
    if let Some(slice) = out.as_slice_mut()
        && fold.pool_into(&src, plan.kept().len(), slice)
    {
        return Ok(());
    }
    let acc = accumulate::<A, F>(plan, &src, fold)?;
    let n = count(plan);
    for (o, a) in out.iter_mut().zip(acc) {
        *o = fold.finish(a, n);
    }
    Ok(())
}

/// One accumulator per output element, in row-major order, with every
/// input element folded in.
fn accumulate<A, F: Fold<A>>(
    plan: &Plan,
    src: &Source<'_, A>,
    fold: &F,
) -> Result<Vec<F::Acc>, Error> {
    let n_out: usize = plan.output_shape().iter().product();
    let mut acc = plan.buffer(n_out)?;
    acc.resize(n_out, fold.init());
    pool::fold(src, plan.kept().len(), &mut acc, |a, e| fold.step(a, e));
    check_overflow::<A, F>(plan, fold, &acc)?;
    Ok(acc)
}

/// The error for the first accumulator that overflowed, if any.
pub(crate) fn check_overflow<A, F: Fold<A>>(
    plan: &Plan,
    fold: &F,
    acc: &[F::Acc],
) -> Result<(), Error> {
    match acc.iter().find_map(|a| fold.overflow(a)) {
        None => Ok(()),
        Some((operation, wider)) => {
            Err(plan.integer_overflow(operation, std::any::type_name::<A>(), wider))
        }
    }
}

/// `Sum`, `Prod`, `Mean`, `Min`, `Max` for a numeric type, through its
/// accumulator type (`f64` for `f32`).
pub(crate) trait Numeric: Copy {
    type Acc: Copy;
    const ZERO: Self::Acc;
    const ONE: Self::Acc;
    fn widen(self) -> Self::Acc;
    fn narrow(acc: Self::Acc) -> Self;
    fn add(a: Self::Acc, b: Self::Acc) -> Self::Acc;
    fn mul(a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// The larger, with NaN winning for floats (as numpy).
    fn max(a: Self, b: Self) -> Self;
    /// The smaller, with NaN winning for floats (as numpy).
    fn min(a: Self, b: Self) -> Self;
    /// `acc / count`, for types where a mean is defined.
    fn mean(acc: Self::Acc, count: usize) -> Option<Self>;
    /// Whether a (checked integer) accumulator overflowed.
    fn overflowed(_acc: Self::Acc) -> bool {
        false
    }
    /// A wider type to suggest when an accumulator overflows.
    const WIDER: Option<&'static str> = None;

    /// [`Fold::pool`] for `Sum` (`mean == false`) and `Mean`.
    fn pool(_src: &Source<'_, Self>, _kept: usize, _mean: bool, _out: &mut Vec<Self>) -> bool {
        false
    }

    /// [`Fold::pool_into`] for `Sum` and `Mean`.
    fn pool_into(_src: &Source<'_, Self>, _kept: usize, _mean: bool, _out: &mut [Self]) -> bool {
        false
    }
}

/// [`Numeric::pool`] and [`Numeric::pool_into`] through the pooling kernel
/// (when `$pools`).
macro_rules! pooling {
    ($pools:expr) => {
        fn pool(src: &Source<'_, Self>, kept: usize, mean: bool, out: &mut Vec<Self>) -> bool {
            $pools && pool::pool(src, kept, mean, out)
        }
        fn pool_into(src: &Source<'_, Self>, kept: usize, mean: bool, out: &mut [Self]) -> bool {
            $pools && pool::pool_into(src, kept, mean, out)
        }
    };
}

macro_rules! float {
    ($t:ty) => {
        impl Numeric for $t {
            type Acc = f64;
            const ZERO: f64 = 0.0;
            const ONE: f64 = 1.0;
            fn widen(self) -> f64 {
                self as f64
            }
            fn narrow(acc: f64) -> Self {
                acc as $t
            }
            fn add(a: f64, b: f64) -> f64 {
                a + b
            }
            fn mul(a: f64, b: f64) -> f64 {
                a * b
            }
            fn max(a: Self, b: Self) -> Self {
                if a.is_nan() || a >= b { a } else { b }
            }
            fn min(a: Self, b: Self) -> Self {
                if a.is_nan() || a <= b { a } else { b }
            }
            fn mean(acc: f64, count: usize) -> Option<Self> {
                Some((acc / count as f64) as $t)
            }
            pooling!(true);
        }
    };
}
float!(f32);
float!(f64);

/// Integers accumulate checked in a type twice as wide (`i64`/`u64` up to
/// 32 bits, `i128`/`u128` for 64 bits and the pointer-sized types), and a
/// result that does not fit the element type is reported as an error
/// (numpy would widen; einplan keeps the element type and refuses to
/// wrap). A product that fits the element type fits the accumulator at
/// every step (partial products of non-zero integers grow in magnitude;
/// a 0 absorbs everything), and a sum's partial sums stay within the
/// accumulator unless there are more than 2^32 elements of extreme
/// values, where the check errs on the side of an error. So the result
/// does not depend on the order elements are visited in. For `i128` and
/// `u128` the accumulator is the element type itself, checked at every
/// step. Sums of integers of up to 32 bits shaped like pooling
/// (`pools = true`) go to the pooling kernel instead, which sums them
/// exactly in `f64`; where one overflows, the fold here runs and reports
/// it.
macro_rules! int {
    ($($t:ty => $acc:ty, $wider:expr $(, pools = $pools:literal)?);* $(;)?) => {$(
        impl Numeric for $t {
            /// `None` once a step overflowed the accumulator.
            type Acc = Option<$acc>;
            const ZERO: Option<$acc> = Some(0);
            const ONE: Option<$acc> = Some(1);
            const WIDER: Option<&'static str> = $wider;
            fn widen(self) -> Option<$acc> {
                // Lossless: every element type fits its accumulator.
                <$acc>::try_from(self).ok()
            }
            fn narrow(acc: Option<$acc>) -> Self {
                acc.and_then(|v| <$t>::try_from(v).ok()).unwrap_or(0)
            }
            fn add(a: Option<$acc>, b: Option<$acc>) -> Option<$acc> {
                a?.checked_add(b?)
            }
            fn mul(a: Option<$acc>, b: Option<$acc>) -> Option<$acc> {
                if b == Some(0) { Some(0) } else { a?.checked_mul(b?) }
            }
            fn max(a: Self, b: Self) -> Self {
                Ord::max(a, b)
            }
            fn min(a: Self, b: Self) -> Self {
                Ord::min(a, b)
            }
            fn mean(_: Option<$acc>, _: usize) -> Option<Self> {
                None
            }
            fn overflowed(acc: Option<$acc>) -> bool {
                acc.and_then(|v| <$t>::try_from(v).ok()).is_none()
            }
            $(pooling!($pools);)?
        }
    )*};
}
int!(
    i8 => i64, Some("i16"), pools = true;
    i16 => i64, Some("i32"), pools = true;
    i32 => i64, Some("i64"), pools = true;
    i64 => i128, Some("i128");
    i128 => i128, None;
    u8 => u64, Some("u16"), pools = true;
    u16 => u64, Some("u32"), pools = true;
    u32 => u64, Some("u64"), pools = true;
    u64 => u128, Some("u128");
    u128 => u128, None;
    isize => i128, Some("i128");
    usize => u128, Some("u128");
);

pub(crate) struct Sum;
pub(crate) struct Prod;
pub(crate) struct Mean;
pub(crate) struct Max;
pub(crate) struct Min;

impl<A: Numeric> Fold<A> for Sum {
    type Acc = A::Acc;
    fn init(&self) -> A::Acc {
        A::ZERO
    }
    fn step(&self, acc: &mut A::Acc, x: &A) {
        *acc = A::add(*acc, x.widen());
    }
    fn finish(&self, acc: A::Acc, _: usize) -> A {
        A::narrow(acc)
    }
    fn overflow(&self, acc: &A::Acc) -> Option<(&'static str, Option<&'static str>)> {
        A::overflowed(*acc).then_some(("sum", A::WIDER))
    }
    fn pool(&self, src: &Source<'_, A>, kept: usize, out: &mut Vec<A>) -> bool {
        A::pool(src, kept, false, out)
    }
    fn pool_into(&self, src: &Source<'_, A>, kept: usize, out: &mut [A]) -> bool {
        A::pool_into(src, kept, false, out)
    }
}

impl<A: Numeric> Fold<A> for Prod {
    type Acc = A::Acc;
    fn init(&self) -> A::Acc {
        A::ONE
    }
    fn step(&self, acc: &mut A::Acc, x: &A) {
        *acc = A::mul(*acc, x.widen());
    }
    fn finish(&self, acc: A::Acc, _: usize) -> A {
        A::narrow(acc)
    }
    fn overflow(&self, acc: &A::Acc) -> Option<(&'static str, Option<&'static str>)> {
        A::overflowed(*acc).then_some(("product", A::WIDER))
    }
}

impl<A: Numeric> Fold<A> for Mean {
    type Acc = A::Acc;
    fn init(&self) -> A::Acc {
        A::ZERO
    }
    fn step(&self, acc: &mut A::Acc, x: &A) {
        *acc = A::add(*acc, x.widen());
    }
    fn finish(&self, acc: A::Acc, count: usize) -> A {
        // Callers check `A::mean` is defined before planning a Mean.
        A::mean(acc, count).unwrap_or(A::narrow(acc))
    }
    fn pool(&self, src: &Source<'_, A>, kept: usize, out: &mut Vec<A>) -> bool {
        A::pool(src, kept, true, out)
    }
    fn pool_into(&self, src: &Source<'_, A>, kept: usize, out: &mut [A]) -> bool {
        A::pool_into(src, kept, true, out)
    }
}

/// `Some(first)` after the first element; reductions over zero elements
/// are rejected before they run.
macro_rules! extremum {
    ($name:ident, $f:ident) => {
        impl<A: Numeric> Fold<A> for $name {
            type Acc = Option<A>;
            fn init(&self) -> Option<A> {
                None
            }
            fn step(&self, acc: &mut Option<A>, x: &A) {
                *acc = Some(match *acc {
                    None => *x,
                    Some(a) => A::$f(a, *x),
                });
            }
            fn finish(&self, acc: Option<A>, _: usize) -> A {
                acc.expect("max/min over zero elements is rejected before running")
            }
        }
    };
}
extremum!(Max, max);
extremum!(Min, min);

pub(crate) struct Any;
pub(crate) struct All;

impl Fold<bool> for Any {
    type Acc = bool;
    fn init(&self) -> bool {
        false
    }
    fn step(&self, acc: &mut bool, x: &bool) {
        *acc |= *x;
    }
    fn finish(&self, acc: bool, _: usize) -> bool {
        acc
    }
}

impl Fold<bool> for All {
    type Acc = bool;
    fn init(&self) -> bool {
        true
    }
    fn step(&self, acc: &mut bool, x: &bool) {
        *acc &= *x;
    }
    fn finish(&self, acc: bool, _: usize) -> bool {
        acc
    }
}

/// A user-supplied fold: `f(acc, x)` from `init`.
pub(crate) struct With<A, F> {
    pub(crate) init: A,
    pub(crate) f: F,
}

impl<A: Clone, F: Fn(A, &A) -> A> Fold<A> for With<A, F> {
    type Acc = Option<A>;
    fn init(&self) -> Option<A> {
        Some(self.init.clone())
    }
    fn step(&self, acc: &mut Option<A>, x: &A) {
        if let Some(a) = acc.take() {
            *acc = Some((self.f)(a, x));
        }
    }
    fn finish(&self, acc: Option<A>, _: usize) -> A {
        acc.unwrap_or_else(|| self.init.clone())
    }
}
