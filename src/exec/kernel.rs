//! The crate's `unsafe` code (with the SIMD micro-kernels in
//! [`simd`](super::simd)): views over a plan's permuted input, the copy
//! kernel, and the fold and pooling kernels of `reduce`.
//!
//! # Invariants
//!
//! Every function here starts from a live `ArrayView` `x` (the input) and,
//! when it writes, a live `ArrayViewMut` or the spare capacity of a `Vec`
//! (the output). For a view of shape `n` and strides `s`, ndarray
//! guarantees that `as_ptr()` points at element `[0, 0, ..]` and that for
//! every index `i` with `i_k < n_k` the element at `as_ptr() + Σ i_k * s_k`
//! is initialised, inside one allocation, and borrowed for the view's
//! lifetime: shared for an `ArrayView`, exclusively for an `ArrayViewMut`,
//! whose distinct indices are distinct elements. An input and an output
//! never overlap: one is borrowed shared, the other exclusively.
//!
//! 1. **Reads.** A [`Source`] is a plan's permuted input. Each of its axes
//!    steps through one input dimension `d` with a multiplier `m` (or
//!    through none: a new axis, stride 0). [`Source::new`] does not trust
//!    the planner: it computes the strides itself, `x.strides()[d] * m`,
//!    after checking that for every dimension the largest index its axes
//!    can form, Σ (len − 1) · m, is less than that dimension's length. So
//!    every offset Σ i_k · stride_k (i_k < len_k) formed from a source is
//!    the offset of an in-bounds index of `x`.
//! 2. **Writes.** Output strides are computed here, never taken from the
//!    planner: standard strides over exactly as many slots of a `Vec`'s
//!    spare capacity as the source has elements, or an `ArrayViewMut`'s
//!    dimensions split into the source's axis lengths ([`split`] checks
//!    that each dimension is exactly the product of its axes). So every
//!    output offset formed is an in-bounds index of the output, and
//!    distinct indices of the source write distinct elements.
//! 3. **Loop nests.** The kernels drop axes of length 1, reverse axes
//!    (`i → len − 1 − i`), reorder them, merge an axis into its inner
//!    neighbour when both its strides allow, tile two axes, and split one
//!    axis into ranges for threads. Each of these maps the index space
//!    onto itself (or, for a thread's range, onto a part of it), so 1 and 2
//!    hold for every offset a nest forms, and threads write disjoint
//!    elements.
//! 4. **Once per plan.** A [`Prepared`] nest or view is made, with the
//!    checks of 1–3, for a standard-layout input of the plan's input shape
//!    and a standard-layout output; it is used only after checking that
//!    the arrays at hand have exactly that shape and layout, and so the
//!    same strides.
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
//! Tests: the unit tests in `exec/tests.rs` (small enough for Miri) and the
//! property tests in `tests/kernels.rs` and `tests/prop.rs` check every
//! kernel against the reference executor over random shapes, strides
//! (negative and zero included) and sizes straddling the tile edges.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayView, ArrayViewMut, Axis, Dimension, IxDyn, ShapeBuilder};
use smallvec::{SmallVec, smallvec};

#[cfg(target_arch = "x86_64")]
use super::simd;
use crate::plan::{Step, standard_strides};

type Lens = SmallVec<[usize; 8]>;
type Strides = SmallVec<[isize; 8]>;

/// Below this many bytes moved, kernels stay on the calling thread: the
/// thread pool's hand-off costs more than it saves.
const PARALLEL_DEFAULT: usize = 1 << 20;

/// From this many bytes of output, bit copies write with streaming stores
/// (on x86-64): an output this much larger than the caches would not stay
/// in them anyway, and streaming skips reading each line before writing it.
const STREAM_DEFAULT: usize = 16 << 20;

static PARALLEL_BYTES: AtomicUsize = AtomicUsize::new(PARALLEL_DEFAULT);
static STREAM_BYTES: AtomicUsize = AtomicUsize::new(STREAM_DEFAULT);

/// Sets the sizes in bytes from which kernels use threads and streaming
/// stores, or with `None` restores the defaults. Results never depend on
/// them; tests lower them to reach those paths with small arrays.
pub(crate) fn set_thresholds(sizes: Option<(usize, usize)>) {
    let (parallel, stream) = sizes.unwrap_or((PARALLEL_DEFAULT, STREAM_DEFAULT));
    PARALLEL_BYTES.store(parallel, Ordering::Relaxed);
    STREAM_BYTES.store(stream, Ordering::Relaxed);
}

/// How many threads a kernel moving `bytes` should use: 1 below the
/// threshold (without touching the pool), else the pool's size.
fn threads_for(bytes: usize) -> usize {
    #[cfg(feature = "rayon")]
    if bytes >= PARALLEL_BYTES.load(Ordering::Relaxed) {
        return rayon::current_num_threads();
    }
    let _ = bytes;
    1
}

// ---------------------------------------------------------------------
// Views

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

/// A view from a base pointer, a shape and strides that may be negative.
///
/// # Safety
///
/// Every length is at least 1, and for every index `i` with `i_k <
/// shape_k` the element at `base + Σ i_k * strides_k` is initialised,
/// inside one allocation and borrowed (shared) for `'a`.
unsafe fn assemble<'a, A>(
    base: *const A,
    shape: &[usize],
    strides: &[isize],
) -> ArrayView<'a, A, IxDyn> {
    // ndarray wants non-negative strides: start from the lowest element
    // and flip the axes whose stride was negative.
    let mut low: isize = 0;
    let mut positive: SmallVec<[usize; 8]> = SmallVec::with_capacity(strides.len());
    let mut flip: SmallVec<[usize; 8]> = SmallVec::new();
    for (axis, (&len, &stride)) in shape.iter().zip(strides).enumerate() {
        if len == 1 {
            positive.push(0);
        } else if stride < 0 {
            low += (len - 1) as isize * stride;
            positive.push(stride.unsigned_abs());
            flip.push(axis);
        } else {
            positive.push(stride as usize);
        }
    }
    // SAFETY: `low` is the offset of the element whose index has `len - 1`
    // on every negative-stride axis and 0 elsewhere: an element (contract).
    let low_ptr = unsafe { base.offset(low) };
    // SAFETY: from `low_ptr` with the absolute strides, every index reaches
    // the element that the same index with the flipped axes reversed
    // reaches from `base`: an element borrowed for `'a` (contract). The
    // shape is non-empty, and the offsets fit `isize` since they all lie in
    // one allocation.
    let mut v =
        unsafe { ArrayView::from_shape_ptr(IxDyn(shape).strides(IxDyn(&positive)), low_ptr) };
    for axis in flip {
        v.invert_axis(Axis(axis));
    }
    v
}

