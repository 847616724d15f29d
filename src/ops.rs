//! The public operations: free functions and compiled ops.

use std::fmt;
use std::sync::Arc;

use ndarray::{ArrayBase, CowArray, Data, Dimension, IxDyn};

use crate::compiled::{Compiled, cached};
use crate::error::Error;
use crate::exec;
use crate::ir::Op;
use crate::plan::Plan;

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
pub fn rearrange<'a, A, S, D>(
    x: &'a ArrayBase<S, D>,
    pattern: &str,
    axes_lengths: &[(&str, usize)],
) -> Result<CowArray<'a, A, IxDyn>, Error>
where
    A: Clone,
    S: Data<Elem = A>,
    D: Dimension,
{
    let compiled = cached(Op::Rearrange, pattern, axes_lengths)?;
    let plan = compiled.plan(x.shape())?;
    Ok(exec::rearrange(&plan, x.view().into_dyn()))
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
#[derive(Clone)]
pub struct Rearrange {
    compiled: Compiled,
}

impl Rearrange {
    /// Parses and checks a rearrange pattern.
    ///
    /// # Errors
    ///
    /// Syntax errors and the rules that need no shape: every axis on both
    /// sides, no duplicates, no anonymous axes other than `1`, `...` on
    /// both sides or neither.
    pub fn new(pattern: &str) -> Result<Rearrange, Error> {
        Ok(Rearrange {
            compiled: Compiled::new(pattern, Op::Rearrange)?,
        })
    }

    /// Fixes the length of axis `name`.
    ///
    /// # Errors
    ///
    /// If the pattern has no axis `name`, or its length is already given.
    pub fn with(self, name: &str, len: usize) -> Result<Rearrange, Error> {
        Ok(Rearrange {
            compiled: self.compiled.with(name, len)?,
        })
    }

    /// The pattern as given to [`new`](Rearrange::new).
    pub fn pattern(&self) -> &str {
        self.compiled.pattern()
    }

    /// The plan for inputs of `shape` (cached per shape).
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
    /// # Errors
    ///
    /// As [`plan`](Rearrange::plan) for `x.shape()`.
    pub fn apply<'a, A, S, D>(&self, x: &'a ArrayBase<S, D>) -> Result<CowArray<'a, A, IxDyn>, Error>
    where
        A: Clone,
        S: Data<Elem = A>,
        D: Dimension,
    {
        let plan = self.plan(x.shape())?;
        Ok(exec::rearrange(&plan, x.view().into_dyn()))
    }
}

impl fmt::Debug for Rearrange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Rearrange").field(&self.pattern()).finish()
    }
}
