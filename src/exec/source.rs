//! Checked views: a plan's permuted input ([`Source`]), built from steps
//! whose every index [`layout::read`] proves to be an element of the input
//! (invariant 1), and the views made from it.

use std::marker::PhantomData;

use ndarray::{ArrayView, ArrayViewMut, Axis, Dimension, IxDyn, ShapeBuilder};

use crate::layout::{self, Layout, Prepared, Step};

/// A view from a base pointer and a layout whose strides may be negative.
///
/// # Safety
///
/// Every length is at least 1, and for every index `i` of `layout` the
/// element at `base + layout.offset + Σ i_k * strides_k` is initialised,
/// inside one allocation and borrowed (shared) for `'a`.
unsafe fn assemble<'a, A>(base: *const A, layout: &Layout) -> ArrayView<'a, A, IxDyn> {
    // ndarray wants non-negative strides: start from the lowest element
    // and flip the axes whose stride was negative.
    let (unsigned, flipped) = layout
        .unsigned()
        .expect("the offsets of a view's elements fit isize");
    let strides: layout::Lens = unsigned.strides.iter().map(|&s| s as usize).collect();
    // SAFETY: `unsigned.offset` is the offset of the element whose index
    // has `len - 1` on every flipped axis and 0 elsewhere: an element
    // (contract).
    let low = unsafe { base.offset(unsigned.offset) };
    // SAFETY: from `low` with the absolute strides, every index reaches
    // the element that the same index with the flipped axes reversed
    // reaches from `base + offset`: an element borrowed for `'a`
    // (contract). The shape is non-empty, and the offsets fit `isize`
    // since they all lie in one allocation.
    let mut v =
        unsafe { ArrayView::from_shape_ptr(IxDyn(&unsigned.shape).strides(IxDyn(&strides)), low) };
    for axis in flipped {
        v.invert_axis(Axis(axis));
    }
    v
}

/// `out` with each of its dimensions split into consecutive entries of
/// `dims` (a dimension of length 6 into `[2, 3]`, say): the same elements,
/// row-major within each dimension, in any layout. `out` comes back
/// unchanged if `dims` do not split its dimensions or it is empty.
pub(crate) fn split_mut<'a, A>(
    mut out: ArrayViewMut<'a, A, IxDyn>,
    dims: &[usize],
) -> Result<ArrayViewMut<'a, A, IxDyn>, ArrayViewMut<'a, A, IxDyn>> {
    if out.is_empty() {
        return Err(out);
    }
    let split = Layout::new(out.shape(), out.strides()).split_into(dims);
    let Some((unsigned, flipped)) = split.as_ref().and_then(Layout::unsigned) else {
        return Err(out);
    };
    let strides: layout::Lens = unsigned.strides.iter().map(|&s| s as usize).collect();
    let base = out.as_mut_ptr();
    // SAFETY: `split_into` checked that each dimension of `out` is exactly
    // the product of its axes' lengths, and gave each axis the stride that
    // makes index `i` of the split reach the element at the corresponding
    // row-major index of `out`'s dimension (invariant 2): every index of
    // the split is an index of `out`, distinct indices distinct elements.
    // `unsigned.offset` is the offset of the element whose index has
    // `len - 1` on every flipped axis and 0 elsewhere: an element of
    // `out`.
    let low = unsafe { base.offset(unsigned.offset) };
    // SAFETY: from `low` with the absolute strides every index reaches the
    // element that the same index, flipped axes reversed, reaches in the
    // split, an element of `out`, which this view replaces: `out` is
    // consumed, and its exclusive borrow for `'a` passes to the view. No
    // length is 0 (`out` is not empty).
    let mut v = unsafe {
        ArrayViewMut::from_shape_ptr(IxDyn(&unsigned.shape).strides(IxDyn(&strides)), low)
    };
    for axis in flipped {
        v.invert_axis(Axis(axis));
    }
    Ok(v)
}

/// An empty view of `shape`, borrowing nothing; `None` if ndarray cannot
/// represent the shape.
fn empty_view<'a, A>(shape: &[usize]) -> Option<ArrayView<'a, A, IxDyn>> {
    ArrayView::from_shape(IxDyn(shape), &[]).ok()
}

