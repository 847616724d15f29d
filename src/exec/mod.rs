//! Runs a [`Plan`] on an array view.
//!
//! Two paths: when the plan's merges are stride-compatible for the input at
//! hand, the result is a view built from strides alone; otherwise the
//! permuted input ([`Source`]) is copied by [`copy::copy`] into a fresh
//! standard-layout array, or by [`copy::copy_into`] into the caller's.
//! [`reference`] is the element-by-element oracle both are tested against.
//!
//! # Invariants
//!
//! The crate's `unsafe` code lives in this module's files, one concern
//! each: checked views ([`source`]), copies ([`copy`]), bit movers and the
//! SIMD choice ([`bits`], with the micro-kernels in `simd`), running loop
//! nests ([`nest`]), threads ([`threads`]), folds and pooling
//! ([`pool`]) and `f32` matrix products ([`gemm`]). Every function starts from a live `ArrayView` `x` (the
//! input) and, when it writes, a live `ArrayViewMut` or the spare capacity
//! of a `Vec` (the output). For a view of shape `n` and strides `s`,
//! ndarray guarantees that `as_ptr()` points at element `[0, 0, ..]` and
//! that for every index `i` with `i_k < n_k` the element at `as_ptr() + Σ
//! i_k * s_k` is initialised, inside one allocation, and borrowed for the
//! view's lifetime: shared for an `ArrayView`, exclusively for an
//! `ArrayViewMut`, whose distinct indices are distinct elements. An input
//! and an output never overlap: one is borrowed shared, the other
//! exclusively.
//!
//! 1. **Reads.** A [`Source`] is a plan's permuted input. Each of its axes
//!    steps through input dimensions `d` with multipliers `m` (or through
//!    none: a new axis, stride 0). [`Source::try_new`] does not trust the
//!    planner: [`layout::read`](crate::layout::read) computes the strides
//!    itself, Σ `x.strides()[d] * m`, after checking that for every
//!    dimension the largest index its axes can form, Σ (len − 1) · m, is
//!    less than that dimension's length. So every offset Σ i_k · stride_k
//!    (i_k < len_k) formed from a source is the offset of an in-bounds
//!    index of `x` — of one of *its* elements, whatever other arrays its
//!    memory interleaves with.
//! 2. **Writes.** Output strides are computed here, never taken from the
//!    planner: standard strides over exactly as many slots of a `Vec`'s
//!    spare capacity as the source has elements, or an `ArrayViewMut`'s
//!    dimensions split into the source's axis lengths
//!    ([`Layout::split_into`](crate::layout::Layout::split_into) checks
//!    that each dimension is exactly the product of its axes). So every
//!    output offset formed is an in-bounds index of the output, and
//!    distinct indices of the source write distinct elements.
//! 3. **Loop nests.** The kernels drop axes of length 1, reverse axes
//!    (`i → len − 1 − i`), reorder them, merge an axis into its inner
//!    neighbour when both its strides allow
//!    ([`coalesce`](crate::layout::coalesce)), tile two axes, and split one
//!    axis into ranges for threads. Each of these maps the index space
//!    onto itself (or, for a thread's range, onto a part of it), so 1 and 2
//!    hold for every offset a nest forms, and threads write disjoint
//!    elements.
//! 4. **Once per plan.** A [`Prepared`](crate::layout::Prepared) nest or
//!    view is made for a standard-layout input of the plan's input shape
//!    and a standard-layout output: the input's layout with each
//!    dimension split into axes whose lengths multiply to exactly its
//!    length ([`Layout::split`](crate::layout::Layout::split) checks),
//!    permuted, given stride-0 axes and merged, so that, as in 1, every
//!    index is an index of the input; the nest is made as in 3. It is used
//!    only after checking that the arrays at hand have exactly that shape
//!    and layout, and so the same strides.
//! 5. **Bit copies.** Elements are copied as raw bits, without calling
//!    `Clone`, only when the element type *is* a primitive number or
//!    `bool` (checked by type identity): types whose clone is a bit copy,
//!    with no `Drop`, that are `Send + Sync`, and for which every bit
//!    pattern copied from a valid value is valid. Only such copies, and
//!    the `f32`/`f64` pooling kernel, run on more than one thread.
//! 6. **SIMD.** A `#[target_feature]` function runs only after
//!    `is_x86_feature_detected!` confirmed the feature on this CPU, and
//!    reads and writes only offsets of the tile or rows its caller proved
//!    in bounds by 1–3. Streaming stores are aligned as they require, and
//!    a thread's part of a nest that used them ends with a store fence.
//! 7. **Lengths.** `Vec::set_len` follows a kernel that has written every
//!    slot it adds: the slots are the output indices of 2, and a nest
//!    visits each index exactly once.
//!
//! The safe arithmetic of 1–3 lives in [`layout`](crate::layout), where
//! its property tests check it against brute force. The unit tests in
//! `exec/tests.rs` (small enough for Miri) and the property tests in
//! `tests/kernels.rs` and `tests/prop.rs` check every kernel against the
//! reference executor over random shapes, strides (negative and zero
//! included) and sizes straddling the tile edges.

#[allow(unsafe_code)]
mod bits;
#[allow(unsafe_code)]
pub(crate) mod copy;
#[allow(unsafe_code)]
pub(crate) mod gemm;
#[allow(unsafe_code)]
mod nest;
#[allow(unsafe_code)]
pub(crate) mod pool;
pub(crate) mod reduce;
pub(crate) mod reference;
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd;
#[allow(unsafe_code)]
pub(crate) mod source;
#[cfg(test)]
mod tests;
#[allow(unsafe_code)]
pub(crate) mod threads;

