//! The copy kernels: a [`Source`] or a prepared plan's input copied into
//! a fresh standard-layout buffer or into the caller's array, by `Clone`
//! for ordinary element types and as bits (SIMD, threads) for primitive
//! ones.

use std::marker::PhantomData;
use std::mem::MaybeUninit;

use ndarray::{ArrayView, ArrayViewMut, Dimension, IxDyn};

use super::bits::{word_width, words_of};
use super::nest::{Body, Mover, run};
use super::source::Source;
use crate::layout::{Layout, Loop, Nest, Prepared, standard_strides};

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
    let fits = p.fits(x.shape(), x.is_standard_layout());
    assert!(fits, "the input does not have the prepared layout");
    let n = p.output_len();
    let spare = &mut out.spare_capacity_mut()[..n];
    // SAFETY: `x` has the layout the nest was made and checked for
    // (invariant 4), and `spare` has the `output_len` slots of the
    // standard output (invariant 2).
    unsafe {
        launch(
            CloneInto(PhantomData),
            x.as_ptr(),
            spare.as_mut_ptr(),
            p.loops(),
            Body::of(p.loops()),
        )
    };
    let len = out.len();
    // SAFETY: the copy wrote every one of the slots (invariant 7).
    unsafe { out.set_len(len + n) };
}

/// [`copy_into`] with a prepared nest: `false` (and nothing written)
/// unless `x` and `out` are in standard layout, `x` with the nest's input
/// shape and `out` with its number of elements.
pub(crate) fn copy_into_prepared<A: Clone, D: Dimension, E: Dimension>(
    p: &Prepared,
    x: &ArrayView<'_, A, D>,
    out: &mut ArrayViewMut<'_, A, E>,
) -> bool {
    let fits = p.fits(x.shape(), x.is_standard_layout());
    if !fits || out.len() != p.output_len() || !out.is_standard_layout() {
        return false;
    }
    // SAFETY: as in `copy_prepared`; `out` is a standard-layout array of
    // the output's length, borrowed exclusively.
    unsafe {
        launch(
            CloneOver(PhantomData),
            x.as_ptr(),
            out.as_mut_ptr(),
            p.loops(),
            Body::of(p.loops()),
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
    let lens = src.lens();
    let nest = Nest::new(lens, &src.layout.strides, &standard_strides(lens));
    // SAFETY: the source satisfies invariant 1; the output strides are
    // standard over the `n` slots of `spare` (invariant 2), which this
    // function borrows exclusively; standard strides reverse no axis.
    unsafe {
        launch(
            CloneInto(PhantomData),
            src.ptr,
            spare.as_mut_ptr(),
            &nest.loops,
            Body::of(&nest.loops),
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
    let dst = Layout::new(out.shape(), out.strides())
        .split_into(src.lens())
        .expect("the axes do not split the output");
    let nest = Nest::new(src.lens(), &src.layout.strides, &dst.strides);
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
            Body::of(&nest.loops),
        )
    };
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
            // `words_of` copies nothing and says so for other widths.
            Some(width) if words_of(width, s.cast(), d.cast(), loops, body) => {}
            _ => run(generic, s, d, loops, body),
        }
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
