//! Layout arithmetic, written once: shapes, element strides and offsets,
//! and the few operations the planner, the kernels and einsum build on.
//!
//! A [`Layout`] is a shape, a stride per axis in elements (negative for a
//! reversed axis, 0 for a broadcast one) and the offset of element
//! `[0, 0, ..]` from a base. Element `i` sits at `offset + Σ i_k · s_k`.
//! Nothing here touches memory; the kernels (`exec`) rely on two of these
//! functions for soundness and say so where they use them:
//!
//! - [`read`] proves, axis by axis, that every index of a new view maps to
//!   an in-bounds index of its input (ndarray's
//!   `can_index_slice_with_strides`, stated over indices rather than
//!   addresses, so it holds for inputs whose memory interleaves with other
//!   arrays);
//! - [`Layout::split_into`] proves that a set of axes splits an output's
//!   dimensions exactly, so distinct indices write distinct elements.
//!
//! The other operations only rearrange a layout's axes or decide whether
//! strides allow something: [`Layout::split`] an axis, [`Layout::merge`]
//! neighbouring axes when that is free, [`Layout::insert_broadcast`],
//! [`coalesce`] the loops of a nest, [`Layout::extent`] and
//! [`checked_size`].

use smallvec::{SmallVec, smallvec};

/// Axis lengths.
pub(crate) type Lens = SmallVec<[usize; 8]>;

/// `a == b`, element by element: for the few lengths of a shape, faster
/// than the `memcmp` call that slice equality makes.
#[inline]
pub(crate) fn same(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}
/// Strides in elements.
pub(crate) type Strides = SmallVec<[isize; 8]>;

/// How one axis of a view reads its input: its length, and for each input
/// dimension it steps through, that dimension and the step's multiplier in
/// it — none for a new (broadcast) axis, one for an axis split out of a
/// dimension, several for a diagonal.
///
/// For `(h h2)` over an input dimension `d` of length 8 with `h2 = 2`, `h`
/// is `Step::along(4, d, 2)` and `h2` is `Step::along(2, d, 1)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) len: usize,
    pub(crate) sources: SmallVec<[(usize, usize); 1]>,
}

impl Step {
    /// An axis of `len` stepping `mult` indices at a time along `dim`.
    pub(crate) fn along(len: usize, dim: usize, mult: usize) -> Step {
        Step {
            len,
            sources: smallvec![(dim, mult)],
        }
    }

    /// A new axis of `len` that repeats elements (stride 0).
    pub(crate) fn broadcast(len: usize) -> Step {
        Step {
            len,
            sources: SmallVec::new(),
        }
    }
}

/// A shape, element strides (any sign) and an offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) shape: Lens,
    pub(crate) strides: Strides,
    pub(crate) offset: isize,
}

/// Standard (row-major) strides for `shape`, in elements. Wrapping is
/// harmless: a wrapped stride only lands on an axis next to one of length
/// 0, where no element exists.
pub(crate) fn standard_strides(shape: &[usize]) -> Strides {
    let mut strides: Strides = smallvec![0; shape.len()];
    let mut s: isize = 1;
    for (i, &len) in shape.iter().enumerate().rev() {
        strides[i] = s;
        s = s.wrapping_mul(len as isize);
    }
    strides
}

/// The number of elements of `shape`, if ndarray can represent an array
/// of it: the product of the non-zero lengths fits `isize` (so a shape
/// with a zero beside lengths whose product overflows is refused, though
/// it holds no elements).
pub(crate) fn checked_size(shape: &[usize]) -> Option<usize> {
    checked_size_of(shape.iter().copied())
}

/// [`checked_size`] of the lengths `lens` yields.
pub(crate) fn checked_size_of(lens: impl IntoIterator<Item = usize>) -> Option<usize> {
    let mut empty = false;
    let nonzero = lens
        .into_iter()
        .filter(|&n| {
            empty |= n == 0;
            n != 0
        })
        .try_fold(1usize, |acc, n| acc.checked_mul(n))
        .filter(|&n| n <= isize::MAX as usize)?;
    Some(if empty { 0 } else { nonzero })
}

