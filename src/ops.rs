//! The public operations: free functions and compiled ops.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{
    Array, ArrayBase, ArrayD, ArrayViewD, Axis, CowArray, Data, DataMut, Dimension, IxDyn, RawData,
};

use crate::args::Lengths;
use crate::compiled::{Compiled, cached};
use crate::error::{Error, ErrorKind};
use crate::exec;
use crate::exec::reduce as fold;
use crate::ir::Op;
use crate::plan::Plan;
use crate::reducible::Reducible;
use crate::reducible::sealed::Planned;
use crate::reduction::Reduction;

/// Rearranges `x` by an einops pattern: split, permute and merge axes.
///
/// `axes_lengths` gives the lengths of axes the shape alone does not fix,
/// as `(name, length)` pairs (einops' keyword arguments).
///
/// Returns [`CowArray::Borrowed`](ndarray::CowArray) — a view into `x`, no
/// data copied — exactly when the result can be described by strides over
/// `x`'s memory: any permutation, any split, and merges of axes that lie
/// one after another in memory. Otherwise the result is a fresh array in
/// standard layout. Compiled patterns are cached, so calling this in a loop
/// does not re-parse; [`Rearrange`] skips even the cache lookup.
///
/// # Examples
///
/// ```
/// use ndarray::Array;
///
/// let x = Array::from_iter(0..12).into_shape_with_order((2, 6))?;
///
/// // A permutation is a view.
/// let y = einplan::rearrange(&x, "a b -> b a", &[])?;
/// assert_eq!(y.shape(), &[6, 2]);
/// assert!(y.is_view());
///
/// // Splitting and interleaving needs a copy.
/// let z = einplan::rearrange(&x, "a (b1 b2) -> a (b2 b1)", &[("b1", 3)])?;
/// assert_eq!(z.shape(), &[2, 6]);
/// assert!(z.is_owned());
/// assert_eq!(z.iter().take(6).copied().collect::<Vec<_>>(), [0, 2, 4, 1, 3, 5]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A malformed pattern, axes that are not on both sides, a rank that does
/// not match the pattern, lengths that do not divide or do not match, and
/// products that overflow. Every error points into the pattern; see
/// [`Error`].
pub fn rearrange<'a, A, S, D, L>(
    x: &'a ArrayBase<S, D>,
    pattern: &str,
    axes_lengths: &L,
) -> Result<CowArray<'a, A, IxDyn>, Error>
where
    A: Clone,
    S: Data<Elem = A>,
    D: Dimension,
    L: Lengths + ?Sized,
{
    let compiled = cached(Op::Rearrange, pattern, axes_lengths)?;
    let plan = compiled.plan(x.shape())?;
    exec::rearrange(&plan, x.view())
}

/// A compiled rearrange pattern, like einops' `Rearrange` layer.
///
/// `new` parses and checks the pattern once; [`with`](Rearrange::with)
/// fixes axis lengths; [`apply`](Rearrange::apply) plans for the input's
/// shape (cached per shape) and runs. A `Rearrange` is `Send + Sync`: share
/// one between threads and call `apply` concurrently.
///
/// # Examples
///
/// ```
/// use einplan::Rearrange;
/// use ndarray::Array4;
///
/// // ShuffleNet's channel shuffle.
/// let shuffle = Rearrange::new("b (c1 c2) h w -> b (c2 c1) h w")?.with("c1", 3)?;
/// let x = Array4::<f32>::zeros((2, 12, 5, 5));
/// let y = shuffle.apply(&x)?;
/// assert_eq!(y.shape(), &[2, 12, 5, 5]);
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// With [`rank`](Rearrange::rank), results have a fixed rank type
/// (`Ix4` rather than `IxDyn`); see there.
#[derive(Clone)]
pub struct Rearrange<E = IxDyn> {
    compiled: Compiled,
    rank: PhantomData<fn() -> E>,
}

impl Rearrange {
    /// Parses and checks a rearrange pattern.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{ErrorKind, Rearrange};
    ///
    /// let to_nhwc = Rearrange::new("b c h w -> b h w c")?;
    /// let x = ndarray::Array4::<u8>::zeros((1, 3, 4, 5));
    /// let y = to_nhwc.apply(&x)?;
    /// assert_eq!(y.shape(), &[1, 4, 5, 3]);
    ///
    /// // Rules that need no shape are checked here, once.
    /// let err = Rearrange::new("b c h w -> b h w").unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::OneSidedAxis { .. }));
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Syntax errors and the rules that need no shape: every axis on both
    /// sides, no duplicates, no anonymous axes other than `1`, `...` on
    /// both sides or neither.
    pub fn new(pattern: &str) -> Result<Rearrange, Error> {
        Ok(Rearrange {
            compiled: Compiled::new(pattern, Op::Rearrange)?,
            rank: PhantomData,
        })
    }
}

