//! Reductions over a [`Source`]: the memory-order fold that every reduce
//! can use, and the pooling kernel for sums and means of floats, and sums
//! of integers of up to 32 bits, whose reduced axes form windows (with the
//! AVX rows for `f32` and `i32` in `simd`).

use std::sync::atomic::{AtomicBool, Ordering};

use smallvec::SmallVec;

use super::bits::has_avx;
use super::nest::odometer;
#[cfg(target_arch = "x86_64")]
use super::simd;
use super::source::Source;
#[cfg(feature = "rayon")]
use super::threads::{chunked, threads_for};
use crate::layout::{Loop, coalesce, standard_strides};

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
    let lens = src.lens();
    let out = standard_strides(&lens[..kept]);
    assert_eq!(acc.len(), lens[..kept].iter().product::<usize>());
    if src.empty {
        return;
    }
    // Input and output strides, unit axes dropped, slowest input first.
    let mut loops: SmallVec<[Loop; 8]> = (0..lens.len())
        .filter(|&k| lens[k] > 1)
        .map(|k| Loop {
            len: lens[k],
            src: src.layout.strides[k],
            dst: out.get(k).copied().unwrap_or(0),
        })
        .collect();
    loops.sort_by_key(|l| std::cmp::Reverse(l.src.unsigned_abs()));
    coalesce(&mut loops);
    let none = Loop {
        len: 1,
        src: 0,
        dst: 0,
    };
    let inner1 = loops.pop().unwrap_or(none);
    let inner2 = loops.pop().unwrap_or(none);
    let (len1, is1, os1) = (inner1.len, inner1.src, inner1.dst);
    let (len2, is2, os2) = (inner2.len, inner2.src, inner2.dst);
    let outer = loops;
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

/// The element types of the pooling kernel, which sums in `f64`: `f32`
/// and `f64`, and the integers whose sums `f64` holds exactly (up to 32
/// bits, in windows of at most [`EXACT_WINDOW`] elements).
pub(crate) trait Pooled: Copy + Send + Sync + 'static {
    const IS_F32: bool;
    const IS_I32: bool = false;
    /// An integer: sums only (no means), checked against the type's range.
    const INTEGER: bool;
    fn widen(self) -> f64;
    /// The element for a pooled result; `None` for an integer sum outside
    /// the type's range (an overflow, which the caller reports).
    fn narrow(x: f64) -> Option<Self>;
}

/// The most elements an integer window may have: a sum of that many
/// 32-bit integers stays below 2^52, where every `f64` addition of
/// integers is exact, so the sum does not depend on the order of the
/// additions and the range check sees the true value.
const EXACT_WINDOW: usize = 1 << 20;

impl Pooled for f32 {
    const IS_F32: bool = true;
    const INTEGER: bool = false;
    fn widen(self) -> f64 {
        self as f64
    }
    fn narrow(x: f64) -> Option<f32> {
        Some(x as f32)
    }
}

impl Pooled for f64 {
    const IS_F32: bool = false;
    const INTEGER: bool = false;
    fn widen(self) -> f64 {
        self
    }
    fn narrow(x: f64) -> Option<f64> {
        Some(x)
    }
}