/// A view of `x`'s elements with a new shape and new strides (in elements,
/// relative to `x`'s first element).
///
/// # Panics
///
/// If the new view is empty or could reach outside `x`'s elements. The
/// check makes this function sound on its own: every offset it can form
/// lies between the lowest and highest offsets of `x`, inside `x`'s
/// allocation. Prefer [`Source`], which proves more: that every offset is
/// one of `x`'s elements.
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
    // SAFETY: the new view reaches offsets `inner.0 ..= inner.1` from
    // `x.as_ptr()`, within `x`'s reachable range (checked above): inside
    // `x`'s allocation, which `x` borrows for `'a`. The shape is non-empty.
    unsafe { assemble(x.as_ptr(), shape, strides) }
}

// ---------------------------------------------------------------------
// Sources

/// A plan's permuted input: one axis per [`Step`], with strides computed
/// from the input's own strides and checked (invariant 1).
pub(crate) struct Source<'a, A> {
    ptr: *const A,
    lens: Lens,
    strides: Strides,
    /// The input or the permuted shape has no elements: nothing is read.
    empty: bool,
    _input: PhantomData<&'a A>,
}

impl<'a, A> Source<'a, A> {
    /// Reads `x` through `steps`.
    ///
    /// # Panics
    ///
    /// If a step names a dimension that `x` does not have, or its axes
    /// could index past the end of one (a planner bug).
    pub(crate) fn new(x: &ArrayView<'a, A, IxDyn>, steps: &[Step]) -> Source<'a, A> {
        let empty = x.is_empty() || steps.iter().any(|s| s.len == 0);
        let strides = if empty {
            smallvec![0; steps.len()]
        } else {
            step_strides(x.shape(), x.strides(), steps)
        };
        Source {
            ptr: x.as_ptr(),
            lens: steps.iter().map(|s| s.len).collect(),
            strides,
            empty,
            _input: PhantomData,
        }
    }

    /// The number of elements the source reads (with repeats).
    pub(crate) fn len(&self) -> usize {
        self.lens.iter().product()
    }

    /// The source as a view with `groups` of consecutive axes merged into
    /// dimensions of `shape`, if each group's axes lie one after another in
    /// memory; `None` if some merge needs a copy, or the source is empty.
    ///
    /// # Panics
    ///
    /// If a group's lengths do not multiply to its dimension's length.
    pub(crate) fn merged(
        &self,
        shape: &[usize],
        groups: &[(usize, usize)],
    ) -> Option<ArrayView<'a, A, IxDyn>> {
        if self.empty {
            return None;
        }
        let strides = merge(&self.lens, &self.strides, shape, groups)?;
        // SAFETY: a merged dimension of length Π len_k and stride s_inner,
        // where each axis' stride is its inner neighbour's times that one's
        // length, reaches exactly the offsets its axes reach together, which
        // are offsets of elements of the input (invariant 1), borrowed for
        // `'a`. Every length is at least 1 (the source is not empty).
        Some(unsafe { assemble(self.ptr, shape, &strides) })
    }
}

/// The stride of each step's axis over an input of `shape` and `strides`
/// (non-empty), checked as invariant 1 says.
///
/// # Panics
///
/// If a step names a dimension the input does not have, or its axes could
/// index past the end of one.
fn step_strides(shape: &[usize], strides: &[isize], steps: &[Step]) -> Strides {
    let mut reach: SmallVec<[usize; 8]> = smallvec![0; shape.len()];
    steps
        .iter()
        .map(|step| match step.source {
            Some((dim, mult)) if step.len > 1 => {
                let r = (step.len - 1)
                    .checked_mul(mult)
                    .and_then(|r| r.checked_add(reach[dim]))
                    .filter(|&r| r < shape[dim]);
                reach[dim] = r.expect("a step reaches past its input dimension");
                // |stride * mult| is at most the input's extent along
                // `dim`, which fits `isize`.
                strides[dim]
                    .checked_mul(mult as isize)
                    .expect("a step's stride fits the input's extent")
            }
            _ => 0,
        })
        .collect()
}

// ---------------------------------------------------------------------
// Copies

/// What a plan does to a standard-layout input of its input shape, worked
/// out once per plan: [`step_strides`] and the merges or the copy's nest
/// are computed and checked when the plan is made, so a call only checks
/// that the arrays have those layouts. Every array of the same shape in
/// standard layout has the same strides, so invariants 1–3 hold for each
/// of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prepared {
    input_shape: Lens,
    /// The result's shape and strides when it is a view (the strides of a
    /// standard-layout input are non-negative, and so are their merges).
    view: Option<(IxDyn, IxDyn)>,
    /// The copy into a standard-layout output, for results that are not
    /// views and for copies into the caller's array.
    output_len: usize,
    loops: SmallVec<[Loop; 8]>,
    body: Body,
}

impl Prepared {
    /// The result of reading an input of `input_shape` through `steps`,
    /// with the output's dimensions `groups` of consecutive steps; `None`
    /// for an empty input or output.
    ///
    /// # Panics
    ///
    /// As [`Source::new`] and [`Source::merged`].
    pub(crate) fn new(
        input_shape: &[usize],
        steps: &[Step],
        output_shape: &[usize],
        groups: &[(usize, usize)],
    ) -> Option<Prepared> {
        if input_shape.contains(&0) || steps.iter().any(|s| s.len == 0) {
            return None;
        }
        let src = step_strides(input_shape, &standard_strides(input_shape), steps);
        let lens: Lens = steps.iter().map(|s| s.len).collect();
        let view = merge(&lens, &src, output_shape, groups).map(|strides| {
            let strides: Lens = strides.iter().map(|&s| s as usize).collect();
            (IxDyn(output_shape), IxDyn(&strides))
        });
        let nest = Nest::new(&lens, &src, &standard_strides(&lens));
        // Standard output strides are positive: nothing is reversed.
        debug_assert_eq!((nest.src_shift, nest.dst_shift), (0, 0));
        Some(Prepared {
            input_shape: input_shape.into(),
            view,
            output_len: lens.iter().product(),
            body: nest.body(),
            loops: nest.loops,
        })
    }

    /// Whether `x` has the layout this was made for.
    pub(crate) fn fits<A, D: Dimension>(&self, x: &ArrayView<'_, A, D>) -> bool {
        x.shape() == self.input_shape.as_slice() && x.is_standard_layout()
    }