impl<E: Dimension> Rearrange<E> {
    /// Fixes the length of axis `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Rearrange;
    ///
    /// let patches = Rearrange::new("(h p1) (w p2) -> (h w) (p1 p2)")?
    ///     .with("p1", 2)?
    ///     .with("p2", 2)?;
    /// let x = ndarray::Array2::<f32>::zeros((4, 6));
    /// let y = patches.apply(&x)?;
    /// assert_eq!(y.shape(), &[6, 4]); // six 2x2 patches
    /// assert!(patches.clone().with("p3", 2).is_err()); // no such axis
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// If the pattern has no axis `name`, or its length is already given.
    pub fn with(self, name: &str, len: usize) -> Result<Rearrange<E>, Error> {
        Ok(Rearrange {
            compiled: self.compiled.with(name, len)?,
            rank: PhantomData,
        })
    }

    /// The same op with results of rank type `F` (such as `Ix4`), so that
    /// [`apply`](Rearrange::apply) returns `CowArray<'_, A, F>` with no
    /// `into_dimensionality`.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Rearrange;
    /// use ndarray::{Array4, CowArray, Ix4};
    ///
    /// let to_nhwc = Rearrange::new("b c h w -> b h w c")?.rank::<Ix4>()?;
    /// let x = Array4::<f32>::zeros((2, 3, 8, 8));
    /// let y: CowArray<'_, f32, Ix4> = to_nhwc.apply(&x)?;
    /// assert_eq!(y.dim(), (2, 8, 8, 3));
    ///
    /// // A pattern whose output has another rank is refused here.
    /// let err = Rearrange::new("b c h w -> b (c h w)")?.rank::<Ix4>().unwrap_err();
    /// assert_eq!(err.span(), 11..20); // the output side
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutputRank`], pointing at the output side, if the
    /// pattern fixes the output's rank and it is not `F`'s. With a `...`
    /// on the output side the rank depends on the input, and `apply`
    /// checks it.
    pub fn rank<F: Dimension>(self) -> Result<Rearrange<F>, Error> {
        check_rank::<F>(&self.compiled)?;
        Ok(Rearrange {
            compiled: self.compiled,
            rank: PhantomData,
        })
    }

    /// The pattern as given to [`new`](Rearrange::new).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = einplan::Rearrange::new("h w -> w h")?;
    /// assert_eq!(t.pattern(), "h w -> w h");
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn pattern(&self) -> &str {
        self.compiled.pattern()
    }

    /// The plan for inputs of `shape` (cached per shape).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Rearrange;
    ///
    /// let shuffle = Rearrange::new("b (c1 c2) h w -> b (c2 c1) h w")?.with("c1", 3)?;
    /// let plan = shuffle.plan(&[2, 12, 5, 5])?;
    /// assert_eq!(plan.output_shape(), &[2, 12, 5, 5]);
    /// assert!(!plan.is_view()); // interleaving channels needs a copy
    /// assert!(shuffle.plan(&[2, 13, 5, 5]).is_err()); // 13 is not divisible by 3
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Rank mismatch, lengths that do not divide or match, overflow.
    pub fn plan(&self, shape: &[usize]) -> Result<Arc<Plan>, Error> {
        self.compiled.plan(shape)
    }

    /// Rearranges `x`; a view when strides suffice, else a copy. See
    /// [`rearrange`].
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Rearrange;
    /// use ndarray::arr2;
    ///
    /// let flat = Rearrange::new("h w -> (h w)")?;
    /// let x = arr2(&[[1, 2], [3, 4]]);
    /// let y = flat.apply(&x)?;
    /// assert!(y.is_view());
    /// assert_eq!(y, ndarray::arr1(&[1, 2, 3, 4]).into_dyn());
    /// // The transpose's rows are not contiguous: a copy.
    /// let xt = x.t();
    /// let z = flat.apply(&xt)?;
    /// assert!(z.is_owned());
    /// assert_eq!(z, ndarray::arr1(&[1, 3, 2, 4]).into_dyn());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`plan`](Rearrange::plan) for `x.shape()`.
    pub fn apply<'a, A, S, D>(&self, x: &'a ArrayBase<S, D>) -> Result<CowArray<'a, A, E>, Error>
    where
        A: Clone,
        S: Data<Elem = A>,
        D: Dimension,
    {
        let plan = self.plan(x.shape())?;
        ranked(&self.compiled, exec::rearrange(&plan, x.view())?)
    }

    /// Rearranges `x` into `out`, an array of the result's shape in any
    /// layout: always a copy, with no allocation. Writing into an array
    /// that is reused across calls also saves faulting in fresh memory,
    /// which for large results costs about as much as the copy itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Rearrange;
    /// use ndarray::{Array2, arr2};
    ///
    /// let t = Rearrange::new("h w -> w h")?;
    /// let mut out = Array2::zeros((3, 2));
    /// t.apply_into(&arr2(&[[1, 2, 3], [4, 5, 6]]), &mut out)?;
    /// assert_eq!(out, arr2(&[[1, 4], [2, 5], [3, 6]]));
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`plan`](Rearrange::plan) for `x.shape()`, and
    /// [`ErrorKind::OutputShape`] if `out`'s shape is not the result's.
    pub fn apply_into<A, S, D, S2, D2>(
        &self,
        x: &ArrayBase<S, D>,
        out: &mut ArrayBase<S2, D2>,
    ) -> Result<(), Error>
    where
        A: Clone,
        S: Data<Elem = A>,
        D: Dimension,
        S2: DataMut<Elem = A>,
        D2: Dimension,
    {
        let plan = self.plan(x.shape())?;
        exec::rearrange_into(&plan, x.view(), out.view_mut())
    }
}

impl<E: Dimension> Rearrange<E> {
    /// `y` with this op's rank type.
    pub(crate) fn ranked<S: RawData>(
        &self,
        y: ArrayBase<S, IxDyn>,
    ) -> Result<ArrayBase<S, E>, Error> {
        ranked(&self.compiled, y)
    }
}

impl<E> fmt::Debug for Rearrange<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Rearrange")
            .field(&self.compiled.pattern())
            .finish()
    }
}

/// Reduces `x` by an einops pattern: axes missing from the output are
/// combined with `reduction`.
///
/// Anonymous axes on the input side pool windows (`b c (h 2) (w 2) -> b c
/// h w`), `()` keeps a reduced axis as length 1, an ellipsis missing from
/// the output is reduced whole, and an empty output gives a 0-d array.
/// Always returns a fresh array in standard layout. See [`Reduction`] for
/// the supported element types and the accuracy of `f32` sums.
///
/// # Examples
///
/// ```
/// use einplan::Reduction;
/// use ndarray::Array;
///
/// let x = Array::from_iter(0..16).into_shape_with_order((1, 4, 4))?.mapv(|v| v as f32);
/// // 2x2 max pooling.
/// let y = einplan::reduce(&x, "c (h 2) (w 2) -> c h w", Reduction::Max, &[])?;
/// assert_eq!(y.iter().copied().collect::<Vec<_>>(), [5.0, 7.0, 13.0, 15.0]);
/// // Global average, keeping the axes.
/// let m = einplan::reduce(&x, "c h w -> c () ()", Reduction::Mean, &[])?;
/// assert_eq!(m.shape(), &[1, 1, 1]);
/// assert_eq!(m[[0, 0, 0]], 7.5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`rearrange`], except that input axes may be missing from the
/// output; also an output axis that is not in the input, a reduction the
/// element type does not support ([`ErrorKind::UnsupportedReduction`]),
/// and `Min`/`Max` over zero elements.
pub fn reduce<A, S, D, L>(
    x: &ArrayBase<S, D>,
    pattern: &str,
    reduction: Reduction,
    axes_lengths: &L,
) -> Result<ArrayD<A>, Error>
where
    A: Reducible,
    S: Data<Elem = A>,
    D: Dimension,
    L: Lengths + ?Sized,
{
    let compiled = cached(Op::Reduce, pattern, axes_lengths)?;
    run_reduce(&compiled, &x.view().into_dyn(), reduction, false)
}

/// Reduces `x` by an einops pattern with a fold of your own: each output
/// element is `f(…f(f(init, x0), x1)…, xn)` over the `n + 1` elements it
/// reduces.
///
/// # Visiting order
///
/// Each output element is one sequential left fold: it starts from a
/// clone of `init`, and `f` takes every element it reduces exactly once,
/// on one thread, with no partial results combined (so `f` need not be
/// associative). An output element that reduces no elements (a reduced
/// axis of length 0) is `init`.
///
/// The elements are visited in `x`'s memory order, not in the pattern's:
/// the reduced axes (after splitting groups, so `(h 2)` gives two) are
/// nested by decreasing absolute stride in `x` (axes of equal stride keep
/// their order in the pattern), and each is walked from index 0 up.
///
/// - For `x` in standard (row-major) layout, that is row-major order of
///   the reduced axes as they appear on the input side of the pattern.
/// - For a transposed or column-major `x`, it is memory order again,
///   which is column-major in `x`'s indices. A reversed axis (negative
///   stride) is still walked from index 0 up.
///
/// This is the order einplan uses today; it is not a promise for future
/// versions. If the result must not depend on `x`'s layout or on the
/// version, use an `f` that is associative and commutative (and, for
/// floats, accept that rounding may differ between orders).
///
/// # Examples
///
/// ```
/// let x = ndarray::arr2(&[["a", "b"], ["c", "d"]]).mapv(String::from);
/// let joined = einplan::reduce_with(&x, "r c -> r", &[], String::new(), |acc, s| acc + s)?;
/// assert_eq!(joined.iter().cloned().collect::<Vec<_>>(), ["ab", "cd"]);
///
/// // Row-major layout: row-major order.
/// let all = einplan::reduce_with(&x, "r c ->", &[], String::new(), |acc, s| acc + s)?;
/// assert_eq!(all[[]], "abcd");
/// // The transpose reads the same memory in the same order: not "acbd".
/// let t = x.t();
/// assert_eq!(t[[0, 1]], "c");
/// let all_t = einplan::reduce_with(&t, "c r ->", &[], String::new(), |acc, s| acc + s)?;
/// assert_eq!(all_t[[]], "abcd");
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// # Errors
///
/// As [`reduce`].
pub fn reduce_with<A, S, D, F, L>(
    x: &ArrayBase<S, D>,
    pattern: &str,
    axes_lengths: &L,
    init: A,
    f: F,
) -> Result<ArrayD<A>, Error>
where
    A: Clone,
    S: Data<Elem = A>,
    D: Dimension,
    F: Fn(A, &A) -> A,
    L: Lengths + ?Sized,
{
    let compiled = cached(Op::Reduce, pattern, axes_lengths)?;
    let plan = compiled.plan(x.shape())?;
    exec::reduce::reduce(&plan, &x.view().into_dyn(), &fold::With { init, f })
}

/// Checks that `reduction` can run on `A` for `plan`, then runs it.
pub(crate) fn run_reduce<A: Reducible>(
    compiled: &Compiled,
    x: &ArrayViewD<'_, A>,
    reduction: Reduction,
    reference: bool,
) -> Result<ArrayD<A>, Error> {
    let plan = check_reduce(compiled, x, reduction)?;
    A::run(Planned::new(&plan, x), reduction, reference)
        .unwrap_or_else(|| Err(unsupported::<A>(compiled, reduction)))
}

/// The plan for `x`, after checking that `Min` and `Max` have elements to
/// reduce.
fn check_reduce<A>(
    compiled: &Compiled,
    x: &ArrayViewD<'_, A>,
    reduction: Reduction,
) -> Result<Arc<Plan>, Error> {
    let plan = compiled.plan(x.shape())?;
    let empty_output = plan.output_shape().contains(&0);
    if matches!(reduction, Reduction::Min | Reduction::Max)
        && fold::count(&plan) == 0
        && !empty_output
    {
        let kind = ErrorKind::EmptyReduction { reduction };
        let whole = crate::span::Span::new(0, compiled.pattern().len());
        return Err(Error::new(compiled.pattern(), kind, whole));
    }
    Ok(plan)
}

/// The error for a reduction that `A` does not support.
fn unsupported<A>(compiled: &Compiled, reduction: Reduction) -> Error {
    let kind = ErrorKind::UnsupportedReduction {
        reduction,
        element: std::any::type_name::<A>(),
    };
    let whole = crate::span::Span::new(0, compiled.pattern().len());
    Error::new(compiled.pattern(), kind, whole)
}

/// Repeats `x` by an einops pattern: axes new in the output are broadcast.
///
/// New axes get stride 0, so the result is a borrowed view when no merge
/// forces a copy (`h w -> h w c`) and a fresh array otherwise (`h w -> h
/// (w 2)`). A length of 0 is legal and gives an empty result.
///
/// # Examples
///
/// ```
/// let x = ndarray::arr2(&[[1, 2], [3, 4]]);
/// let y = einplan::repeat(&x, "h w -> h w c", &[("c", 3)])?;
/// assert!(y.is_view()); // stride 0, nothing copied
/// assert_eq!(y.shape(), &[2, 2, 3]);
/// let z = einplan::repeat(&x, "h w -> h (w 2)", &[])?;
/// assert_eq!(z.iter().copied().collect::<Vec<_>>(), [1, 1, 2, 2, 3, 3, 4, 4]);
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// # Errors
///
/// As [`rearrange`], except that output axes may be new; also a new axis
/// without a length ([`ErrorKind::MissingLength`]).
pub fn repeat<'a, A, S, D, L>(
    x: &'a ArrayBase<S, D>,
    pattern: &str,
    axes_lengths: &L,
) -> Result<CowArray<'a, A, IxDyn>, Error>
where
    A: Clone,
    S: Data<Elem = A>,
    D: Dimension,
    L: Lengths + ?Sized,
{
    let compiled = cached(Op::Repeat, pattern, axes_lengths)?;
    let plan = compiled.plan(x.shape())?;
    exec::rearrange(&plan, x.view())
}

