//! View or error: a rearrange or repeat on `ndarray` that returns a
//! borrowed view, or an [`Error`] naming the merge that would need a
//! copy. Never a silent copy.

use ndarray::{ArrayBase, ArrayView, Data, Dimension, IxDyn};

use crate::args::Lengths;
use crate::compiled::cached;
use crate::error::Error;
use crate::exec::Source;
use crate::ir::Op;
use crate::layout::{self, Layout};
use crate::ops::{Rearrange, Repeat};
use crate::plan::Plan;

/// Rearranges `x` as a borrowed view, or fails: the strict twin of
/// [`rearrange`](crate::rearrange), for code that must not copy (einops
/// issues #38 and #296 ask for it).
///
/// # Examples
///
/// ```
/// use einplan::ErrorKind;
/// use ndarray::Array3;
///
/// let x = Array3::<f32>::zeros((4, 5, 3));
/// let y = einplan::rearrange_view(&x, "h w c -> c (h w)", &[])?;
/// assert_eq!(y.shape(), &[3, 20]);
///
/// let err = einplan::rearrange_view(&x, "h w c -> (w h) c", &[]).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::NeedsCopy { dim: 0, .. }));
/// assert_eq!(
///     err.to_string(),
///     "h w c -> (w h) c\n         ^^^^^\n\
///      error: output axis 0 merges `w h`, which do not lie one after another \
///      in memory: the result needs a copy",
/// );
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::NeedsCopy`](crate::ErrorKind::NeedsCopy), pointing at the
/// output group that cannot be merged over `x`'s strides; otherwise as
/// [`rearrange`](crate::rearrange).
pub fn rearrange_view<'a, A, S, D, L>(
    x: &'a ArrayBase<S, D>,
    pattern: &str,
    axes_lengths: &L,
) -> Result<ArrayView<'a, A, IxDyn>, Error>
where
    S: Data<Elem = A>,
    D: Dimension,
    L: Lengths + ?Sized,
{
    let compiled = cached(Op::Rearrange, pattern, axes_lengths)?;
    let plan = compiled.plan(x.shape())?;
    view(&plan, x.view())
}

/// Repeats `x` as a borrowed view (new axes get stride 0), or fails; see
/// [`rearrange_view`].
///
/// # Examples
///
/// ```
/// let x = ndarray::arr1(&[1, 2, 3]);
/// let y = einplan::repeat_view(&x, "w -> h w", &[("h", 2)])?;
/// assert_eq!(y.strides(), &[0, 1]);
/// assert!(einplan::repeat_view(&x, "w -> (w h)", &[("h", 2)]).is_err());
/// # Ok::<(), einplan::Error>(())
/// ```
///
/// # Errors
///
/// As [`rearrange_view`] and [`repeat`](crate::repeat).
pub fn repeat_view<'a, A, S, D, L>(
    x: &'a ArrayBase<S, D>,
    pattern: &str,
    axes_lengths: &L,
) -> Result<ArrayView<'a, A, IxDyn>, Error>
where
    S: Data<Elem = A>,
    D: Dimension,
    L: Lengths + ?Sized,
{
    let compiled = cached(Op::Repeat, pattern, axes_lengths)?;
    let plan = compiled.plan(x.shape())?;
    view(&plan, x.view())
}

impl<E: Dimension> Rearrange<E> {
    /// Rearranges `x` as a borrowed view, or fails with an error naming
    /// the merge that would need a copy; see [`rearrange_view`].
    ///
    /// # Examples
    ///
    /// ```
    /// let to_nchw = einplan::Rearrange::new("b h w c -> b c h w")?;
    /// let x = ndarray::Array4::<u8>::zeros((2, 4, 4, 3));
    /// assert_eq!(to_nchw.view(&x)?.strides(), &[48, 1, 12, 3]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`rearrange_view`].
    pub fn view<'a, A, S, D>(&self, x: &'a ArrayBase<S, D>) -> Result<ArrayView<'a, A, E>, Error>
    where
        S: Data<Elem = A>,
        D: Dimension,
    {
        let plan = self.plan(x.shape())?;
        self.ranked(view(&plan, x.view())?)
    }
}

impl<E: Dimension> Repeat<E> {
    /// Repeats `x` as a borrowed view, or fails; see [`repeat_view`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rgb = einplan::Repeat::new("h w -> h w 3")?;
    /// let gray = ndarray::Array2::<u8>::zeros((2, 2));
    /// assert_eq!(rgb.view(&gray)?.shape(), &[2, 2, 3]);
    /// # Ok::<(), einplan::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`repeat_view`].
    pub fn view<'a, A, S, D>(&self, x: &'a ArrayBase<S, D>) -> Result<ArrayView<'a, A, E>, Error>
    where
        S: Data<Elem = A>,
        D: Dimension,
    {
        let plan = self.plan(x.shape())?;
        self.ranked(view(&plan, x.view())?)
    }
}

/// The result of `plan` as a view of `x`, or the error naming the merge.
fn view<'a, A, D: Dimension>(
    plan: &Plan,
    x: ArrayView<'a, A, D>,
) -> Result<ArrayView<'a, A, IxDyn>, Error> {
    plan.check_no_reduction()?;
    let x = x.into_dyn();
    if x.is_empty() || plan.output_shape().contains(&0) {
        let empty = ArrayView::from_shape(IxDyn(plan.output_shape()), &[]);
        return Ok(empty.expect("a plan's output shape is representable"));
    }
    if let Some(v) = Source::new(&x, plan.kept_steps()).merged(plan.output_groups()) {
        return Ok(v);
    }
    let steps = layout::read(&Layout::new(x.shape(), x.strides()), plan.kept_steps())
        .expect("a plan's steps read within its input shape");
    Err(plan.needs_copy(&steps))
}