    /// The result as a view of `x`, if the plan's result is a view and `x`
    /// has the layout this was made for.
    pub(crate) fn view<'a, A, D: Dimension>(
        &self,
        x: &ArrayView<'a, A, D>,
    ) -> Option<ArrayView<'a, A, IxDyn>> {
        match &self.view {
            Some((shape, strides)) if self.fits(x) => {
                let shape = shape.clone().strides(strides.clone());
                // SAFETY: the merged dimensions reach the offsets of the
                // steps' axes, elements of any standard-layout input of
                // this shape (invariants 1 and 3), which `x` borrows for
                // `'a`; the strides are non-negative and no length is 0.
                Some(unsafe { ArrayView::from_shape_ptr(shape, x.as_ptr()) })
            }
            _ => None,
        }
    }
}

/// The strides of `groups` of consecutive axes merged into dimensions of
/// `shape`, if each group's axes lie one after another in memory.
///
/// # Panics
///
/// If a group's lengths do not multiply to its dimension's length.
fn merge(
    lens: &[usize],
    strides: &[isize],
    shape: &[usize],
    groups: &[(usize, usize)],
) -> Option<Strides> {
    assert_eq!(shape.len(), groups.len());
    let mut merged = Strides::with_capacity(groups.len());
    for (&len, &(start, end)) in shape.iter().zip(groups) {
        assert_eq!(len, lens[start..end].iter().product::<usize>());
        let mut stride = 0;
        let mut expected: Option<isize> = None;
        for k in (start..end).rev() {
            if lens[k] == 1 {
                continue;
            }
            let s = strides[k];
            match expected {
                None => stride = s,
                Some(e) if e == s => {}
                Some(_) => return None,
            }
            expected = Some(s.checked_mul(lens[k] as isize)?);
        }
        merged.push(stride);
    }
    Some(merged)
}

/// [`copy`] with a prepared nest.
///
/// # Panics
///
/// Unless `x` is in standard layout with the nest's input shape (callers
/// check [`Prepared::fits`]), or if `out` has room for fewer elements than
/// the result has.
pub(crate) fn copy_prepared<A: Clone, D: Dimension>(
    p: &Prepared,
    x: &ArrayView<'_, A, D>,
    out: &mut Vec<A>,
) {
    assert!(p.fits(x), "the input does not have the prepared layout");
    let spare = &mut out.spare_capacity_mut()[..p.output_len];
    // SAFETY: `x` has the layout the nest was made and checked for
    // (invariant 4), and `spare` has the `output_len` slots of the
    // standard output (invariant 2).
    unsafe {
        launch(
            CloneInto(PhantomData),
            x.as_ptr(),
            spare.as_mut_ptr(),
            &p.loops,
            p.body,
        )
    };
    let len = out.len();
    // SAFETY: the copy wrote every one of the slots (invariant 7).
    unsafe { out.set_len(len + p.output_len) };
}

/// [`copy_into`] with a prepared nest: `false` (and nothing written)
/// unless `x` and `out` are in standard layout, `x` with the nest's input
/// shape and `out` with its number of elements.
pub(crate) fn copy_into_prepared<A: Clone, D: Dimension, E: Dimension>(
    p: &Prepared,
    x: &ArrayView<'_, A, D>,
    out: &mut ArrayViewMut<'_, A, E>,
) -> bool {
    if !p.fits(x) || out.len() != p.output_len || !out.is_standard_layout() {
        return false;
    }
    // SAFETY: as in `copy_prepared`; `out` is a standard-layout array of
    // the output's length, borrowed exclusively.
    unsafe {
        launch(
            CloneOver(PhantomData),
            x.as_ptr(),
            out.as_mut_ptr(),
            &p.loops,
            p.body,
        )
    };
    true
}

/// Appends the source's elements to `out`, in row-major order of its axes,
/// writing straight into `out`'s spare capacity.
///
/// # Panics
///
/// If `out` has room for fewer elements than the source has.
pub(crate) fn copy<A: Clone>(src: &Source<'_, A>, out: &mut Vec<A>) {
    if src.empty {
        return;
    }
    let n = src.len();
    let spare = &mut out.spare_capacity_mut()[..n];
    let nest = Nest::new(&src.lens, &src.strides, &standard_strides(&src.lens));
    // SAFETY: the source satisfies invariant 1; the output strides are
    // standard over the `n` slots of `spare` (invariant 2), which this
    // function borrows exclusively; standard strides reverse no axis.
    unsafe {
        launch(
            CloneInto(PhantomData),
            src.ptr,
            spare.as_mut_ptr(),
            &nest.loops,
            nest.body(),
        )
    };
    let len = out.len();
    // SAFETY: the copy wrote every one of the `n` slots after `len`
    // (invariant 7).
    unsafe { out.set_len(len + n) };
}

/// Copies the source's elements into `out`, whose dimensions the source's
/// axes split: each dimension of `out` is the product of the lengths of
/// consecutive axes. `out` may have any layout.
///
/// # Panics
///
/// If the source's axes do not split `out`'s dimensions.
pub(crate) fn copy_into<A: Clone>(src: &Source<'_, A>, mut out: ArrayViewMut<'_, A, IxDyn>) {
    if src.empty {
        return;
    }
    let dst = split(out.shape(), out.strides(), &src.lens);
    let nest = Nest::new(&src.lens, &src.strides, &dst);
    // SAFETY: the source satisfies invariant 1, and `dst` maps the
    // source's indices one to one onto `out`'s (invariant 2), which is
    // borrowed exclusively here. The shifts are the offsets of the index
    // with `len - 1` on every reversed axis: elements of each.
    unsafe {
        launch(
            CloneOver(PhantomData),
            src.ptr.offset(nest.src_shift),
            out.as_mut_ptr().offset(nest.dst_shift),
            &nest.loops,
            nest.body(),
        )
    };
}

/// The strides that split `shape` (with `strides`) into axes of `lens`.
///
/// # Panics
///
/// Unless each dimension is the product of the lengths of consecutive
/// axes (axes of length 1 may fall anywhere), or if a length is 0.
fn split(shape: &[usize], strides: &[isize], lens: &[usize]) -> Strides {
    let mut out: Strides = smallvec![0; lens.len()];
    let mut k = 0;
    for (&len, &stride) in shape.iter().zip(strides) {
        let start = k;
        let mut product: usize = 1;
        while product != len || lens.get(k) == Some(&1) {
            let next = lens.get(k).and_then(|&l| product.checked_mul(l));
            product = next
                .filter(|&p| p <= len)
                .expect("the axes do not split the output");
            k += 1;
        }
        let mut s = stride;
        for j in (start..k).rev() {
            if lens[j] > 1 {
                out[j] = s;
            }
            s = s.wrapping_mul(lens[j] as isize);
        }
    }
    assert!(
        lens[k..].iter().all(|&n| n == 1),
        "the axes do not split the output"
    );
    out
}