/// [`rearrange`] for a list of same-shape arrays, stacked on a new leading
/// axis as einops does: `rearrange_list(&xs, "n h w -> h (n w)", &[])`.
///
/// The stack is not built first: each array is copied straight into its
/// place in the result. A list of one array can return a view of it.
///
/// # Examples
///
/// ```
/// use ndarray::arr1;
///
/// let xs = [arr1(&[1, 2]), arr1(&[3, 4]), arr1(&[5, 6])];
/// let y = einplan::rearrange_list(&xs, "n w -> (w n)", &[])?;
/// assert_eq!(y.iter().copied().collect::<Vec<_>>(), [1, 3, 5, 2, 4, 6]);
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// # Errors
///
/// As [`rearrange`] for the stacked shape; also an empty list or arrays of
/// different shapes ([`ErrorKind::NoInputs`], [`ErrorKind::ListShapes`]).
pub fn rearrange_list<'a, A, S, D, L>(
    xs: &'a [ArrayBase<S, D>],
    pattern: &str,
    axes_lengths: &L,
) -> Result<CowArray<'a, A, IxDyn>, Error>
where
    A: Clone,
    S: Data<Elem = A>,
    D: Dimension,
    L: Lengths + ?Sized,
{
    let compiled = cached(Op::Rearrange, pattern, axes_lengths)?;
    apply_list(&compiled, xs)
}