/// The strides of an axis of `stride` split into axes of `lens` (outermost
/// first): the innermost keeps `stride`, each outer one steps over its
/// inner neighbour. Wrapping is harmless for the same reason as in
/// [`standard_strides`].
fn split_stride(stride: isize, lens: &[usize]) -> Strides {
    let mut out: Strides = smallvec![0; lens.len()];
    split_stride_into(stride, lens, &mut out);
    out
}

/// [`split_stride`] into `out`, a slice as long as `lens`.
fn split_stride_into(stride: isize, lens: &[usize], out: &mut [isize]) {
    let mut s = stride;
    for (slot, &len) in out.iter_mut().zip(lens).rev() {
        *slot = s;
        s = s.wrapping_mul(len as isize);
    }
}

/// The index multiplier of each axis when a dimension is split into axes
/// of `lens`: the product of the lengths after it. The same arithmetic as
/// splitting a stride-1 axis ([`Layout::split`]); only meaningful when no
/// length is 0.
pub(crate) fn split_multipliers(lens: &[usize]) -> SmallVec<[usize; 4]> {
    let mut out: SmallVec<[usize; 4]> = split_multipliers_rev(lens.iter().copied()).collect();
    out.reverse();
    out
}

/// [`split_multipliers`] of the lengths `lens` yields (outermost first),
/// innermost axis first, with no vector in between.
pub(crate) fn split_multipliers_rev(
    lens: impl DoubleEndedIterator<Item = usize>,
) -> impl Iterator<Item = usize> {
    lens.rev().scan(1usize, |m, len| {
        let here = *m;
        *m = m.wrapping_mul(len);
        Some(here)
    })
}

/// The layout of a view of a non-empty `input` whose axes read it by
/// `steps`; `None` unless every index of the view is an in-bounds index of
/// the input.
///
/// The proof, per input dimension `d`: the largest index the steps can
/// form along `d`, Σ (len − 1) · mult over the steps through `d`, is below
/// `shape[d]`. Then for every index `i` of the view the input index
/// `j_d = Σ i_k · mult_k` is in bounds, and the view's offset Σ i_k · s_k
/// with `s_k = Σ strides[d] · mult` is exactly that element's offset. Axes
/// of length 1 get stride 0 (they only ever take index 0).
pub(crate) fn read(input: &Layout, steps: &[Step]) -> Option<Layout> {
    let (shape, strides) = (&input.shape, &input.strides);
    let mut reach: Lens = smallvec![0; shape.len()];
    let mut out = Strides::with_capacity(steps.len());
    for step in steps {
        let mut stride: isize = 0;
        if step.len > 1 {
            for &(dim, mult) in &step.sources {
                let r = (step.len - 1)
                    .checked_mul(mult)?
                    .checked_add(*reach.get(dim)?)?;
                if r >= shape[dim] {
                    return None;
                }
                reach[dim] = r;
                // |strides[dim] · mult| is at most the input's extent along
                // `dim`, which fits `isize`; checked all the same.
                let s = strides[dim].checked_mul(isize::try_from(mult).ok()?)?;
                stride = stride.checked_add(s)?;
            }
        }
        out.push(stride);
    }
    Some(Layout {
        shape: steps.iter().map(|s| s.len).collect(),
        strides: out,
        offset: input.offset,
    })
}

/// One loop of a nest: a length and the strides it takes in the input and
/// the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loop {
    pub(crate) len: usize,
    pub(crate) src: isize,
    pub(crate) dst: isize,
}