/// Runs a copy's nest with `generic` for ordinary element types, and with
/// bit copies (SIMD, threads) for primitive ones.
///
/// # Safety
///
/// As [`run`]; `M::Dst` is `A` or `MaybeUninit<A>`.
unsafe fn launch<A: Clone, M: Mover<Src = A>>(
    generic: M,
    src: *const A,
    dst: *mut M::Dst,
    loops: &[Loop],
    body: Body,
) {
    let (s, d) = (src, dst);
    // SAFETY: in each arm, as this function's contract; for the bit copies,
    // `A` is the primitive type of that width, so `s` and `d` point at
    // values of it (invariant 5).
    unsafe {
        match word_width::<A>() {
            Some(1) => words::<u8>(s.cast(), d.cast(), loops, body),
            Some(2) => words::<u16>(s.cast(), d.cast(), loops, body),
            Some(4) => words::<u32>(s.cast(), d.cast(), loops, body),
            Some(8) => words::<u64>(s.cast(), d.cast(), loops, body),
            _ => run(generic, s, d, loops, body),
        }
    }
}

/// The size of `A` if it is a primitive number or `bool`.
fn word_width<A>() -> Option<usize> {
    use std::any::TypeId;
    let id = typeid::of::<A>();
    let is = |t: TypeId| id == t;
    if is(TypeId::of::<f32>()) || is(TypeId::of::<i32>()) || is(TypeId::of::<u32>()) {
        Some(4)
    } else if is(TypeId::of::<f64>())
        || is(TypeId::of::<i64>())
        || is(TypeId::of::<u64>())
        || is(TypeId::of::<isize>())
        || is(TypeId::of::<usize>())
    {
        Some(std::mem::size_of::<A>())
    } else if is(TypeId::of::<i16>()) || is(TypeId::of::<u16>()) {
        Some(2)
    } else if is(TypeId::of::<i8>()) || is(TypeId::of::<u8>()) || is(TypeId::of::<bool>()) {
        Some(1)
    } else {
        None
    }
}

/// Bit copies of one width, on the pool when they are large.
///
/// # Safety
///
/// As [`run`].
unsafe fn words<T: Word>(src: *const T, dst: *mut T, loops: &[Loop], body: Body) {
    let count: usize = loops.iter().map(|l| l.len).product();
    let bytes = count.saturating_mul(size_of::<T>());
    let limit = STREAM_BYTES.load(Ordering::Relaxed);
    let mover = Bits::<T>::new(bytes >= limit, bytes / 2 >= limit);
    #[cfg(feature = "rayon")]
    {
        let threads = threads_for(bytes);
        if threads > 1 {
            // SAFETY: as this function's contract.
            return unsafe { parallel(mover, src, dst, loops, body, threads) };
        }
    }
    // SAFETY: as this function's contract.
    unsafe { run(mover, src, dst, loops, body) }
}

/// One loop of a nest: a length and the strides it takes in the input and
/// the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Loop {
    len: usize,
    src: isize,
    dst: isize,
}

/// A copy's loops, outermost first, in the order that writes the output
/// sequentially: unit axes dropped, axes with a negative output stride
/// reversed (the shifts move both bases to the reversed start), sorted by
/// decreasing output stride, and merged where both strides allow.
#[derive(Debug)]
struct Nest {
    loops: SmallVec<[Loop; 8]>,
    src_shift: isize,
    dst_shift: isize,
}

impl Nest {
    fn new(lens: &[usize], src: &[isize], dst: &[isize]) -> Nest {
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
        let mut merged: SmallVec<[Loop; 8]> = SmallVec::new();
        for &outer in loops.iter().rev() {
            if let Some(inner) = merged.last_mut() {
                let n = inner.len as isize;
                if outer.dst == inner.dst * n && outer.src == inner.src.wrapping_mul(n) {
                    inner.len *= outer.len;
                    continue;
                }
            }
            merged.push(outer);
        }
        merged.reverse();
        Nest {
            loops: merged,
            src_shift,
            dst_shift,
        }
    }

    /// Transpose in tiles when the input's fastest axis is not the
    /// output's; otherwise walk the innermost loop as a line.
    fn body(&self) -> Body {
        let Some((inner, rest)) = self.loops.split_last() else {
            return Body::Line;
        };
        let fastest = rest
            .iter()
            .enumerate()
            .filter(|(_, l)| l.src != 0)
            .min_by_key(|(_, l)| l.src.unsigned_abs());
        match fastest {
            Some((k, l)) if inner.src != 0 && l.src.unsigned_abs() < inner.src.unsigned_abs() => {
                Body::Tile(k)
            }
            _ => Body::Line,
        }
    }
}

/// What the innermost part of a nest does: one loop as a line, or the
/// last loop and loop `k` as a tiled transpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Line,
    Tile(usize),
}

/// A rectangle of elements: `dst + i * di + j * dj` gets `src + i * si +
/// j * sj` for `i < m`, `j < n`.
struct Tile<S, D> {
    src: *const S,
    dst: *mut D,
    m: usize,
    si: isize,
    di: isize,
    n: usize,
    sj: isize,
    dj: isize,
}

/// How elements move from the input to the output.
trait Mover: Copy {
    type Src;
    type Dst;
    /// Tile lengths: along the input's fastest axis, along the output's.
    const TILE: (usize, usize);

    /// `dst + j * d` gets `src + j * s` for `j < n`.
    ///
    /// # Safety
    ///
    /// Those offsets are elements to read and to write.
    unsafe fn line(self, src: *const Self::Src, s: isize, dst: *mut Self::Dst, d: isize, n: usize);

    /// Moves a tile.
    ///
    /// # Safety
    ///
    /// The tile's offsets are elements to read and to write.
    unsafe fn tile(self, t: Tile<Self::Src, Self::Dst>) {
        // SAFETY: as this function's contract.
        unsafe { by_lines(self, t) }
    }

