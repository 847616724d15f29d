//! Einstein summation with einops-style patterns, lowered to strided
//! views, rearranges and matrix products.
//!
//! The stages mirror the rest of the crate: [`spec`] checks a parsed
//! pattern once, [`schedule`](mod@schedule) specialises it to operand
//! shapes (lengths, contraction order, how each contraction runs), and
//! [`run`](mod@run) executes a schedule. Compiled patterns and schedules
//! are cached like rearrange's.

mod checked;
#[cfg(test)]
mod reference;
mod run;
mod schedule;
mod spec;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use std::marker::PhantomData;

use ndarray::{Array, ArrayBase, ArrayD, DataMut, Dimension, IxDyn, LinalgScalar};

use self::schedule::{Schedule, schedule};
use self::spec::{Dim, Spec};
use crate::args::Operands;
use crate::compiled::{PatternCache, ShapeCache};
use crate::error::{Error, ErrorKind};

/// Einstein summation: multiplies the operands elementwise along shared
/// axes and sums over the axes that the output leaves out.
///
/// The pattern is einops' einsum syntax: the operands' axes separated by
/// commas, `->`, then the output's axes. Axis names may be longer than one
/// letter. Beyond einops, both sides may use parenthesised groups, which
/// split an operand's dimension into axes or merge output axes into one
/// dimension, so a grouped 1×1 convolution is a single einsum:
///
/// ```text
/// b (g ci) h w, g co ci -> b (g co) h w
/// ```
///
/// - An axis missing from the output is summed over.
/// - An axis named twice in one operand takes the diagonal: `i i ->` is the
///   trace, `b i i -> b i` a batch of diagonals.
/// - `...` stands for any number of dimensions, aligned to the right across
///   operands as in numpy. Where the output has no `...`, those dimensions
///   are summed over.
/// - `1` and `()` are unit dimensions (length 1), on either side.
///
/// Lengths come from the operands' shapes; a group needs the lengths of all
/// but one of its axes, from another operand where the axis stands alone or
/// from [`Einsum::with`]. `einsum` takes none: use [`Einsum`] to give them.
///
/// Elements are any type ndarray can multiply as matrices
/// ([`LinalgScalar`]): `f32`, `f64` and the primitive integers. The result
/// is always a fresh array in standard layout; operands may have any
/// layout (transposed, sliced, stepped, reversed). Compiled patterns are
/// cached, so calling this in a loop does not re-parse.
///
/// # How it runs
///
/// Each operand becomes a strided view with one axis per distinct axis
/// (splitting groups and taking diagonals moves no data), and axes that
/// only it has and the output drops are summed first. The operands are then
/// contracted two at a time, the pair giving the smallest intermediate
/// first. Each contraction is a loop of matrix products: the free axes of
/// one operand that lie next to each other in the result's layout become
/// the rows, those of the other the columns, and the batch axes (with any
/// other free axes) the loop. The operands are rearranged into
/// `[loop] (rows) (contracted)` and `[loop] (contracted) (columns)` order,
/// which is a view when their strides allow and a copy otherwise, and
/// `ndarray::linalg::general_mat_mul` multiplies (with `matrixmultiply`
/// for `f32` and `f64`; an `f32` product of at least 128 columns whose
/// right operand and result have contiguous rows, or columns, runs on
/// einplan's own AVX2 kernel, which does not copy that operand into
/// panels; an `f32` matrix-vector product whose matrix has contiguous
/// rows, on another). The last contraction writes straight into the
/// output in its final layout, so output groups cost nothing: the grouped
/// convolution above runs on the input as it is, one product per batch
/// index and group. Contractions with nothing to sum (outer and
/// elementwise products), or whose matrix products would be many and tiny,
/// run as broadcast multiply-adds instead.
///
/// Sums accumulate in the element type, as matrix products do (`reduce`,
/// by contrast, sums `f32` in `f64`).
///
/// # Examples
///
/// ```
/// use ndarray::{Array, array};
///
/// let a = array![[1.0, 2.0], [3.0, 4.0]].into_dyn();
/// let b = array![[5.0, 6.0], [7.0, 8.0]].into_dyn();
///
/// // Matrix product.
/// let c = einplan::einsum("i j, j k -> i k", &[a.view(), b.view()])?;
/// assert_eq!(c, array![[19.0, 22.0], [43.0, 50.0]].into_dyn());
///
/// // Trace, and a transposed (strided) operand.
/// let t = einplan::einsum("i i ->", &[a.view()])?;
/// assert_eq!(t[[]], 5.0);
/// let at = a.t();
/// let d = einplan::einsum("j i, j k -> i k", &[at.view(), b.view()])?;
/// assert_eq!(d, c);
///
/// // Batched attention scores with descriptive axis names.
/// let q = Array::<f32, _>::ones((2, 4, 5, 8)).into_dyn();
/// let k = Array::<f32, _>::ones((2, 4, 6, 8)).into_dyn();
/// let s = einplan::einsum("b h q d, b h k d -> b h q k", &[q.view(), k.view()])?;
/// assert_eq!(s.shape(), &[2, 4, 5, 6]);
/// assert_eq!(s[[0, 0, 0, 0]], 8.0);
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// # Errors
///
/// A malformed pattern; `*` or an anonymous axis other than `1`; an
/// output axis that no operand has, or that the output repeats; a group
/// with more than one unknown length (use [`Einsum::with`]). With the
/// operands: a different number of operands than the pattern has; an
/// operand whose rank does not match its part of the pattern; one axis with
/// different lengths in two places (the error points at both); lengths that
/// do not divide or match a group; products that overflow; a result too
/// large to allocate; with integer elements, a product or sum that does
/// not fit the element type ([`ErrorKind::IntegerOverflow`]: einplan
/// refuses where numpy would widen, and never wraps). Integer einsums run
/// a checked loop rather than a matrix product, so they are slower than
/// float ones. Every error points into the pattern; see [`Error`].
///
/// [`ErrorKind::IntegerOverflow`]: crate::ErrorKind::IntegerOverflow
pub fn einsum<A, O>(pattern: &str, operands: O) -> Result<ArrayD<A>, Error>
where
    A: LinalgScalar,
    O: Operands<A>,
{
    cached(pattern)?.apply(operands)
}