/// [`repeat`] for a list of same-shape arrays, stacked on a new leading
/// axis as einops does.
///
/// # Examples
///
/// ```
/// use ndarray::{arr1, arr2};
///
/// let xs = [arr1(&[1, 2]), arr1(&[3, 4])];
/// let y = einplan::repeat_list(&xs, "n w -> n (w k)", &[("k", 2)])?;
/// assert_eq!(y, arr2(&[[1, 1, 2, 2], [3, 3, 4, 4]]).into_dyn());
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// # Errors
///
/// As [`repeat`] for the stacked shape, and as [`rearrange_list`].
pub fn repeat_list<'a, A, S, D, L>(
    xs: &'a [ArrayBase<S, D>],
    pattern: &str,
    axes_lengths: &L,
) -> Result<CowArray<'a, A, IxDyn>, Error>
where
    A: Clone,
    S: Data<Elem = A>,
    D: Dimension,
    L: Lengths + ?Sized,
{
    let compiled = cached(Op::Repeat, pattern, axes_lengths)?;
    apply_list(&compiled, xs)
}

/// [`reduce`] for a list of same-shape arrays, stacked on a new leading
/// axis as einops does. The stack is built first (one copy).
///
/// # Examples
///
/// ```
/// use einplan::{ErrorKind, Reduction};
/// use ndarray::arr1;
///
/// // Three runs of one measurement: the mean per position, the total per run.
/// let runs = [arr1(&[1.0, 2.0]), arr1(&[3.0, 4.0]), arr1(&[5.0, 9.0])];
/// let mean = einplan::reduce_list(&runs, "n w -> w", Reduction::Mean, &[])?;
/// assert_eq!(mean, arr1(&[3.0, 5.0]).into_dyn());
/// let totals = einplan::reduce_list(&runs, "n w -> n", Reduction::Sum, &[])?;
/// assert_eq!(totals, arr1(&[3.0, 7.0, 14.0]).into_dyn());
///
/// // Every array must have the first one's shape.
/// let ragged = [arr1(&[1.0, 2.0]), arr1(&[3.0])];
/// let err = einplan::reduce_list(&ragged, "n w -> w", Reduction::Sum, &[]).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::ListShapes { index: 1, .. }));
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// # Errors
///
/// As [`reduce`] for the stacked shape, and as [`rearrange_list`].
pub fn reduce_list<A, S, D, L>(
    xs: &[ArrayBase<S, D>],
    pattern: &str,
    reduction: Reduction,
    axes_lengths: &L,
) -> Result<ArrayD<A>, Error>
where
    A: Reducible,
    S: Data<Elem = A>,
    D: Dimension,
    L: Lengths + ?Sized,
{
    let compiled = cached(Op::Reduce, pattern, axes_lengths)?;
    let shape = list_shape(&compiled, xs)?;
    let views: Vec<ArrayViewD<'_, A>> = xs.iter().map(|x| x.view().into_dyn()).collect();
    // The shapes agree (`list_shape`), so only an overflow fails.
    let stacked = ndarray::stack(Axis(0), &views).map_err(|_| {
        Error::new(
            compiled.pattern(),
            ErrorKind::Overflow,
            compiled.input_span(),
        )
    })?;
    debug_assert_eq!(stacked.shape(), &shape[..]);
    run_reduce(&compiled, &stacked.view(), reduction, false)
}