    /// How many elements the first tile along the output's lines (stride
    /// `dj`, from `dst`) spans, so that the following tiles of `tj` start
    /// on 64-byte lines of the output; 0 keeps every tile `tj` long. Only
    /// a hint: the tiles cover the axis once whatever the value.
    fn head(self, dst: *mut Self::Dst, dj: isize, tj: usize) -> usize {
        let _ = (dst, dj, tj);
        0
    }

    /// Called when a thread has finished its part of a nest.
    fn finish(self) {}
}

/// A tile as `n` lines along its input-contiguous axis.
///
/// # Safety
///
/// As [`Mover::tile`].
unsafe fn by_lines<M: Mover>(m: M, t: Tile<M::Src, M::Dst>) {
    for j in 0..t.n as isize {
        // SAFETY: line `j` holds the tile's offsets with that `j`.
        unsafe {
            m.line(
                t.src.offset(j * t.sj),
                t.si,
                t.dst.offset(j * t.dj),
                t.di,
                t.m,
            )
        };
    }
}

/// Clones into uninitialised slots.
struct CloneInto<A>(PhantomData<fn(&A)>);

impl<A> Clone for CloneInto<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A> Copy for CloneInto<A> {}

impl<A: Clone> Mover for CloneInto<A> {
    type Src = A;
    type Dst = MaybeUninit<A>;
    const TILE: (usize, usize) = (16, 16);

    unsafe fn line(self, src: *const A, s: isize, dst: *mut MaybeUninit<A>, d: isize, n: usize) {
        for j in 0..n as isize {
            // SAFETY: elements to read and to write (contract). Writing a
            // `MaybeUninit` drops nothing.
            unsafe { (*dst.offset(j * d)).write((*src.offset(j * s)).clone()) };
        }
    }
}

/// Clones over initialised elements, dropping the old values.
struct CloneOver<A>(PhantomData<fn(&A)>);

impl<A> Clone for CloneOver<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A> Copy for CloneOver<A> {}

impl<A: Clone> Mover for CloneOver<A> {
    type Src = A;
    type Dst = A;
    const TILE: (usize, usize) = (16, 16);

    unsafe fn line(self, src: *const A, s: isize, dst: *mut A, d: isize, n: usize) {
        for j in 0..n as isize {
            // SAFETY: elements to read and to write (contract); the
            // destination holds an initialised value, dropped here.
            unsafe { *dst.offset(j * d) = (*src.offset(j * s)).clone() };
        }
    }
}

/// A primitive element, copied as bits of its width.
trait Word: Copy + Send + Sync {
    const TILE: (usize, usize);

    /// Transposes the tile in registers, if this width has an AVX kernel;
    /// with `stream`, with streaming stores where the rows are aligned.
    ///
    /// # Safety
    ///
    /// As [`Mover::tile`], with `si == 1`, `dj == 1`, and AVX available.
    unsafe fn transpose_avx(_: &Tile<Self, Self>, _stream: bool) -> bool {
        false
    }
}

impl Word for u8 {
    const TILE: (usize, usize) = (64, 64);
}

impl Word for u16 {
    const TILE: (usize, usize) = (32, 64);
}

impl Word for u32 {
    const TILE: (usize, usize) = (64, 16);

    #[cfg(target_arch = "x86_64")]
    unsafe fn transpose_avx(t: &Tile<u32, u32>, stream: bool) -> bool {
        // Streaming pays only when every tile starts whole lines: 64-byte
        // aligned rows, tiles a line wide.
        let aligned = t.dst.align_offset(64) == 0 && t.di % 16 == 0;
        // SAFETY: AVX is available, and the tile's offsets `i + j * sj`
        // and `i * di + j` are elements (contract); streaming only with the
        // alignment it needs.
        unsafe { simd::transpose_u32(t.src, t.sj, t.dst, t.di, t.m, t.n, stream && aligned) };
        true
    }
}

impl Word for u64 {
    const TILE: (usize, usize) = (32, 8);

    #[cfg(target_arch = "x86_64")]
    unsafe fn transpose_avx(t: &Tile<u64, u64>, stream: bool) -> bool {
        let aligned = t.dst.align_offset(64) == 0 && t.di % 8 == 0;
        // SAFETY: as for `u32`.
        unsafe { simd::transpose_u64(t.src, t.sj, t.dst, t.di, t.m, t.n, stream && aligned) };
        true
    }
}

/// Whether this CPU has AVX (checked once per kernel call; the standard
/// library caches the answer).
fn has_avx() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Bit copies of `T`, with the AVX transposes when the CPU has them, and
/// streaming stores for large outputs.
struct Bits<T> {
    avx: bool,
    /// Streaming stores for lines.
    stream: bool,
    /// Streaming stores for transposed tiles: only from twice the lines'
    /// threshold. A transposed 16 MiB output (W3) ran at about half the
    /// speed with them, most of it still fitting the last-level cache;
    /// at 64 MiB (W2) they neither helped nor hurt.
    stream_tiles: bool,
    _word: PhantomData<T>,
}

impl<T> Clone for Bits<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Bits<T> {}

impl<T: Word> Bits<T> {
    fn new(stream: bool, stream_tiles: bool) -> Bits<T> {
        let x86 = cfg!(target_arch = "x86_64");
        Bits {
            avx: has_avx(),
            stream: stream && x86,
            stream_tiles: stream && stream_tiles && x86,
            _word: PhantomData,
        }
    }
}

impl<T: Word> Mover for Bits<T> {
    type Src = T;
    type Dst = T;
    const TILE: (usize, usize) = T::TILE;

    unsafe fn line(self, src: *const T, s: isize, dst: *mut T, d: isize, n: usize) {
        if s == 1 && d == 1 {
            #[cfg(target_arch = "x86_64")]
            if self.stream {
                // SAFETY: `n` consecutive elements each; input and output
                // never overlap (module docs).
                return unsafe { simd::stream_copy(src.cast(), dst.cast(), n * size_of::<T>()) };
            }
            // SAFETY: `n` consecutive elements each; input and output never
            // overlap (module docs).
            unsafe { std::ptr::copy_nonoverlapping(src, dst, n) };
        } else if d == 1 {
            for j in 0..n {
                // SAFETY: elements to read and to write (contract).
                unsafe { *dst.add(j) = *src.offset(j as isize * s) };
            }
        } else {
            for j in 0..n as isize {
                // SAFETY: elements to read and to write (contract).
                unsafe { *dst.offset(j * d) = *src.offset(j * s) };
            }
        }
    }