macro_rules! pooled_int {
    ($($t:ty => $i32:expr),*) => {$(
        impl Pooled for $t {
            const IS_F32: bool = false;
            const IS_I32: bool = $i32;
            const INTEGER: bool = true;
            fn widen(self) -> f64 {
                // Exact: every value of a type of at most 32 bits is an
                // `f64`.
                self as f64
            }
            fn narrow(x: f64) -> Option<$t> {
                // `MIN` and `MAX` are exact as `f64`, and `x` is a whole
                // number (a sum of whole numbers, exactly).
                (x >= <$t>::MIN as f64 && x <= <$t>::MAX as f64).then_some(x as $t)
            }
        }
    )*};
}
// `i32` alone has AVX rows (`simd::pool_rows`).
pooled_int!(i8 => false, i16 => false, i32 => true, u8 => false, u16 => false, u32 => false);

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
        let lens = src.lens();
        let axes = |range: std::ops::Range<usize>| -> SmallVec<[(usize, isize); 8]> {
            range
                .filter(|&k| lens[k] > 1)
                .map(|k| (lens[k], src.layout.strides[k]))
                .collect()
        };
        let merge = |list: &[(usize, isize)]| -> SmallVec<[(usize, isize); 8]> {
            let mut loops: SmallVec<[Loop; 8]> = list
                .iter()
                .map(|&(len, src)| Loop { len, src, dst: 0 })
                .collect();
            coalesce(&mut loops);
            loops.iter().map(|l| (l.len, l.src)).collect()
        };
        let kept_axes = axes(0..kept);
        let mut reduced = axes(kept..lens.len());
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
    /// Returns `false` if an integer sum overflowed its type (then some
    /// outputs are left unwritten).
    unsafe fn run<T: Pooled>(&self, src: *const T, dst: *mut T, mean: bool) -> bool {
        let scale = Scale::new(mean, self.k * self.r);
        let overflow = AtomicBool::new(false);
        let overflow = &overflow;
        let avx = (T::IS_F32 || T::IS_I32)
            && self.k <= 2
            && self.width >= 4
            && self.sw == self.k as isize
            && has_avx();
        #[cfg(feature = "rayon")]
        let threads = threads_for(self.outputs() * self.k * self.r * size_of::<T>());
        odometer(&self.outer, |so, d_o| {
            // SAFETY: the outer loops' offsets are the window's, and so
            // are the rows' below them; output rows are `width` apart.
            let (s, d) = unsafe { (src.offset(so), dst.offset(d_o)) };
            #[cfg(feature = "rayon")]
            if threads > 1 && self.rows > 1 {
                let piece = |rows: std::ops::Range<usize>, s: *const T, d: *mut T| {
                    // SAFETY: a range of this position's rows, whose
                    // outputs no other task writes.
                    unsafe { self.rows_range(s, d, rows, scale, avx, overflow) }
                };
                // SAFETY: each range reads its rows' windows and writes
                // its rows' outputs only.
                return unsafe { chunked(self.rows, 1, threads, s, d, piece) };
            }
            // SAFETY: all of this position's rows.
            unsafe { self.rows_range(s, d, 0..self.rows, scale, avx, overflow) }
        });
        !overflow.load(Ordering::Relaxed)
    }

    /// Rows `rows` of one outer position.
    ///
    /// # Safety
    ///
    /// As [`run`](Window::run), for `src` and `dst` at an outer position;
    /// `avx` only if the CPU has it, `T` is `f32` or `i32`, `k <= 2`, `sw
    /// == k` and `width >= 4`.
    unsafe fn rows_range<T: Pooled>(
        &self,
        src: *const T,
        dst: *mut T,
        rows: std::ops::Range<usize>,
        scale: Scale,
        avx: bool,
        overflow: &AtomicBool,
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
            let (s, d, n) = (src.cast(), dst.cast(), rows.len());
            let (rs, sr, r, k, width) = (self.rs, self.sr, self.r, self.k, self.width);
            // SAFETY: AVX detected; `T` is `f32` or (`IS_I32`) `i32`, whose
            // windows are exact in `f64` (`window_for`); `width >= 4`; the
            // rows' windows are `src + row * rs + r * sr + (0..width * k)`
            // (`sw == k`) and their outputs `dst + (0..rows * width)`.
            let in_range = unsafe {
                if T::IS_I32 {
                    simd::pool_rows::<true>(s, rs, n, sr, r, k, d, width, scale)
                } else {
                    simd::pool_rows::<false>(s, rs, n, sr, r, k, d, width, scale)
                }
            };
            if !in_range {
                overflow.store(true, Ordering::Relaxed);
            }
            return;
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
                match T::narrow(scale.apply(acc)) {
                    // SAFETY: output `w < width` of this row.
                    Some(v) => unsafe { *d.add(w) = v },
                    None => overflow.store(true, Ordering::Relaxed),
                }
            }
        }
    }
}

/// The pooling window of a source, if it has one and the kernel takes
/// it for `T`: integers only sum, in windows small enough to sum exactly.
fn window_for<T: Pooled>(src: &Source<'_, T>, kept: usize, mean: bool) -> Option<Window> {
    let window = Window::new(src, kept)?;
    let exact = window.k.saturating_mul(window.r) <= EXACT_WINDOW;
    (!T::INTEGER || (!mean && exact)).then_some(window)
}

/// Sums (`mean`: averages) the source over its axes after the first
/// `kept`, appending the results to `out` in row-major order, when the
/// reduction has the shape of pooling ([`Window`]) and no integer sum
/// overflows its type; otherwise returns `false` and appends nothing.
/// Sums run in `f64` from 0 in memory order, as [`fold`] does.
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
    let Some(window) = window_for(src, kept, mean) else {
        return false;
    };
    let n = window.outputs();
    let spare = &mut out.spare_capacity_mut()[..n];
    // SAFETY: the window's offsets are the source's (invariants 1 and 3);
    // `spare` has the `n` output slots.
    if !unsafe { window.run(src.ptr, spare.as_mut_ptr().cast::<T>(), mean) } {
        return false;
    }
    let len = out.len();
    // SAFETY: `run` wrote every one of the `n` slots, none having
    // overflowed (invariant 7).
    unsafe { out.set_len(len + n) };
    true
}

/// [`pool`] into a standard-layout slice of the result's length. On an
/// integer overflow it returns `false` having written some of the other
/// outputs.
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
    let Some(window) = window_for(src, kept, mean) else {
        return false;
    };
    assert_eq!(out.len(), window.outputs());
    // SAFETY: as in `pool`; `out` has the output slots.
    unsafe { window.run(src.ptr, out.as_mut_ptr(), mean) }
}
