//! The crate's only `unsafe` code: strided views and the strided copy.
//!
//! # Invariants
//!
//! Every function here starts from a live `ArrayView` `x`, which ndarray
//! guarantees to satisfy: `x.as_ptr()` points at element `[0, 0, ..]`, and
//! for every in-bounds index `i` the element at
//! `as_ptr() + Σ i_k * strides_k` is initialised, inside one allocation,
//! and borrowed for the view's lifetime.
//!
//! 1. [`view`] builds a new view over `x`'s memory from a shape and strides
//!    computed by the planner. It does not trust the planner: it checks
//!    that the lowest and highest element the new view can reach lie within
//!    the lowest and highest element `x` can reach, so every pointer it
//!    forms is inside `x`'s allocation whatever the planner computed.
//! 2. [`copy`] reads exactly the elements of a view, walking its own shape
//!    and strides, so every offset it forms is an in-bounds index of that
//!    view.
//!
//! Tests: `tests/prop.rs` checks both against the reference executor over
//! random shapes, splits, permutations and input strides (negative and
//! zero included).

use ndarray::{ArrayView, Axis, IxDyn, ShapeBuilder};
use smallvec::SmallVec;

/// The lowest and highest element offset reachable in a non-empty array
/// of this shape and these strides; `None` on overflow.
fn extent(shape: &[usize], strides: &[isize]) -> Option<(isize, isize)> {
    let (mut lo, mut hi) = (0isize, 0isize);
    for (&len, &stride) in shape.iter().zip(strides) {
        if len <= 1 {
            continue;
        }
        let reach = isize::try_from(len - 1).ok()?.checked_mul(stride)?;
        if reach < 0 {
            lo = lo.checked_add(reach)?;
        } else {
            hi = hi.checked_add(reach)?;
        }
    }
    Some((lo, hi))
}

/// A view of `x`'s elements with a new shape and new strides (in elements,
/// relative to `x`'s first element).
///
/// # Panics
///
/// If the new view is empty or could reach outside `x`'s elements. The
/// planner never asks for either; the check makes this function sound on
/// its own.
pub(crate) fn view<'a, A>(
    x: &ArrayView<'a, A, IxDyn>,
    shape: &[usize],
    strides: &[isize],
) -> ArrayView<'a, A, IxDyn> {
    assert_eq!(shape.len(), strides.len());
    assert!(
        !x.is_empty() && shape.iter().all(|&n| n > 0),
        "empty views are not built"
    );
    let outer = extent(x.shape(), x.strides()).expect("a live view has a finite extent");
    let inner = extent(shape, strides).expect("planned strides overflow");
    assert!(
        outer.0 <= inner.0 && inner.1 <= outer.1,
        "planned view reaches outside its input"
    );
    // ndarray wants non-negative strides: start from the lowest element
    // and flip the axes whose stride was negative.
    let mut positive: SmallVec<[usize; 8]> = SmallVec::with_capacity(strides.len());
    let mut flip: SmallVec<[usize; 8]> = SmallVec::new();
    for (axis, (&len, &stride)) in shape.iter().zip(strides).enumerate() {
        if len == 1 {
            positive.push(0);
        } else if stride < 0 {
            positive.push(stride.unsigned_abs());
            flip.push(axis);
        } else {
            positive.push(stride as usize);
        }
    }
    // SAFETY: `inner.0` is the lowest offset the new view reaches, and it
    // lies within `x`'s reachable range (checked above), so the pointer
    // stays inside `x`'s allocation.
    let low = unsafe { x.as_ptr().offset(inner.0) };
    // SAFETY: with non-negative strides from `low`, the view reaches
    // offsets `inner.0 ..= inner.1` relative to `x.as_ptr()`, all within
    // `x`'s reachable range (checked above): initialised elements of `x`,
    // borrowed for `'a`. The shape is non-empty and its extent fits
    // `isize` (`extent` returned `Some`).
    let mut v = unsafe { ArrayView::from_shape_ptr(IxDyn(shape).strides(IxDyn(&positive)), low) };
    for axis in flip {
        v.invert_axis(Axis(axis));
    }
    v
}