/// The stacked shape `[n, shape...]` of a list, checking that it is
/// non-empty and that every array has the same shape.
fn list_shape<A, S, D>(compiled: &Compiled, xs: &[ArrayBase<S, D>]) -> Result<Vec<usize>, Error>
where
    S: Data<Elem = A>,
    D: Dimension,
{
    let err = |kind| Error::new(compiled.pattern(), kind, compiled.input_span());
    let Some(first) = xs.first() else {
        return Err(err(ErrorKind::NoInputs {
            op: compiled.op_name(),
        }));
    };
    for (index, x) in xs.iter().enumerate().skip(1) {
        if x.shape() != first.shape() {
            return Err(err(ErrorKind::ListShapes {
                index,
                shape: x.shape().to_vec(),
                first: first.shape().to_vec(),
            }));
        }
    }
    let mut shape = Vec::with_capacity(first.ndim() + 1);
    shape.push(xs.len());
    shape.extend_from_slice(first.shape());
    Ok(shape)
}

/// Rearrange or repeat a list as if stacked on a new leading axis.
fn apply_list<'a, A, S, D>(
    compiled: &Compiled,
    xs: &'a [ArrayBase<S, D>],
) -> Result<CowArray<'a, A, IxDyn>, Error>
where
    A: Clone,
    S: Data<Elem = A>,
    D: Dimension,
{
    let shape = list_shape(compiled, xs)?;
    let plan = compiled.plan(&shape)?;
    if let [x] = xs {
        let x = x.view().into_dyn().insert_axis(Axis(0));
        return exec::rearrange(&plan, x);
    }
    let views: Vec<ArrayViewD<'a, A>> = xs.iter().map(|x| x.view().into_dyn()).collect();
    exec::gather(&plan, &views).map(CowArray::from)
}