/// A plan's permuted input: one axis per [`Step`], with strides computed
/// from the input's own strides and proven in bounds (invariant 1).
pub(crate) struct Source<'a, A> {
    pub(super) ptr: *const A,
    /// Shape and strides of the permuted input (offset 0).
    pub(super) layout: Layout,
    /// The input or the permuted shape has no elements: nothing is read.
    pub(super) empty: bool,
    _input: PhantomData<&'a A>,
}

impl<'a, A> Source<'a, A> {
    /// Reads `x` through `steps`, if every index the steps can form is an
    /// index of `x` ([`layout::read`]); `None` otherwise. This is the
    /// checked view constructor: it trusts neither the planner nor any
    /// stride arithmetic done elsewhere.
    pub(crate) fn try_new(x: &ArrayView<'a, A, IxDyn>, steps: &[Step]) -> Option<Source<'a, A>> {
        let empty = x.is_empty() || steps.iter().any(|s| s.len == 0);
        let layout = if empty {
            let lens: layout::Lens = steps.iter().map(|s| s.len).collect();
            Layout::new(&lens, &layout::Strides::from_elem(0, steps.len()))
        } else {
            layout::read(&Layout::new(x.shape(), x.strides()), steps)?
        };
        Some(Source {
            ptr: x.as_ptr(),
            layout,
            empty,
            _input: PhantomData,
        })
    }

    /// [`try_new`](Source::try_new) for steps a plan made.
    ///
    /// # Panics
    ///
    /// If a step names a dimension that `x` does not have, or its axes
    /// could index past the end of one (a planner bug).
    pub(crate) fn new(x: &ArrayView<'a, A, IxDyn>, steps: &[Step]) -> Source<'a, A> {
        Source::try_new(x, steps).expect("a step reaches past its input dimension")
    }

    /// The lengths of the source's axes.
    pub(crate) fn lens(&self) -> &[usize] {
        &self.layout.shape
    }

    /// The number of elements the source reads (with repeats).
    pub(crate) fn len(&self) -> usize {
        self.lens().iter().product()
    }

    /// The source as a view, one dimension per step; `None` only if the
    /// source is empty and ndarray cannot represent its shape.
    pub(crate) fn view(&self) -> Option<ArrayView<'a, A, IxDyn>> {
        if self.empty {
            return empty_view(self.lens());
        }
        // SAFETY: every index of the layout is an index of the input
        // (invariant 1), an element borrowed for `'a`; every length is at
        // least 1 (the source is not empty).
        Some(unsafe { assemble(self.ptr, &self.layout) })
    }

    /// The source as a view with `groups` of consecutive axes merged into
    /// dimensions, if each group's axes lie one after another in memory
    /// ([`Layout::merge`]); `None` if some merge needs a copy, or the
    /// source is empty.
    pub(crate) fn merged(&self, groups: &[(usize, usize)]) -> Option<ArrayView<'a, A, IxDyn>> {
        if self.empty {
            return None;
        }
        let merged = self.layout.merge(groups)?;
        // SAFETY: a merged dimension of length Π len_k and stride s_inner,
        // where each axis' stride is its inner neighbour's times that one's
        // length, reaches exactly the offsets its axes reach together, which
        // are offsets of elements of the input (invariant 1), borrowed for
        // `'a`. Every length is at least 1 (the source is not empty).
        Some(unsafe { assemble(self.ptr, &merged) })
    }
}

/// The result of a prepared plan as a view of `x`, if the plan's result is
/// a view and `x` has the layout it was prepared for (invariant 4).
pub(crate) fn prepared_view<'a, A, D: Dimension>(
    p: &Prepared,
    x: &ArrayView<'a, A, D>,
) -> Option<ArrayView<'a, A, IxDyn>> {
    let (dim, strides) = p.view_dims()?;
    if !p.fits(x.shape(), x.is_standard_layout()) {
        return None;
    }
    // A standard layout's strides, and so their splits, permutations and
    // merges, are non-negative: no axis needs flipping.
    debug_assert!(
        p.view()
            .is_some_and(|v| v.offset == 0 && v.strides.iter().all(|&s| s >= 0))
    );
    let shape = dim.clone().strides(strides.clone());
    // SAFETY: the merged dimensions reach the offsets of the plan's axes
    // over a standard-layout input of this shape (split, permuted,
    // broadcast and merged without leaving it, invariant 4), which `x`
    // borrows for `'a`; the strides are non-negative and no length is 0.
    Some(unsafe { ArrayView::from_shape_ptr(shape, x.as_ptr()) })
}