/// Merges each loop into its inner neighbour (loops are outermost first)
/// where both of its strides continue the neighbour's: `outer.s ==
/// inner.s · inner.len` for input and output alike. The merged nest visits
/// the same pairs of offsets in the same order.
pub(crate) fn coalesce(loops: &mut SmallVec<[Loop; 8]>) {
    // In place, from the innermost loop out: `loops[inner]` is the loop
    // being merged into, and the merged loops fill `loops[inner..]`.
    let Some(mut inner) = loops.len().checked_sub(1) else {
        return;
    };
    for k in (0..inner).rev() {
        let outer = loops[k];
        let merged = &mut loops[inner];
        let n = merged.len as isize;
        if merged.src.checked_mul(n) == Some(outer.src)
            && merged.dst.checked_mul(n) == Some(outer.dst)
        {
            merged.len *= outer.len;
        } else {
            inner -= 1;
            loops[inner] = outer;
        }
    }
    loops.copy_within(inner.., 0);
    loops.truncate(loops.len() - inner);
}

/// A copy's loops, outermost first, in the order that writes the output
/// sequentially: unit axes dropped, axes with a negative output stride
/// reversed (the shifts move both bases to the reversed start), sorted by
/// decreasing output stride, and coalesced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Nest {
    pub(crate) loops: SmallVec<[Loop; 8]>,
    pub(crate) src_shift: isize,
    pub(crate) dst_shift: isize,
}

impl Nest {
    /// The nest that moves index `i` of `lens` from `Σ i_k · src_k` to
    /// `Σ i_k · dst_k`.
    pub(crate) fn new(lens: &[usize], src: &[isize], dst: &[isize]) -> Nest {
        let (mut src_shift, mut dst_shift) = (0isize, 0isize);
        let mut loops: SmallVec<[Loop; 8]> = SmallVec::new();
        for ((&len, &s), &d) in lens.iter().zip(src).zip(dst) {
            if len == 1 {
                continue;
            }
            if d < 0 {
                let last = (len - 1) as isize;
                src_shift += last * s;
                dst_shift += last * d;
                loops.push(Loop {
                    len,
                    src: -s,
                    dst: -d,
                });
            } else {
                loops.push(Loop {
                    len,
                    src: s,
                    dst: d,
                });
            }
        }
        loops.sort_by_key(|l| std::cmp::Reverse(l.dst));
        coalesce(&mut loops);
        Nest {
            loops,
            src_shift,
            dst_shift,
        }
    }
}

/// What a plan does to a standard-layout input of its input shape, worked
/// out once per plan: the steps are checked by [`read`] and the merges or
/// the copy's nest computed when the plan is made, so a call only checks
/// that its arrays have those layouts. Every array of one shape in
/// standard layout has the same strides, so the proofs hold for each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prepared {
    input_shape: Lens,
    /// The result's layout when it is a view (the strides of a
    /// standard-layout input are non-negative, and so are their merges).
    view: Option<Layout>,
    /// `view`'s shape and strides as ndarray dimensions, made once here
    /// rather than on every call that hands the view out.
    view_dims: Option<(ndarray::IxDyn, ndarray::IxDyn)>,
    /// The copy into a standard-layout output, for results that are not
    /// views and for copies into the caller's array.
    output_len: usize,
    loops: SmallVec<[Loop; 8]>,
}