use ndarray::{ArrayD, ArrayView, ArrayViewMut, CowArray, Dimension, IxDyn};
use smallvec::SmallVec;

pub(crate) use self::source::Source;
use crate::error::Error;
use crate::layout::Step;
use crate::plan::Plan;

/// Rearrange or repeat `x` by `plan`: a view when strides suffice, else a
/// standard-layout copy. A standard-layout input takes the plan's prepared
/// view or copy without converting its dimensions.
pub(crate) fn rearrange<'a, A: Clone, D: Dimension>(
    plan: &Plan,
    x: ArrayView<'a, A, D>,
) -> Result<CowArray<'a, A, IxDyn>, Error> {
    // A standard-layout input has its view or copy prepared (for results
    // that are not empty); other layouts are worked out in `copied`.
    if let Some(v) = plan.prepared().and_then(|p| source::prepared_view(p, &x)) {
        return Ok(CowArray::from(v));
    }
    copied(plan, x, true)
}

/// Rearrange or repeat `x` by `plan` into a fresh standard-layout array,
/// by the copy kernels even where a view would do.
#[cfg(feature = "candle")]
pub(crate) fn rearrange_owned<A: Clone, D: Dimension>(
    plan: &Plan,
    x: ArrayView<'_, A, D>,
) -> Result<ArrayD<A>, Error> {
    Ok(copied(plan, x, false)?.into_owned())
}

/// [`rearrange`] past its prepared view (out of line, so that the view's
/// path does not carry the copies' stack frame): a copy, or with `views`
/// a view where the input's strides allow one.
#[inline(never)]
fn copied<'a, A: Clone, D: Dimension>(
    plan: &Plan,
    x: ArrayView<'a, A, D>,
    views: bool,
) -> Result<CowArray<'a, A, IxDyn>, Error> {
    let prepared = plan
        .prepared()
        .filter(|p| p.fits(x.shape(), x.is_standard_layout()));
    let shape = IxDyn(plan.output_shape());
    let n = shape.size();
    if x.is_empty() || n == 0 {
        // The planner refused shapes ndarray cannot represent.
        let empty = ArrayD::from_shape_vec(shape, Vec::new());
        return empty.map(CowArray::from).map_err(|_| plan.overflow());
    }
    let mut data;
    if let Some(p) = prepared {
        data = plan.buffer(n)?;
        copy::copy_prepared(p, &x, &mut data);
    } else {
        let x = x.into_dyn();
        let src = Source::new(&x, plan.kept_steps());
        if let Some(v) = src.merged(plan.output_groups()).filter(|_| views) {
            return Ok(CowArray::from(v));
        }
        data = plan.buffer(n)?;
        copy::copy(&src, &mut data);
    }
    let out = ArrayD::from_shape_vec(shape, data);
    Ok(CowArray::from(
        out.expect("the copy holds one element per output element"),
    ))
}

/// Rearrange or repeat `x` by `plan` into `out`, which may have any
/// layout.
///
/// # Errors
///
/// If `out` does not have the plan's output shape.
pub(crate) fn rearrange_into<A: Clone, D: Dimension, E: Dimension>(
    plan: &Plan,
    x: ArrayView<'_, A, D>,
    mut out: ArrayViewMut<'_, A, E>,
) -> Result<(), Error> {
    plan.check_output(out.shape())?;
    if !plan
        .prepared()
        .is_some_and(|p| copy::copy_into_prepared(p, &x, &mut out))
    {
        let x = x.into_dyn();
        copy::copy_into(&Source::new(&x, plan.kept_steps()), out.into_dyn());
    }
    Ok(())
}

/// Rearrange or repeat a list of same-shape arrays as if they were stacked
/// on a new leading axis, without building the stack when that axis is a
/// single elementary axis: each array is copied into its slice of the
/// output.
pub(crate) fn gather<A: Clone>(
    plan: &Plan,
    xs: &[ArrayView<'_, A, IxDyn>],
) -> Result<ArrayD<A>, Error> {
    let shape = IxDyn(plan.output_shape());
    let list_axis = match plan.input_dims().first().map(|d| d.as_slice()) {
        Some(&[axis]) => plan.kept().iter().position(|&a| a == axis),
        _ => None,
    };
    let (Some(pos), Some(first)) = (list_axis, xs.first().and_then(|x| x.first())) else {
        // The stacked axis is split (or the result is empty): stack first.
        // The shapes agree (`list_shape`), so only an overflow fails.
        let stacked = ndarray::stack(ndarray::Axis(0), xs).map_err(|_| plan.overflow())?;
        return Ok(rearrange(plan, stacked.view())?.into_owned());
    };
    if shape.size() == 0 {
        let empty = ArrayD::from_shape_vec(shape, Vec::new());
        return empty.map_err(|_| plan.overflow());
    }
    let lens = plan.kept_lens();
    let mut data = plan.buffer(shape.size())?;
    data.resize(shape.size(), first.clone());
    let mut out = ArrayD::from_shape_vec(IxDyn(&lens), data).expect("one slot per element");
    // Each array reads as the stack would, without the list axis: its
    // dimensions are the stack's shifted down by one.
    let steps: SmallVec<[Step; 8]> = plan
        .kept_steps()
        .iter()
        .enumerate()
        .filter(|&(k, _)| k != pos)
        .map(|(_, step)| Step {
            len: step.len,
            sources: step.sources.iter().map(|&(d, m)| (d - 1, m)).collect(),
        })
        .collect();
    for (i, x) in xs.iter().enumerate() {
        let src = Source::new(x, &steps);
        copy::copy_into(&src, out.index_axis_mut(ndarray::Axis(pos), i));
    }
    Ok(out
        .into_shape_with_order(shape)
        .expect("standard layout reshapes freely"))
}