    unsafe fn tile(self, t: Tile<T, T>) {
        // SAFETY: AVX was detected; the unit strides are checked; the
        // tile's offsets are elements (contract).
        if self.avx && t.si == 1 && t.dj == 1 && unsafe { T::transpose_avx(&t, self.stream_tiles) }
        {
            return;
        }
        // SAFETY: as this function's contract.
        unsafe { by_lines(self, t) }
    }

    fn head(self, dst: *mut T, dj: isize, tj: usize) -> usize {
        // Whole 64-byte lines of the output per tile, when its lines are
        // contiguous and `tj` elements make whole lines.
        let line = 64 / size_of::<T>();
        if dj != 1 || tj % line != 0 {
            return 0;
        }
        dst.align_offset(64) % line
    }

    fn finish(self) {
        #[cfg(target_arch = "x86_64")]
        if self.stream {
            simd::fence();
        }
    }
}

/// Runs a nest on this thread.
///
/// # Safety
///
/// For every index `i` with `i_k < loops[k].len`, `src + Σ i_k *
/// loops[k].src` is an element to read and `dst + Σ i_k * loops[k].dst`
/// one to write, distinct for distinct indices; `body` is the nest's.
unsafe fn run<M: Mover>(m: M, src: *const M::Src, dst: *mut M::Dst, loops: &[Loop], body: Body) {
    // SAFETY: as this function's contract.
    unsafe { nest_body(m, src, dst, loops, body) };
    m.finish();
}

/// The loops of [`run`].
///
/// # Safety
///
/// As [`run`].
unsafe fn nest_body<M: Mover>(
    m: M,
    src: *const M::Src,
    dst: *mut M::Dst,
    loops: &[Loop],
    body: Body,
) {
    let Some((&inner, rest)) = loops.split_last() else {
        // SAFETY: no loops: one element at offset 0 of each.
        return unsafe { m.line(src, 0, dst, 0, 1) };
    };
    match body {
        Body::Line => odometer(rest, |so, d_o| {
            // SAFETY: the outer loops' offsets plus the line's are the
            // nest's offsets.
            unsafe {
                m.line(
                    src.offset(so),
                    inner.src,
                    dst.offset(d_o),
                    inner.dst,
                    inner.len,
                )
            }
        }),
        Body::Tile(k) => {
            let b = loops[k];
            let outer: SmallVec<[Loop; 8]> = rest
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != k)
                .map(|(_, &l)| l)
                .collect();
            let (tb, tj) = M::TILE;
            // Bands of `tb` along the input's fastest axis, each swept in
            // tiles along the output's: the output's lines are written in
            // order within a band, and each input line read in one tile.
            odometer(&outer, |so, d_o| {
                // The first tile along the output's lines is cut short so
                // that the others start on a cache line of the output.
                let head = m.head(dst.wrapping_offset(d_o), inner.dst, tj);
                let starts = (head > 0)
                    .then_some(0)
                    .into_iter()
                    .chain((head..inner.len).step_by(tj));
                for i0 in (0..b.len).step_by(tb) {
                    for j0 in starts.clone() {
                        let n = if j0 < head { head } else { tj };
                        let (i, j) = (i0 as isize, j0 as isize);
                        // SAFETY: the outer loops' offsets plus the
                        // tiles', which cover `b` and `inner` exactly
                        // once, are the nest's offsets.
                        unsafe {
                            m.tile(Tile {
                                src: src.offset(so + i * b.src + j * inner.src),
                                dst: dst.offset(d_o + i * b.dst + j * inner.dst),
                                m: tb.min(b.len - i0),
                                si: b.src,
                                di: b.dst,
                                n: n.min(inner.len - j0),
                                sj: inner.src,
                                dj: inner.dst,
                            })
                        }
                    }
                }
            })
        }
    }
}

/// Calls `f` with the input and output offsets of every index of `loops`
/// (outermost first), the innermost loop unrolled out of the carry logic.
fn odometer(loops: &[Loop], mut f: impl FnMut(isize, isize)) {
    let Some((last, rest)) = loops.split_last() else {
        return f(0, 0);
    };
    let mut index: SmallVec<[usize; 8]> = smallvec![0; rest.len()];
    let (mut so, mut d_o) = (0isize, 0isize);
    loop {
        for i in 0..last.len as isize {
            f(so + i * last.src, d_o + i * last.dst);
        }
        let mut k = rest.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            index[k] += 1;
            so += rest[k].src;
            d_o += rest[k].dst;
            if index[k] < rest[k].len {
                break;
            }
            so -= rest[k].src * rest[k].len as isize;
            d_o -= rest[k].dst * rest[k].len as isize;
            index[k] = 0;
        }
    }
}

/// Raw pointers handed to the pool's threads.
#[cfg(feature = "rayon")]
struct Shared<S, D> {
    src: *const S,
    dst: *mut D,
}

#[cfg(feature = "rayon")]
impl<S, D> Clone for Shared<S, D> {
    fn clone(&self) -> Self {
        *self
    }
}
#[cfg(feature = "rayon")]
impl<S, D> Copy for Shared<S, D> {}

// SAFETY: the threads only read `S` through `src` (shared, so `S: Sync`)
// and write disjoint `D`s through `dst` (moved in, so `D: Send`), each
// thread its own range of one axis (invariant 3).
#[cfg(feature = "rayon")]
unsafe impl<S: Sync, D: Send> Send for Shared<S, D> {}
// SAFETY: as for `Send`: the pointers themselves are only copied.
#[cfg(feature = "rayon")]
unsafe impl<S: Sync, D: Send> Sync for Shared<S, D> {}

#[cfg(feature = "rayon")]
impl<S, D> Shared<S, D> {
    /// Both pointers; a method, so closures capture the whole `Shared`.
    fn get(self) -> (*const S, *mut D) {
        (self.src, self.dst)
    }
}