/// Appends a view's elements to `out`, in row-major (logical) order.
///
/// Axes of length 1 are dropped and axes that are contiguous with their
/// inner neighbour are merged first; an inner run with stride 1 is copied
/// as a slice.
pub(crate) fn copy<A: Clone>(v: &ArrayView<'_, A, IxDyn>, out: &mut Vec<A>) {
    if v.is_empty() {
        return;
    }
    // Coalesce: drop unit axes, merge an axis into its inner neighbour
    // when stride_outer == stride_inner * len_inner.
    let mut dims: SmallVec<[(usize, isize); 8]> = SmallVec::new();
    for (&len, &stride) in v.shape().iter().zip(v.strides()) {
        if len == 1 {
            continue;
        }
        dims.push((len, stride));
    }
    let mut merged: SmallVec<[(usize, isize); 8]> = SmallVec::new();
    for &(len, stride) in dims.iter().rev() {
        if let Some(last) = merged.last_mut() {
            if stride == last.1.wrapping_mul(last.0 as isize) {
                last.0 *= len;
                continue;
            }
        }
        merged.push((len, stride));
    }
    merged.reverse(); // outermost first again
    let (inner_len, inner_stride) = merged.pop().unwrap_or((1, 1));
    let outer = merged;
    let base = v.as_ptr();
    let mut index: SmallVec<[usize; 8]> = SmallVec::from_elem(0, outer.len());
    let mut offset: isize = 0;
    loop {
        // SAFETY: `offset` is Σ index_k * stride_k over the outer axes
        // with every index_k < len_k, so `base + offset` is the element at
        // an in-bounds index of `v` whose inner index is 0.
        let row = unsafe { base.offset(offset) };
        if inner_stride == 1 {
            // SAFETY: the inner run is `inner_len` elements at stride 1
            // from `row`, all in-bounds elements of `v` (invariant 2),
            // initialised and borrowed for the duration of this call.
            let run = unsafe { std::slice::from_raw_parts(row, inner_len) };
            out.extend_from_slice(run);
        } else {
            for j in 0..inner_len {
                // SAFETY: `row + j * inner_stride` with `j < inner_len` is
                // an in-bounds element of `v` (invariant 2).
                let elem = unsafe { &*row.offset(j as isize * inner_stride) };
                out.push(elem.clone());
            }
        }
        // Odometer over the outer axes, innermost first.
        let mut axis = outer.len();
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            let (len, stride) = outer[axis];
            index[axis] += 1;
            offset += stride;
            if index[axis] < len {
                break;
            }
            offset -= stride * len as isize;
            index[axis] = 0;
        }
    }
}

/// Folds every element of `v` into `acc[o]`, where `o` is the element's
/// index dotted with `out_strides` (0 on reduced axes), visiting elements
/// in memory order: the axes are walked by decreasing input stride, so a
/// reduction over the fastest axis and one over the slowest both read
/// memory sequentially.
///
/// # Panics
///
/// If an output offset falls outside `acc` (a planner bug; `acc` is
/// indexed with bounds checks).
pub(crate) fn fold<A, T>(
    v: &ArrayView<'_, A, IxDyn>,
    out_strides: &[isize],
    acc: &mut [T],
    mut step: impl FnMut(&mut T, &A),
) {
    if v.is_empty() {
        return;
    }
    // (len, input stride, output stride), unit axes dropped, slowest first.
    let mut dims: SmallVec<[(usize, isize, isize); 8]> = v
        .shape()
        .iter()
        .zip(v.strides())
        .zip(out_strides)
        .filter(|((len, _), _)| **len > 1)
        .map(|((&len, &is), &os)| (len, is, os))
        .collect();
    dims.sort_by_key(|&(_, is, _)| std::cmp::Reverse(is.unsigned_abs()));
    let mut merged: SmallVec<[(usize, isize, isize); 8]> = SmallVec::new();
    for &(len, is, os) in dims.iter().rev() {
        if let Some(last) = merged.last_mut() {
            let n = last.0 as isize;
            if is == last.1.wrapping_mul(n) && os == last.2.wrapping_mul(n) {
                last.0 *= len;
                continue;
            }
        }
        merged.push((len, is, os));
    }
    merged.reverse();
    let (inner_len, inner_is, inner_os) = merged.pop().unwrap_or((1, 0, 0));
    let outer = merged;
    let base = v.as_ptr();
    let mut index: SmallVec<[usize; 8]> = SmallVec::from_elem(0, outer.len());
    let (mut ioff, mut ooff): (isize, isize) = (0, 0);
    loop {
        for j in 0..inner_len as isize {
            // SAFETY: `ioff` is Σ index_k * stride_k over the outer axes
            // of `v` (permuted and merged, which preserves the set of
            // offsets) with every index in bounds, and `j < inner_len`, so
            // this is an in-bounds element of `v` (invariant 2).
            let elem = unsafe { &*base.offset(ioff + j * inner_is) };
            step(&mut acc[(ooff + j * inner_os) as usize], elem);
        }
        let mut axis = outer.len();
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            let (len, is, os) = outer[axis];
            index[axis] += 1;
            ioff += is;
            ooff += os;
            if index[axis] < len {
                break;
            }
            ioff -= is * len as isize;
            ooff -= os * len as isize;
            index[axis] = 0;
        }
    }
}