/// A compiled reduce pattern, like einops' `Reduce` layer: parse and check
/// once, plan once per input shape, apply many times. `Send + Sync`.
///
/// # Examples
///
/// ```
/// use einplan::{Reduce, Reduction};
/// use ndarray::Array4;
///
/// let pool = Reduce::new("b c h w -> b c", Reduction::Mean)?;
/// let x = Array4::<f32>::ones((2, 3, 7, 7));
/// let y = pool.apply(&x)?;
/// assert_eq!(y.shape(), &[2, 3]);
/// assert!(y.iter().all(|&v| v == 1.0));
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// With [`rank`](Reduce::rank), results have a fixed rank type.
#[derive(Clone)]
pub struct Reduce<E = IxDyn> {
    compiled: Compiled,
    reduction: Reduction,
    rank: PhantomData<fn() -> E>,
}

impl Reduce {
    /// Parses and checks a reduce pattern.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Reduce, Reduction};
    ///
    /// let pool = Reduce::new("b c (h 2) (w 2) -> b c h w", Reduction::Max)?;
    /// let y = pool.apply(&ndarray::Array4::<f32>::zeros((1, 3, 8, 8)))?;
    /// assert_eq!(y.shape(), &[1, 3, 4, 4]);
    /// // reduce cannot create axes.
    /// assert!(Reduce::new("b c -> b c k", Reduction::Sum).is_err());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Syntax errors, output axes missing from the input, anonymous axes
    /// on the output side, duplicates.
    pub fn new(pattern: &str, reduction: Reduction) -> Result<Reduce, Error> {
        Ok(Reduce {
            compiled: Compiled::new(pattern, Op::Reduce)?,
            reduction,
            rank: PhantomData,
        })
    }
}

impl<E: Dimension> Reduce<E> {
    /// Fixes the length of axis `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Reduce, Reduction};
    /// use ndarray::arr1;
    ///
    /// // Sums of consecutive windows of `k` elements.
    /// let windows = Reduce::new("(n k) -> n", Reduction::Sum)?.with("k", 3)?;
    /// let y = windows.apply(&arr1(&[1, 2, 3, 4, 5, 6]))?;
    /// assert_eq!(y, arr1(&[6, 15]).into_dyn());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// If the pattern has no axis `name`, or its length is already given.
    pub fn with(self, name: &str, len: usize) -> Result<Reduce<E>, Error> {
        Ok(Reduce {
            compiled: self.compiled.with(name, len)?,
            reduction: self.reduction,
            rank: PhantomData,
        })
    }