/// Runs a nest on the pool: one axis is cut into ranges, one task each.
/// The outermost loop outside the body is cut if there is one, else the
/// tile's input-fast axis (in whole tiles) or the line itself.
///
/// # Safety
///
/// As [`run`].
#[cfg(feature = "rayon")]
unsafe fn parallel<M>(
    m: M,
    src: *const M::Src,
    dst: *mut M::Dst,
    loops: &[Loop],
    body: Body,
    threads: usize,
) where
    M: Mover + Send + Sync,
    M::Src: Sync,
    M::Dst: Send,
{
    use rayon::prelude::*;
    // The first loop outside the body, else the body's outer axis.
    let in_body = |i: usize| i + 1 == loops.len() || matches!(body, Body::Tile(b) if b == i);
    let (k, grain) = match (0..loops.len()).find(|&i| !in_body(i)) {
        Some(k) => (k, 1),
        None => match body {
            Body::Tile(b) => (b, M::TILE.0),
            Body::Line => (0, 1),
        },
    };
    let Some(&axis) = loops.get(k) else {
        // SAFETY: as this function's contract.
        return unsafe { run(m, src, dst, loops, body) };
    };
    let pieces = (threads * 4).min(axis.len.div_ceil(grain)).max(1);
    let chunk = axis.len.div_ceil(pieces).div_ceil(grain) * grain;
    let shared = Shared { src, dst };
    (0..axis.len.div_ceil(chunk)).into_par_iter().for_each(|p| {
        let (src, dst) = shared.get();
        let start = p * chunk;
        let mut sub: SmallVec<[Loop; 8]> = SmallVec::from_slice(loops);
        sub[k].len = chunk.min(axis.len - start);
        let start = start as isize;
        // SAFETY: the piece's indices are the nest's with `i_k` in
        // `start..start + len`, so its offsets are the nest's (contract),
        // disjoint from the other pieces' writes.
        unsafe {
            run(
                m,
                src.offset(start * axis.src),
                dst.offset(start * axis.dst),
                &sub,
                body,
            )
        }
    });
}

// ---------------------------------------------------------------------
// Reductions

/// Folds every element of the source into `acc[o]`, where `o` is the
/// element's row-major index over the first `kept` axes, visiting elements
/// in memory order: the axes are walked by decreasing input stride, so a
/// reduction over the fastest axis and one over the slowest both read
/// memory sequentially.
///
/// # Panics
///
/// If `acc` does not have one slot per index of the kept axes.
pub(crate) fn fold<A, T>(
    src: &Source<'_, A>,
    kept: usize,
    acc: &mut [T],
    mut step: impl FnMut(&mut T, &A),
) {
    let out = standard_strides(&src.lens[..kept]);
    assert_eq!(acc.len(), src.lens[..kept].iter().product::<usize>());
    if src.empty {
        return;
    }
    // (len, input stride, output stride), unit axes dropped, slowest first.
    let mut dims: SmallVec<[(usize, isize, isize); 8]> = (0..src.lens.len())
        .filter(|&k| src.lens[k] > 1)
        .map(|k| {
            (
                src.lens[k],
                src.strides[k],
                out.get(k).copied().unwrap_or(0),
            )
        })
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
    let (len1, is1, os1) = merged.pop().unwrap_or((1, 0, 0));
    let (len2, is2, os2) = merged.pop().unwrap_or((1, 0, 0));
    let outer: SmallVec<[Loop; 8]> = merged
        .iter()
        .map(|&(len, src, dst)| Loop { len, src, dst })
        .collect();
    // The output side is an index into `acc`, with bounds checks.
    odometer(&outer, |io, o| {
        for a in 0..len2 as isize {
            for j in 0..len1 as isize {
                // SAFETY: the outer offset plus `a * is2 + j * is1`, with
                // `a < len2` and `j < len1`, is an index of the source
                // (invariants 1 and 3).
                let elem = unsafe { &*src.ptr.offset(io + a * is2 + j * is1) };
                step(&mut acc[(o + a * os2 + j * os1) as usize], elem);
            }
        }
    })
}

/// `f32` and `f64`: the element types of the pooling kernel, which sums
/// in `f64`.
pub(crate) trait Pooled: Copy + Send + Sync + 'static {
    const IS_F32: bool;
    fn widen(self) -> f64;
    fn narrow(x: f64) -> Self;
}

impl Pooled for f32 {
    const IS_F32: bool = true;
    fn widen(self) -> f64 {
        self as f64
    }
    fn narrow(x: f64) -> f32 {
        x as f32
    }
}

impl Pooled for f64 {
    const IS_F32: bool = false;
    fn widen(self) -> f64 {
        self
    }
    fn narrow(x: f64) -> f64 {
        x
    }
}

/// How a pooled sum becomes its output: as is (a sum), times the exact
/// reciprocal of a power-of-two count, or divided by the count (a mean).
/// Multiplying by an exact reciprocal rounds the same real number as
/// dividing, so both give the same bits.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scale {
    One,
    Times(f64),
    Over(f64),
}

impl Scale {
    fn new(mean: bool, count: usize) -> Scale {
        if !mean {
            Scale::One
        } else if count.is_power_of_two() {
            Scale::Times(1.0 / count as f64)
        } else {
            Scale::Over(count as f64)
        }
    }

    pub(crate) fn apply(self, acc: f64) -> f64 {
        match self {
            Scale::One => acc,
            Scale::Times(f) => acc * f,
            Scale::Over(c) => acc / c,
        }
    }
}

/// A reduction shaped like pooling: rows of `width` outputs, each the sum
/// over `r` input rows (stride `sr`) of a window of `k` adjacent elements
/// (stride 1), windows `sw` apart.
#[derive(Debug)]
struct Window {
    /// Outer kept axes beyond `rows`: (len, input stride, output stride).
    outer: SmallVec<[Loop; 8]>,
    rows: usize,
    rs: isize,
    width: usize,
    sw: isize,
    k: usize,
    r: usize,
    sr: isize,
}

impl Window {
    /// The window shape of a source whose first `kept` axes are the
    /// output's, if it has one: positive strides, the reduced axes at most
    /// one stride-1 window right inside the output's last axis plus one
    /// other.
    fn new<A>(src: &Source<'_, A>, kept: usize) -> Option<Window> {
        if src.empty {
            return None;
        }
        let axes = |range: std::ops::Range<usize>| -> SmallVec<[(usize, isize); 8]> {
            range
                .filter(|&k| src.lens[k] > 1)
                .map(|k| (src.lens[k], src.strides[k]))
                .collect()
        };
        let merge = |list: &[(usize, isize)]| -> SmallVec<[(usize, isize); 8]> {
            let mut merged: SmallVec<[(usize, isize); 8]> = SmallVec::new();
            for &(len, s) in list.iter().rev() {
                match merged.last_mut() {
                    Some(inner) if s == inner.1 * inner.0 as isize => inner.0 *= len,
                    _ => merged.push((len, s)),
                }
            }
            merged.reverse();
            merged
        };
        let kept_axes = axes(0..kept);
        let mut reduced = axes(kept..src.lens.len());
        if kept_axes.iter().chain(&reduced).any(|&(_, s)| s <= 0) {
            return None;
        }
        let mut kept_axes = merge(&kept_axes);
        reduced.sort_by_key(|&(_, s)| std::cmp::Reverse(s));
        let mut reduced = merge(&reduced);
        let (width, sw) = kept_axes.pop().unwrap_or((1, 0));
        let k = match reduced.last() {
            Some(&(len, 1)) if width == 1 || sw == len as isize => {
                reduced.pop();
                len
            }
            _ if width == 1 || sw == 1 => 1,
            _ => return None,
        };
        if reduced.len() > 1 {
            return None;
        }
        let (r, sr) = reduced.pop().unwrap_or((1, 0));
        let (rows, rs) = kept_axes.pop().unwrap_or((1, 0));
        // Output strides: standard over (outer.., rows, width).
        let mut os = (rows * width) as isize;
        let mut outer: SmallVec<[Loop; 8]> = SmallVec::new();
        for &(len, s) in kept_axes.iter().rev() {
            outer.push(Loop {
                len,
                src: s,
                dst: os,
            });
            os *= len as isize;
        }
        outer.reverse();
        Some(Window {
            outer,
            rows,
            rs,
            width,
            sw,
            k,
            r,
            sr,
        })
    }