impl Prepared {
    /// The result for a standard-layout input of `input_shape`, by the
    /// einops recipe: each input dimension split into its elementary axes
    /// (`input_dims`, ids into `axis_lens`), the axes permuted into the
    /// output's order `kept` (where ids no dimension names are new,
    /// broadcast axes), and `groups` of consecutive kept axes merged into
    /// the output's dimensions. `None` for an empty input or output, or if
    /// the dimensions do not split as `input_dims` says or some input axis
    /// is not kept.
    pub(crate) fn new(
        input_shape: &[usize],
        input_dims: &[SmallVec<[usize; 4]>],
        axis_lens: &[usize],
        kept: &[usize],
        groups: &[(usize, usize)],
    ) -> Option<Prepared> {
        if input_shape.contains(&0)
            || input_dims.len() != input_shape.len()
            || kept.iter().any(|&id| axis_lens[id] == 0)
        {
            return None;
        }
        // Split: each dimension into axes whose lengths multiply to its.
        let mut input_axes = 0;
        for (ids, &len) in input_dims.iter().zip(input_shape) {
            let product = ids
                .iter()
                .try_fold(1usize, |a, &id| a.checked_mul(axis_lens[id]))?;
            if product != len {
                return None;
            }
            input_axes += ids.len();
        }
        // The dimensions of a standard layout, split into their axes, are
        // the standard layout of the axes: each axis' stride is the product
        // of the lengths of all the axes after it, as if the input were one
        // dimension split into them. (Wrapping as `standard_strides` does.)
        let split = input_dims.iter().flatten();
        let strides = split_multipliers_rev(split.clone().map(|&id| axis_lens[id]));
        let mut stride_of: SmallVec<[Option<isize>; 8]> = smallvec![None; axis_lens.len()];
        for (&id, s) in split.rev().zip(strides) {
            stride_of[id] = Some(s as isize);
        }
        // Permuted into the output's order, where new axes repeat elements
        // (stride 0); every input axis must be kept.
        let mut src = Layout {
            shape: Lens::with_capacity(kept.len()),
            strides: Strides::with_capacity(kept.len()),
            offset: 0,
        };
        let mut from_input = 0;
        for &id in kept {
            src.shape.push(axis_lens[id]);
            src.strides.push(stride_of[id].map_or(0, |s| {
                from_input += 1;
                s
            }));
        }
        if from_input != input_axes {
            return None;
        }
        let view = src.merge(groups);
        let nest = Nest::new(&src.shape, &src.strides, &standard_strides(&src.shape));
        // Standard output strides are positive: nothing is reversed.
        debug_assert_eq!((nest.src_shift, nest.dst_shift), (0, 0));
        let view_dims = view.as_ref().map(|v| {
            let strides: Lens = v.strides.iter().map(|&s| s as usize).collect();
            (ndarray::IxDyn(&v.shape), ndarray::IxDyn(&strides))
        });
        Some(Prepared {
            input_shape: Lens::from_slice(input_shape),
            view,
            view_dims,
            output_len: src.shape.iter().product(),
            loops: nest.loops,
        })
    }

    /// Whether an input of `shape`, in standard layout or not, has the
    /// layout this was made for.
    #[inline]
    pub(crate) fn fits(&self, shape: &[usize], standard: bool) -> bool {
        standard && same(shape, &self.input_shape)
    }

    /// The result's layout over a standard-layout input, if it is a view.
    pub(crate) fn view(&self) -> Option<&Layout> {
        self.view.as_ref()
    }

    /// The result's shape and (non-negative) strides as ndarray
    /// dimensions, if it is a view.
    #[inline]
    pub(crate) fn view_dims(&self) -> Option<&(ndarray::IxDyn, ndarray::IxDyn)> {
        self.view_dims.as_ref()
    }

    /// The number of elements of the result.
    pub(crate) fn output_len(&self) -> usize {
        self.output_len
    }

    /// The copy's loops, from a standard-layout input to a standard-layout
    /// output.
    pub(crate) fn loops(&self) -> &[Loop] {
        &self.loops
    }
}

impl Layout {
    /// A layout of `shape` with `strides`, at offset 0.
    pub(crate) fn new(shape: &[usize], strides: &[isize]) -> Layout {
        debug_assert_eq!(shape.len(), strides.len());
        Layout {
            shape: shape.into(),
            strides: strides.into(),
            offset: 0,
        }
    }

    /// Axis `axis` split into axes of `lens` (outermost first), if their
    /// product is its length; the split moves no element.
    pub(crate) fn split(&self, axis: usize, lens: &[usize]) -> Option<Layout> {
        let product = lens.iter().try_fold(1usize, |a, &n| a.checked_mul(n))?;
        if product != *self.shape.get(axis)? {
            return None;
        }
        let mut out = self.clone();
        let strides = split_stride(self.strides[axis], lens);
        out.shape.remove(axis);
        out.strides.remove(axis);
        for (k, (&len, &s)) in lens.iter().zip(&strides).enumerate() {
            out.shape.insert(axis + k, len);
            out.strides.insert(axis + k, s);
        }
        Some(out)
    }