    /// The same op with results of rank type `F` (such as `Ix2`).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Reduce, Reduction};
    /// use ndarray::{Array2, Array4, Ix2};
    ///
    /// let pool = Reduce::new("b c h w -> b c", Reduction::Mean)?.rank::<Ix2>()?;
    /// let y: Array2<f32> = pool.apply(&Array4::<f32>::ones((2, 3, 4, 4)))?;
    /// assert_eq!(y.dim(), (2, 3));
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Rearrange::rank`].
    pub fn rank<F: Dimension>(self) -> Result<Reduce<F>, Error> {
        check_rank::<F>(&self.compiled)?;
        Ok(Reduce {
            compiled: self.compiled,
            reduction: self.reduction,
            rank: PhantomData,
        })
    }

    /// The pattern as given to [`new`](Reduce::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Reduce, Reduction};
    ///
    /// let pool = Reduce::new("b c h w -> b c", Reduction::Mean)?;
    /// assert_eq!(pool.pattern(), "b c h w -> b c");
    /// assert_eq!(pool.reduction(), Reduction::Mean);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn pattern(&self) -> &str {
        self.compiled.pattern()
    }

    /// The reduction given to [`new`](Reduce::new).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Reduce, Reduction};
    ///
    /// let pool = Reduce::new("b c h w -> b c", Reduction::Max)?;
    /// assert_eq!(pool.reduction(), Reduction::Max);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

    /// The plan for inputs of `shape` (cached per shape).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Reduce, Reduction};
    ///
    /// let pool = Reduce::new("b c (h 2) (w 2) -> b c h w", Reduction::Mean)?;
    /// assert_eq!(pool.plan(&[8, 3, 32, 32])?.output_shape(), &[8, 3, 16, 16]);
    /// assert!(pool.plan(&[8, 3, 31, 32]).is_err()); // 31 is odd
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Rearrange::plan`].
    pub fn plan(&self, shape: &[usize]) -> Result<Arc<Plan>, Error> {
        self.compiled.plan(shape)
    }

    /// Reduces `x` into a fresh array. See [`reduce`].
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Reduce, Reduction};
    /// use ndarray::{arr1, arr2};
    ///
    /// let smallest = Reduce::new("r c -> c", Reduction::Min)?;
    /// let y = smallest.apply(&arr2(&[[3, 1], [2, 5]]))?;
    /// assert_eq!(y, arr1(&[2, 1]).into_dyn());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`reduce`].
    pub fn apply<A, S, D>(&self, x: &ArrayBase<S, D>) -> Result<Array<A, E>, Error>
    where
        A: Reducible,
        S: Data<Elem = A>,
        D: Dimension,
    {
        let y = run_reduce(&self.compiled, &x.view().into_dyn(), self.reduction, false)?;
        ranked(&self.compiled, y)
    }

    /// Reduces `x` into `out`, an array of the result's shape in any
    /// layout, with no allocation for sums and means of floats, and sums
    /// of integers of up to 32 bits, shaped like pooling (and one scratch
    /// buffer otherwise).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::{Reduce, Reduction};
    /// use ndarray::{Array1, arr2};
    ///
    /// let sums = Reduce::new("r c -> r", Reduction::Sum)?;
    /// let mut out = Array1::zeros(2);
    /// sums.apply_into(&arr2(&[[1.0, 2.0], [3.0, 4.0]]), &mut out)?;
    /// assert_eq!(out.to_vec(), [3.0, 7.0]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`reduce`], and [`ErrorKind::OutputShape`] if `out`'s shape is
    /// not the result's (`out` is then left as it was). After an
    /// [`ErrorKind::IntegerOverflow`], `out` may hold some of the other
    /// results.
    ///
    /// [`ErrorKind::IntegerOverflow`]: crate::ErrorKind::IntegerOverflow
    pub fn apply_into<A, S, D, S2, D2>(
        &self,
        x: &ArrayBase<S, D>,
        out: &mut ArrayBase<S2, D2>,
    ) -> Result<(), Error>
    where
        A: Reducible,
        S: Data<Elem = A>,
        D: Dimension,
        S2: DataMut<Elem = A>,
        D2: Dimension,
    {
        let x = x.view().into_dyn();
        let plan = check_reduce(&self.compiled, &x, self.reduction)?;
        let out = out.view_mut().into_dyn();
        A::run_into(Planned::new(&plan, &x), self.reduction, out)
            .unwrap_or_else(|| Err(unsupported::<A>(&self.compiled, self.reduction)))
    }
}

impl<E> fmt::Debug for Reduce<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Reduce")
            .field(&self.compiled.pattern())
            .field(&self.reduction)
            .finish()
    }
}

/// A compiled repeat pattern, like einops' `Repeat` layer. `Send + Sync`.
///
/// # Examples
///
/// ```
/// use einplan::Repeat;
///
/// let tile = Repeat::new("h w -> (2 h) w")?;
/// let x = ndarray::arr2(&[[1, 2]]);
/// let y = tile.apply(&x)?;
/// assert_eq!(y.iter().copied().collect::<Vec<_>>(), [1, 2, 1, 2]);
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// With [`rank`](Repeat::rank), results have a fixed rank type.
#[derive(Clone)]
pub struct Repeat<E = IxDyn> {
    compiled: Compiled,
    rank: PhantomData<fn() -> E>,
}

impl Repeat {
    /// Parses and checks a repeat pattern.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Repeat;
    ///
    /// let upsample = Repeat::new("h w -> (h 2) (w 2)")?;
    /// let x = ndarray::arr2(&[[1, 2]]);
    /// let y = upsample.apply(&x)?;
    /// assert_eq!(y, ndarray::arr2(&[[1, 1, 2, 2], [1, 1, 2, 2]]).into_dyn());
    /// // repeat cannot remove axes.
    /// assert!(Repeat::new("h w -> h").is_err());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Syntax errors, input axes missing from the output, anonymous axes
    /// on the input side, duplicates.
    pub fn new(pattern: &str) -> Result<Repeat, Error> {
        Ok(Repeat {
            compiled: Compiled::new(pattern, Op::Repeat)?,
            rank: PhantomData,
        })
    }
}

impl<E: Dimension> Repeat<E> {
    /// Fixes the length of axis `name` (every new named axis needs one).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Repeat;
    ///
    /// let to_rgb = Repeat::new("h w -> h w c")?.with("c", 3)?;
    /// let gray = ndarray::Array2::<u8>::zeros((4, 5));
    /// let y = to_rgb.apply(&gray)?;
    /// assert_eq!(y.shape(), &[4, 5, 3]);
    /// // Without the length, planning fails.
    /// assert!(Repeat::new("h w -> h w c")?.apply(&gray).is_err());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// If the pattern has no axis `name`, or its length is already given.
    pub fn with(self, name: &str, len: usize) -> Result<Repeat<E>, Error> {
        Ok(Repeat {
            compiled: self.compiled.with(name, len)?,
            rank: PhantomData,
        })
    }