    fn outputs(&self) -> usize {
        self.outer.iter().map(|l| l.len).product::<usize>() * self.rows * self.width
    }

    /// Writes every output.
    ///
    /// # Safety
    ///
    /// `src` is the source's base (invariant 1: the window's offsets are
    /// merges and reorders of its axes); `dst` has `outputs()` slots to
    /// write.
    unsafe fn run<T: Pooled>(&self, src: *const T, dst: *mut T, mean: bool) {
        let scale = Scale::new(mean, self.k * self.r);
        let avx =
            T::IS_F32 && self.k <= 2 && self.width >= 4 && self.sw == self.k as isize && has_avx();
        #[cfg(feature = "rayon")]
        let threads = threads_for(self.outputs() * self.k * self.r * size_of::<T>());
        odometer(&self.outer, |so, d_o| {
            // SAFETY: the outer loops' offsets are the window's, and so
            // are the rows' below them; output rows are `width` apart.
            let (s, d) = unsafe { (src.offset(so), dst.offset(d_o)) };
            #[cfg(feature = "rayon")]
            if threads > 1 && self.rows > 1 {
                use rayon::prelude::*;
                let shared = Shared { src: s, dst: d };
                let chunk = self.rows.div_ceil(threads * 4);
                (0..self.rows.div_ceil(chunk))
                    .into_par_iter()
                    .for_each(|p| {
                        let (s, d) = shared.get();
                        let rows = p * chunk..(p * chunk + chunk).min(self.rows);
                        // SAFETY: a range of this position's rows, whose
                        // outputs no other task writes.
                        unsafe { self.rows_range(s, d, rows, scale, avx) }
                    });
                return;
            }
            // SAFETY: all of this position's rows.
            unsafe { self.rows_range(s, d, 0..self.rows, scale, avx) }
        })
    }

    /// Rows `rows` of one outer position.
    ///
    /// # Safety
    ///
    /// As [`run`](Window::run), for `src` and `dst` at an outer position;
    /// `avx` only if the CPU has it, `T` is `f32`, `k <= 2` and `sw == k`.
    unsafe fn rows_range<T: Pooled>(
        &self,
        src: *const T,
        dst: *mut T,
        rows: std::ops::Range<usize>,
        scale: Scale,
        avx: bool,
    ) {
        // SAFETY: the first row of the range, in input and output.
        let (src, dst) = unsafe {
            (
                src.offset(rows.start as isize * self.rs),
                dst.add(rows.start * self.width),
            )
        };
        #[cfg(target_arch = "x86_64")]
        if avx {
            // SAFETY: AVX detected; `T` is `f32`; the rows' windows are
            // `src + row * rs + r * sr + (0..width * k)` (`sw == k`) and
            // their outputs `dst + (0..rows * width)`.
            return unsafe {
                simd::pool_rows_f32(
                    src.cast(),
                    self.rs,
                    rows.len(),
                    self.sr,
                    self.r,
                    self.k,
                    dst.cast(),
                    self.width,
                    scale,
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = avx;
        for row in 0..rows.len() {
            // SAFETY: a row of the range, in input and output.
            let (s, d) = unsafe {
                (
                    src.offset(row as isize * self.rs),
                    dst.add(row * self.width),
                )
            };
            for w in 0..self.width {
                let mut acc = 0.0f64;
                for r in 0..self.r as isize {
                    // SAFETY: window `w` of input row `r`: an index of the
                    // source.
                    let p = unsafe { s.offset(r * self.sr + w as isize * self.sw) };
                    for j in 0..self.k {
                        // SAFETY: `j < k`, inside the window.
                        acc += unsafe { *p.add(j) }.widen();
                    }
                }
                // SAFETY: output `w < width` of this row.
                unsafe { *d.add(w) = T::narrow(scale.apply(acc)) };
            }
        }
    }
}

/// Sums (`mean`: averages) the source over its axes after the first
/// `kept`, appending the results to `out` in row-major order, when the
/// reduction has the shape of pooling ([`Window`]); otherwise returns
/// `false` and writes nothing. Sums run in `f64` from 0 in memory order,
/// as [`fold`] does.
///
/// # Panics
///
/// If `out` has room for fewer elements than the result has.
pub(crate) fn pool<T: Pooled>(
    src: &Source<'_, T>,
    kept: usize,
    mean: bool,
    out: &mut Vec<T>,
) -> bool {
    let Some(window) = Window::new(src, kept) else {
        return false;
    };
    let n = window.outputs();
    let spare = &mut out.spare_capacity_mut()[..n];
    // SAFETY: the window's offsets are the source's (invariants 1 and 3);
    // `spare` has the `n` output slots.
    unsafe { window.run(src.ptr, spare.as_mut_ptr().cast::<T>(), mean) };
    let len = out.len();
    // SAFETY: `run` wrote every one of the `n` slots (invariant 7).
    unsafe { out.set_len(len + n) };
    true
}

/// [`pool`] into a standard-layout slice of the result's length.
///
/// # Panics
///
/// If `out` is not exactly as long as the result.
pub(crate) fn pool_into<T: Pooled>(
    src: &Source<'_, T>,
    kept: usize,
    mean: bool,
    out: &mut [T],
) -> bool {
    let Some(window) = Window::new(src, kept) else {
        return false;
    };
    assert_eq!(out.len(), window.outputs());
    // SAFETY: as in `pool`; `out` has the output slots.
    unsafe { window.run(src.ptr, out.as_mut_ptr(), mean) };
    true
}