/// A compiled einsum pattern.
///
/// `new` parses and checks the pattern once; [`with`](Einsum::with) fixes
/// axis lengths that the shapes alone do not give; [`apply`](Einsum::apply)
/// specialises the pattern to the operands' shapes (cached per set of
/// shapes) and runs it. An `Einsum` is `Send + Sync`: share one between
/// threads and call `apply` concurrently. See [`einsum`] for the pattern
/// syntax and how it runs.
///
/// # Examples
///
/// ShuffleNet's grouped 1×1 convolution: 3 groups of 4 input channels,
/// each mixed into 2 output channels.
///
/// ```
/// use einplan::Einsum;
/// use ndarray::Array;
///
/// let conv = Einsum::new("b (g ci) h w, g co ci -> b (g co) h w")?.with("g", 3)?;
/// let x = Array::<f32, _>::ones((8, 12, 5, 5)).into_dyn();
/// let w = Array::<f32, _>::ones((3, 2, 4)).into_dyn();
/// let y = conv.apply(&[x.view(), w.view()])?;
/// assert_eq!(y.shape(), &[8, 6, 5, 5]);
/// assert_eq!(y[[0, 0, 0, 0]], 4.0); // a sum over the 4 channels of a group
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// With [`rank`](Einsum::rank), results have a fixed rank type.
pub struct Einsum<E = IxDyn> {
    spec: Spec,
    schedules: ShapeCache<Schedule>,
    rank: PhantomData<fn() -> E>,
}