    /// Every dimension split into consecutive axes of `lens` (axes of
    /// length 1 may fall anywhere); `None` unless each dimension's length
    /// is exactly the product of its axes' and every axis is used. Then
    /// distinct indices of `lens` are distinct indices of `self`.
    pub(crate) fn split_into(&self, lens: &[usize]) -> Option<Layout> {
        // Each dimension's range of axes.
        let mut ranges: SmallVec<[(usize, usize); 8]> = SmallVec::new();
        let mut k = 0;
        for &len in &self.shape {
            let start = k;
            let mut product: usize = 1;
            while product != len || lens.get(k) == Some(&1) {
                product = product.checked_mul(*lens.get(k)?).filter(|&p| p <= len)?;
                k += 1;
            }
            ranges.push((start, k));
        }
        if !lens[k..].iter().all(|&n| n == 1) {
            return None;
        }
        let mut out = self.clone();
        for (dim, &(start, end)) in ranges.iter().enumerate().rev() {
            out = out.split(dim, &lens[start..end])?;
        }
        // Trailing unit axes.
        for _ in k..lens.len() {
            out = out.insert_broadcast(out.shape.len(), 1);
        }
        Some(out)
    }

    /// A new axis of `len` at position `at` that repeats elements.
    pub(crate) fn insert_broadcast(&self, at: usize, len: usize) -> Layout {
        let mut out = self.clone();
        out.shape.insert(at, len);
        out.strides.insert(at, 0);
        out
    }

    /// `groups` of consecutive axes (ranges, covering the axes in order)
    /// merged into one dimension each, if the merges are free: each
    /// group's axes of length > 1 lie one after another in memory (each
    /// stride is its inner neighbour's times that one's length). `None` if
    /// some merge would need a copy.
    pub(crate) fn merge(&self, groups: &[(usize, usize)]) -> Option<Layout> {
        let mut shape = Lens::with_capacity(groups.len());
        let mut strides = Strides::with_capacity(groups.len());
        let (lens_of, strides_of) = (self.shape.as_slice(), self.strides.as_slice());
        for &(start, end) in groups {
            let lens = lens_of.get(start..end)?;
            let mut stride = 0;
            let mut expected: Option<isize> = None;
            for k in (start..end).rev() {
                let len = lens_of[k];
                if len == 1 {
                    continue;
                }
                let s = strides_of[k];
                match expected {
                    None => stride = s,
                    Some(e) if e == s => {}
                    Some(_) => return None,
                }
                expected = Some(s.checked_mul(isize::try_from(len).ok()?)?);
            }
            shape.push(lens.iter().try_fold(1usize, |a, &n| a.checked_mul(n))?);
            strides.push(stride);
        }
        Some(Layout {
            shape,
            strides,
            offset: self.offset,
        })
    }

    /// The lowest and highest offsets a non-empty layout reaches; `None`
    /// on overflow.
    pub(crate) fn extent(&self) -> Option<(isize, isize)> {
        let (mut lo, mut hi) = (self.offset, self.offset);
        for (&len, &stride) in self.shape.iter().zip(&self.strides) {
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

    /// The same elements with non-negative strides: the offset moved to
    /// the lowest element, and the axes whose stride was negative listed
    /// (reversing them restores the original order). Axes of length 1 get
    /// stride 0. `None` on overflow.
    pub(crate) fn unsigned(&self) -> Option<(Layout, SmallVec<[usize; 8]>)> {
        let (low, _) = self.extent()?;
        let mut out = self.clone();
        out.offset = low;
        let mut flipped = SmallVec::new();
        for (axis, (&len, stride)) in self.shape.iter().zip(out.strides.iter_mut()).enumerate() {
            if len <= 1 {
                *stride = 0;
            } else if *stride < 0 {
                *stride = stride.checked_neg()?;
                flipped.push(axis);
            }
        }
        Some((out, flipped))
    }
}

#[cfg(test)]
mod tests;
