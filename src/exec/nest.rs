//! Running a loop nest: the body a nest ends in (a line, or a tiled
//! transpose), the [`Mover`] that moves elements, and the walk over the
//! outer loops, on this thread or split over the pool. The nest itself is
//! layout arithmetic ([`Nest`](crate::layout::Nest)); this module only
//! runs it.

use smallvec::{SmallVec, smallvec};

use crate::layout::Loop;

/// What the innermost part of a nest does: one loop as a line, or the
/// last loop and loop `k` as a tiled transpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Body {
    Line,
    Tile(usize),
}

/// A rectangle of elements: `dst + i * di + j * dj` gets `src + i * si +
/// j * sj` for `i < m`, `j < n`.
pub(super) struct Tile<S, D> {
    pub(super) src: *const S,
    pub(super) dst: *mut D,
    pub(super) m: usize,
    pub(super) si: isize,
    pub(super) di: isize,
    pub(super) n: usize,
    pub(super) sj: isize,
    pub(super) dj: isize,
}

/// How elements move from the input to the output.
pub(super) trait Mover: Copy {
    type Src;
    type Dst;
    /// Tile lengths: along the input's fastest axis, along the output's.
    const TILE: (usize, usize);

    /// The tile lengths for an input that steps `step` elements along the
    /// output's fastest axis: [`Mover::TILE`] unless the mover knows
    /// better.
    fn tile_lens(self, step: isize) -> (usize, usize) {
        let _ = step;
        Self::TILE
    }

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
pub(super) unsafe fn by_lines<M: Mover>(m: M, t: Tile<M::Src, M::Dst>) {
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
impl Body {
    /// Transpose in tiles when the input's fastest axis is not the
    /// output's; otherwise walk the innermost loop as a line.
    pub(super) fn of(loops: &[Loop]) -> Body {
        let Some((inner, rest)) = loops.split_last() else {
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

/// Runs a nest on this thread.
///
/// # Safety
///
/// For every index `i` with `i_k < loops[k].len`, `src + Σ i_k *
/// loops[k].src` is an element to read and `dst + Σ i_k * loops[k].dst`
/// one to write, distinct for distinct indices; `body` is the nest's.
pub(super) unsafe fn run<M: Mover>(
    m: M,
    src: *const M::Src,
    dst: *mut M::Dst,
    loops: &[Loop],
    body: Body,
) {
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
            let (tb, tj) = m.tile_lens(inner.src);
            let group = tiles_per_sweep::<M::Src>(inner.src, tj);
            // Bands of `tb` along the input's fastest axis, each swept in
            // tiles along the output's: the output's lines are written in
            // order within a band, and each input line read in one tile.
            // Where every step of the sweep lands on another page of the
            // input, the sweep is cut into groups of `group` tiles and
            // every band crosses one group before the next: the pages a
            // group touches stay in the TLB while the bands walk them.
            odometer(&outer, |so, d_o| {
                // The first tile along the output's lines is cut short so
                // that the others start on a cache line of the output.
                let head = m.head(dst.wrapping_offset(d_o), inner.dst, tj);
                let start = |t: usize| match (head, t) {
                    (0, t) => t * tj,
                    (_, 0) => 0,
                    (h, t) => h + (t - 1) * tj,
                };
                let tiles = match head {
                    0 => inner.len.div_ceil(tj),
                    h => 1 + inner.len.saturating_sub(h).div_ceil(tj),
                };
                let at = |i0: usize, t: usize| {
                    let (j0, j1) = (start(t), start(t + 1).min(inner.len));
                    let (i, j) = (i0 as isize, j0 as isize);
                    Tile {
                        src: src.wrapping_offset(so + i * b.src + j * inner.src),
                        dst: dst.wrapping_offset(d_o + i * b.dst + j * inner.dst),
                        m: tb.min(b.len - i0),
                        si: b.src,
                        di: b.dst,
                        n: j1 - j0,
                        sj: inner.src,
                        dj: inner.dst,
                    }
                };
                for g in (0..tiles).step_by(group) {
                    let end = tiles.min(g.saturating_add(group));
                    for i0 in (0..b.len).step_by(tb) {
                        for t in g..end {
                            // SAFETY: the outer loops' offsets plus the
                            // tiles', which cover `b` and `inner` exactly
                            // once, are the nest's offsets.
                            unsafe { m.tile(at(i0, t)) }
                        }
                    }
                }
            })
        }
    }
}

/// How many tiles of `tj` steps, each step `stride` elements of `T` on
/// the input, one group of a sweep takes: all of them (`usize::MAX`) while
/// a step stays within a 4 KiB page, else as many as keep the pages one
/// group touches to about [`SWEEP_PAGES`].
fn tiles_per_sweep<T>(stride: isize, tj: usize) -> usize {
    let step = stride.unsigned_abs().saturating_mul(size_of::<T>());
    if step < 4096 {
        usize::MAX
    } else {
        (SWEEP_PAGES / tj).max(1)
    }
}

/// The input pages one group of a tiled sweep touches: well inside a
/// second-level TLB of 1.5–3 K entries, with room for the output's.
const SWEEP_PAGES: usize = 512;

/// Calls `f` with the input and output offsets of every index of `loops`
/// (outermost first), the innermost loop unrolled out of the carry logic.
pub(super) fn odometer(loops: &[Loop], mut f: impl FnMut(isize, isize)) {
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

/// Runs a nest on the pool: one axis is cut into ranges, one task each.
/// The outermost loop outside the body is cut if there is one, else the
/// tile's input-fast axis (in whole tiles) or the line itself.
///
/// # Safety
///
/// As [`run`].
#[cfg(feature = "rayon")]
pub(super) unsafe fn parallel<M>(
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
    // The first loop outside the body, else the body's outer axis.
    let in_body = |i: usize| i + 1 == loops.len() || matches!(body, Body::Tile(b) if b == i);
    let (k, grain) = match (0..loops.len()).find(|&i| !in_body(i)) {
        Some(k) => (k, 1),
        None => match body {
            Body::Tile(b) => (b, loops.last().map_or(1, |l| m.tile_lens(l.src).0)),
            Body::Line => (0, 1),
        },
    };
    let Some(&axis) = loops.get(k) else {
        // SAFETY: as this function's contract.
        return unsafe { run(m, src, dst, loops, body) };
    };
    let piece = |range: std::ops::Range<usize>, src: *const M::Src, dst: *mut M::Dst| {
        let mut sub: SmallVec<[Loop; 8]> = SmallVec::from_slice(loops);
        sub[k].len = range.len();
        let start = range.start as isize;
        // SAFETY: the piece's indices are the nest's with `i_k` in
        // `range`, so its offsets are the nest's (contract), disjoint from
        // the other pieces' writes.
        unsafe {
            run(
                m,
                src.offset(start * axis.src),
                dst.offset(start * axis.dst),
                &sub,
                body,
            )
        }
    };
    // SAFETY: each range's piece reads the input and writes the output
    // elements of its own indices of loop `k` (contract).
    unsafe { super::threads::chunked(axis.len, grain, threads, src, dst, piece) }
}