impl Einsum {
    /// Parses and checks an einsum pattern.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = einplan::Einsum::new("a b, b c -> a d").unwrap_err();
    /// assert_eq!(err.span(), 14..15); // `d` is in no operand
    /// ```
    ///
    /// # Errors
    ///
    /// Syntax errors and the rules that need no shapes: no `*` or
    /// anonymous axes other than `1`; at most one `...` per operand, and
    /// not in a group; output axes taken from the operands, each once.
    pub fn new(pattern: &str) -> Result<Einsum, Error> {
        Ok(Einsum::from_spec(Spec::new(pattern)?))
    }
}

impl<E: Dimension> Einsum<E> {
    fn from_spec(spec: Spec) -> Einsum<E> {
        Einsum {
            spec,
            schedules: ShapeCache::default(),
            rank: PhantomData,
        }
    }

    /// The same einsum with results of rank type `F` (such as `Ix2`), so
    /// that [`apply`](Einsum::apply) returns `Array<A, F>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Einsum;
    /// use ndarray::{Array2, Ix2, array};
    ///
    /// let matmul = Einsum::new("i k, k j -> i j")?.rank::<Ix2>()?;
    /// let c: Array2<i32> = matmul.apply((&array![[1, 2]], &array![[3], [4]]))?;
    /// assert_eq!(c, array![[11]]);
    /// assert!(Einsum::new("i k, k j -> i j")?.rank::<ndarray::Ix3>().is_err());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutputRank`], pointing at the output side, if the
    /// pattern fixes the output's rank (no `...` there) and it is not
    /// `F`'s; otherwise `apply` checks it.
    ///
    /// [`ErrorKind::OutputRank`]: crate::ErrorKind::OutputRank
    pub fn rank<F: Dimension>(self) -> Result<Einsum<F>, Error> {
        let fixed = !self.spec.output.iter().any(|d| matches!(d, Dim::Ellipsis));
        if let (Some(expected), true) = (F::NDIM, fixed)
            && expected != self.spec.output.len()
        {
            return Err(self.rank_error(expected, self.spec.output.len()));
        }
        Ok(Einsum::from_spec(self.spec))
    }

    fn rank_error(&self, expected: usize, found: usize) -> Error {
        let kind = ErrorKind::OutputRank { expected, found };
        Error::new(&self.spec.pattern, kind, self.spec.output_span)
    }

    /// Fixes the length of axis `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Einsum;
    /// use ndarray::Array;
    ///
    /// // Split rows into blocks of 3 and sum each block.
    /// let op = Einsum::new("(b s) d -> b d")?.with("s", 3)?;
    /// let x = Array::from_iter(0..12).into_shape_with_order((6, 2))?.into_dyn();
    /// let y = op.apply(&[x.view()])?;
    /// assert_eq!(y, ndarray::array![[6, 9], [24, 27]].into_dyn());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// If no operand has an axis `name`, or its length is already given.
    pub fn with(mut self, name: &str, len: usize) -> Result<Einsum<E>, Error> {
        self.spec.set_length(name, len)?;
        // Schedules made before this length was known are stale.
        self.schedules = ShapeCache::default();
        Ok(self)
    }

    /// The pattern as given to [`new`](Einsum::new).
    ///
    /// # Examples
    ///
    /// ```
    /// let matmul = einplan::Einsum::new("i k, k j -> i j")?;
    /// assert_eq!(matmul.pattern(), "i k, k j -> i j");
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn pattern(&self) -> &str {
        &self.spec.pattern
    }