    /// The same op with results of rank type `F` (such as `Ix3`).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Repeat;
    /// use ndarray::{Ix3, arr2};
    ///
    /// let frames = Repeat::new("h w -> t h w")?.with("t", 4)?.rank::<Ix3>()?;
    /// let x = arr2(&[[1, 2], [3, 4]]);
    /// let y = frames.apply(&x)?;
    /// assert_eq!(y.dim(), (4, 2, 2));
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Rearrange::rank`].
    pub fn rank<F: Dimension>(self) -> Result<Repeat<F>, Error> {
        check_rank::<F>(&self.compiled)?;
        Ok(Repeat {
            compiled: self.compiled,
            rank: PhantomData,
        })
    }

    /// The pattern as given to [`new`](Repeat::new).
    ///
    /// # Examples
    ///
    /// ```
    /// let tile = einplan::Repeat::new("h w -> (2 h) w")?;
    /// assert_eq!(tile.pattern(), "h w -> (2 h) w");
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn pattern(&self) -> &str {
        self.compiled.pattern()
    }

    /// The plan for inputs of `shape` (cached per shape).
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Repeat;
    ///
    /// let tile = Repeat::new("h w -> (2 h) w")?;
    /// let plan = tile.plan(&[3, 4])?;
    /// assert_eq!(plan.output_shape(), &[6, 4]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Rearrange::plan`], and a new axis without a length.
    pub fn plan(&self, shape: &[usize]) -> Result<Arc<Plan>, Error> {
        self.compiled.plan(shape)
    }

    /// Repeats `x`: a broadcast view when strides suffice, else a copy.
    /// See [`repeat`].
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Repeat;
    ///
    /// let batch = Repeat::new("h w -> b h w")?.with("b", 4)?;
    /// let x = ndarray::arr2(&[[1, 2], [3, 4]]);
    /// let y = batch.apply(&x)?;
    /// assert!(y.is_view()); // stride 0 along `b`: nothing copied
    /// assert_eq!(y.strides()[0], 0);
    /// assert_eq!(y.shape(), &[4, 2, 2]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`plan`](Repeat::plan) for `x.shape()`.
    pub fn apply<'a, A, S, D>(&self, x: &'a ArrayBase<S, D>) -> Result<CowArray<'a, A, E>, Error>
    where
        A: Clone,
        S: Data<Elem = A>,
        D: Dimension,
    {
        let plan = self.plan(x.shape())?;
        ranked(&self.compiled, exec::rearrange(&plan, x.view())?)
    }

    /// Repeats `x` into `out`, an array of the result's shape in any
    /// layout: always a copy, with no allocation.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Repeat;
    /// use ndarray::{Array2, arr1, arr2};
    ///
    /// let rows = Repeat::new("w -> h w")?.with("h", 2)?;
    /// let mut out = Array2::zeros((2, 3));
    /// rows.apply_into(&arr1(&[1, 2, 3]), &mut out)?;
    /// assert_eq!(out, arr2(&[[1, 2, 3], [1, 2, 3]]));
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`plan`](Repeat::plan) for `x.shape()`, and
    /// [`ErrorKind::OutputShape`] if `out`'s shape is not the result's.
    pub fn apply_into<A, S, D, S2, D2>(
        &self,
        x: &ArrayBase<S, D>,
        out: &mut ArrayBase<S2, D2>,
    ) -> Result<(), Error>
    where
        A: Clone,
        S: Data<Elem = A>,
        D: Dimension,
        S2: DataMut<Elem = A>,
        D2: Dimension,
    {
        let plan = self.plan(x.shape())?;
        exec::rearrange_into(&plan, x.view(), out.view_mut())
    }
}

impl<E: Dimension> Repeat<E> {
    /// `y` with this op's rank type.
    pub(crate) fn ranked<S: RawData>(
        &self,
        y: ArrayBase<S, IxDyn>,
    ) -> Result<ArrayBase<S, E>, Error> {
        ranked(&self.compiled, y)
    }
}

impl<E> fmt::Debug for Repeat<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Repeat")
            .field(&self.compiled.pattern())
            .finish()
    }
}

/// The error that rank type `E` cannot hold the output, if the pattern
/// fixes the output's rank.
fn check_rank<E: Dimension>(compiled: &Compiled) -> Result<(), Error> {
    match (E::NDIM, compiled.output_rank()) {
        (Some(expected), Some(found)) if expected != found => {
            Err(rank_error(compiled, expected, found))
        }
        _ => Ok(()),
    }
}

/// `y` with rank type `E`, or the error that its rank is not `E`'s.
fn ranked<S: RawData, E: Dimension>(
    compiled: &Compiled,
    y: ArrayBase<S, IxDyn>,
) -> Result<ArrayBase<S, E>, Error> {
    let found = y.ndim();
    y.into_dimensionality::<E>()
        .map_err(|_| rank_error(compiled, E::NDIM.unwrap_or(found), found))
}

fn rank_error(compiled: &Compiled, expected: usize, found: usize) -> Error {
    let kind = ErrorKind::OutputRank { expected, found };
    Error::new(compiled.pattern(), kind, compiled.output_span())
}