    /// Computes the einsum of `operands`. See [`einsum`].
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Einsum;
    /// use ndarray::array;
    ///
    /// let outer = Einsum::new("i, j -> i j")?;
    /// let (a, b) = (array![1, 2].into_dyn(), array![10, 20, 30].into_dyn());
    /// let y = outer.apply(&[a.view(), b.view()])?;
    /// assert_eq!(y, array![[10, 20, 30], [20, 40, 60]].into_dyn());
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The errors of [`einsum`] that involve the operands: their number,
    /// ranks and lengths, overflow (of lengths, or of integer elements),
    /// and results too large to allocate.
    pub fn apply<A, O>(&self, operands: O) -> Result<Array<A, E>, Error>
    where
        A: LinalgScalar,
        O: Operands<A>,
    {
        let operands = operands.operands();
        let shapes: Vec<&[usize]> = operands.iter().map(|x| x.shape()).collect();
        let schedule = self.schedule(&shapes)?;
        let y = run::run(&self.spec, &schedule, &operands)?;
        let found = y.ndim();
        y.into_dimensionality::<E>()
            .map_err(|_| self.rank_error(E::NDIM.unwrap_or(found), found))
    }

    /// Computes the einsum of `operands` into `out`, an array of the
    /// result's shape in any layout. Where the last contraction is a
    /// matrix product already in the output's axis order and `out` is in
    /// standard layout, the product is written straight into `out`;
    /// otherwise the result is computed and then copied in.
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::Einsum;
    /// use ndarray::{Array2, array};
    ///
    /// let matmul = Einsum::new("i k, k j -> i j")?;
    /// let (a, b) = (array![[1.0, 2.0], [3.0, 4.0]], array![[5.0], [6.0]]);
    /// let mut out = Array2::<f64>::from_elem((2, 1), f64::NAN);
    /// matmul.apply_into((&a, &b), &mut out)?;
    /// assert_eq!(out, array![[17.0], [39.0]]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`apply`](Einsum::apply), and [`ErrorKind::OutputShape`]
    /// (pointing at the output side) if `out`'s shape is not the
    /// result's; `out` is then left as it was.
    ///
    /// [`ErrorKind::OutputShape`]: crate::ErrorKind::OutputShape
    pub fn apply_into<A, O, S, D>(
        &self,
        operands: O,
        out: &mut ArrayBase<S, D>,
    ) -> Result<(), Error>
    where
        A: LinalgScalar,
        O: Operands<A>,
        S: DataMut<Elem = A>,
        D: Dimension,
    {
        let operands = operands.operands();
        let shapes: Vec<&[usize]> = operands.iter().map(|x| x.shape()).collect();
        let schedule = self.schedule(&shapes)?;
        if out.shape() != schedule.out_shape.as_slice() {
            let kind = ErrorKind::OutputShape {
                expected: schedule.out_shape.to_vec(),
                found: out.shape().to_vec(),
            };
            return Err(Error::new(&self.spec.pattern, kind, self.spec.output_span));
        }
        run::run_into(&self.spec, &schedule, &operands, out.view_mut().into_dyn())
    }

    /// The result's shape for operands of `shapes` (the schedule is
    /// cached, so a later `apply_into` with these shapes reuses it).
    pub(crate) fn output_shape(&self, shapes: &[&[usize]]) -> Result<Vec<usize>, Error> {
        Ok(self.schedule(shapes)?.out_shape.to_vec())
    }

    /// The schedule for operands of `shapes`, from the cache or fresh.
    fn schedule(&self, shapes: &[&[usize]]) -> Result<Arc<Schedule>, Error> {
        let mut key = Vec::with_capacity(shapes.iter().map(|s| s.len() + 1).sum());
        for shape in shapes {
            key.push(shape.len());
            key.extend_from_slice(shape);
        }
        self.schedules.get(&key, || schedule(&self.spec, shapes))
    }
}

impl<E: Dimension> Clone for Einsum<E> {
    fn clone(&self) -> Einsum<E> {
        Einsum::from_spec(self.spec.clone())
    }
}

impl<E> fmt::Debug for Einsum<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Einsum").field(&self.spec.pattern).finish()
    }
}

/// The compiled `pattern`, from a process-wide cache.
fn cached(pattern: &str) -> Result<Arc<Einsum>, Error> {
    static CACHE: PatternCache<Einsum> = PatternCache::new();
    CACHE.get("einsum", pattern, &[], || Einsum::new(pattern))
}
