//! `f32` matrix products `c = a · b` whose right operand and result have
//! contiguous rows: the shape of a 1×1 convolution over channels-first
//! images (`a` the weights, `b` the input's channels × pixels, `c` the
//! output's), and of every einsum whose last contraction is such a
//! product.
//!
//! ndarray's `general_mat_mul` (matrixmultiply) packs *both* operands into
//! panels on every call. When `a` has few rows, packing `b` costs about as
//! much as the product itself. This kernel packs only `a` (six rows at a
//! time, contracted index outermost), reads `b`'s rows where they are,
//! sixteen columns at a time, and writes `c`'s rows in place: a 6 × 16
//! tile of twelve AVX2 registers, one fused multiply-add per register and
//! contracted index. Columns are taken in chunks whose rows of `b` fit in
//! the L2 cache, and each six-row panel of `a` (in L1) runs along a whole
//! chunk. The last partial columns go through a zero-padded copy, and
//! partial rows through a stack tile.
//!
//! It takes only products it was measured to speed up (at least 128
//! columns, `a` of at most 64 Ki elements); everything else, and every
//! CPU without AVX2 and FMA, is left to matrixmultiply.
//!
//! Matrix-vector products (`y = a · x`, rows of `a` contiguous) have
//! their own kernel, [`mat_vec`]: four rows at a time, one AVX2 sum each,
//! `x` loaded once for the four.

use std::any::TypeId;

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, s};

/// Rows of `a` per packed panel and tile.
const MR: usize = 6;
/// Columns of `b` and `c` per tile.
const NR: usize = 16;
/// Fewest columns worth the kernel (below, matrixmultiply was faster).
const MIN_COLS: usize = 128;
/// Most elements of `a` (its packed copy stays in the L2 cache).
const MAX_A: usize = 64 << 10;
/// Elements of `b` per column chunk (512 KiB of `f32`).
const CHUNK: usize = 128 << 10;

/// `c = a · b` when the element type is `f32`, the shapes are ones the
/// kernel speeds up, `b` and `c` have unit column strides, and the CPU has
/// AVX2 and FMA; returns `false`, having written nothing, otherwise.
/// `a` is `m × k`, `b` `k × n` and `c` `m × n`.
pub(crate) fn product<A: 'static>(
    a: &ArrayView2<'_, A>,
    b: &ArrayView2<'_, A>,
    c: &mut ArrayViewMut2<'_, A>,
) -> bool {
    // `c = a · b` is `cᵀ = bᵀ · aᵀ`: contiguous columns of `a` and `c`
    // are contiguous rows of the transposed product.
    if c.strides()[1] != 1 && c.strides()[0] == 1 && a.nrows() > 1 {
        return oriented(&b.t(), &a.t(), &mut c.view_mut().reversed_axes());
    }
    oriented(a, b, c)
}

/// [`product`] with `b` and `c` read and written along their rows.
fn oriented<A: 'static>(
    a: &ArrayView2<'_, A>,
    b: &ArrayView2<'_, A>,
    c: &mut ArrayViewMut2<'_, A>,
) -> bool {
    let ((m, k), n) = (a.dim(), b.ncols());
    let fits = m > 0 && k > 0 && n >= MIN_COLS && m.saturating_mul(k) <= MAX_A;
    if TypeId::of::<A>() != TypeId::of::<f32>()
        || !fits
        || b.dim() != (k, n)
        || c.dim() != (m, n)
        || b.strides()[1] != 1
        || c.strides()[1] != 1
        || !has_avx2_fma()
    {
        return false;
    }
    let a = a.raw_view().cast::<f32>();
    let b = b.raw_view().cast::<f32>();
    let c = c.raw_view_mut().cast::<f32>();
    // SAFETY: `A` is `f32` (checked by type identity above), so each raw
    // view is the same live view, with the same pointer, shape and
    // strides, of the same elements, typed as what they are; the borrows
    // of `a`, `b` and `c` (shared, shared, exclusive) outlive these views.
    let (a, b, mut c) = unsafe {
        (
            a.deref_into_view(),
            b.deref_into_view(),
            c.deref_into_view_mut(),
        )
    };
    multiply(&a, &b, &mut c, Tile::Avx2);
    true
}

/// Whether this CPU has AVX2 and FMA.
fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Which micro-kernel computes a tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tile {
    /// The AVX2 and FMA registers; only after [`has_avx2_fma`].
    Avx2,
    /// Plain scalar code with the same memory accesses: what the tests
    /// run under Miri, which checks the offsets the driver forms.
    #[cfg_attr(not(test), allow(dead_code))]
    Scalar,
}

/// `c = a · b` for `b` and `c` with unit column strides (the caller
/// checked); `tile` is [`Tile::Scalar`] or, on a CPU with AVX2 and FMA,
/// [`Tile::Avx2`].
pub(crate) fn multiply(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    c: &mut ArrayViewMut2<'_, f32>,
    tile: Tile,
) {
    multiply_in_chunks(a, b, c, tile, CHUNK);
}

/// [`multiply`] with column chunks of about `chunk` elements of `b`
/// (the tests make them small).
pub(crate) fn multiply_in_chunks(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    c: &mut ArrayViewMut2<'_, f32>,
    tile: Tile,
    chunk: usize,
) {
    let ((m, k), n) = (a.dim(), b.ncols());
    assert!(b.dim() == (k, n) && c.dim() == (m, n), "operand shapes");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    // A single column has no stride to speak of (ndarray may give it any);
    // only whole tiles, 16 columns, read and write through pointers.
    let unit = |stride: isize| stride == 1 || n == 1;
    assert!(
        unit(b.strides()[1]) && unit(c.strides()[1]),
        "unit column strides"
    );
    let packed = pack(a);
    let chunk = (chunk / k / NR).max(1) * NR;
    let mut padded = Vec::new();
    let mut start = 0;
    while start < n {
        let end = n.min(start + chunk);
        let bc = b.slice(s![.., start..end]);
        let mut cc = c.slice_mut(s![.., start..end]);
        columns(&packed, &bc, &mut cc, &mut padded, tile);
        start = end;
    }
}

/// `a` in panels of [`MR`] rows, zero-padded: element `(p · MR + i, r)` at
/// `(p · k + r) · MR + i`.
///
/// A full panel of contiguous rows (a weight matrix in standard layout) is
/// written in order, six rows read side by side; storing each row's
/// elements `MR` apart instead took some 4% of a ShuffleNet forward pass.
fn pack(a: &ArrayView2<'_, f32>) -> Vec<f32> {
    let (m, k) = a.dim();
    let mut packed = vec![0.0; m.div_ceil(MR) * k * MR];
    for (p, panel) in packed.chunks_exact_mut(k * MR).enumerate() {
        let rows = a.slice_move(s![p * MR..m.min(p * MR + MR), ..]);
        let mut whole: [&[f32]; MR] = [&[]; MR];
        let mut contiguous = rows.nrows() == MR;
        for (row, slot) in rows.rows().into_iter().zip(&mut whole) {
            match row.to_slice() {
                Some(r) => *slot = r,
                None => contiguous = false,
            }
        }
        if contiguous {
            let [r0, r1, r2, r3, r4, r5] = whole;
            let columns = r0.iter().zip(r1).zip(r2).zip(r3).zip(r4).zip(r5);
            for (out, (((((&x0, &x1), &x2), &x3), &x4), &x5)) in
                panel.chunks_exact_mut(MR).zip(columns)
            {
                out.copy_from_slice(&[x0, x1, x2, x3, x4, x5]);
            }
            continue;
        }
        for (i, values) in rows.rows().into_iter().enumerate() {
            for (r, &v) in values.iter().enumerate() {
                panel[r * MR + i] = v;
            }
        }
    }
    packed
}

/// One column chunk: every panel of `a` along all of `b`'s columns.
fn columns(
    packed: &[f32],
    b: &ArrayView2<'_, f32>,
    c: &mut ArrayViewMut2<'_, f32>,
    padded: &mut Vec<f32>,
    tile: Tile,
) {
    let ((k, n), m) = (b.dim(), c.nrows());
    let full = n / NR * NR;
    // The last partial tile's columns of `b`, zero-padded to `NR`.
    let rest = n - full;
    padded.clear();
    if rest > 0 {
        padded.resize(k * NR, 0.0);
        for (r, row) in b.slice(s![.., full..]).rows().into_iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                padded[r * NR + j] = v;
            }
        }
    }
    let (ldb, ldc) = (b.strides()[0], c.strides()[0]);
    let mut spare = [0.0f32; MR * NR];
    for (p, panel) in packed.chunks_exact(k * MR).enumerate() {
        let rows = MR.min(m - p * MR);
        let mut j = 0;
        while j < full {
            // A full panel writes its tile into `c`, a partial one into
            // `spare` (a local `MR × NR` array, row stride `NR`), whose
            // rows that exist are then copied out.
            let (dst, ldd) = if rows == MR {
                // Rows `p · MR + i` with `i < MR` (all `< m`: the panel is
                // full) and columns `j..j + NR` (`j + NR <= full <= n`) are
                // elements of `c` (invariant 1 of `exec`).
                let first = c.as_mut_ptr().wrapping_offset(ldc * (p * MR) as isize);
                (first.wrapping_add(j), ldc)
            } else {
                (spare.as_mut_ptr(), NR as isize)
            };
            // SAFETY: `panel` holds `MR · k` elements; rows `r < k` and
            // columns `j..j + NR` of `b` are elements of a live view; the
            // destination's `MR × NR` tile is elements of `c` (above) or
            // `spare`: distinct indices distinct elements, overlapping
            // neither input (`c` is borrowed exclusively).
            unsafe { run(tile, panel.as_ptr(), b.as_ptr().add(j), ldb, k, dst, ldd) };
            if rows < MR {
                let mut out = c.slice_mut(s![p * MR..p * MR + rows, j..j + NR]);
                for (i, mut row) in out.rows_mut().into_iter().enumerate() {
                    row.assign(&ndarray::aview1(&spare[i * NR..(i + 1) * NR]));
                }
            }
            j += NR;
        }
        if rest > 0 {
            // SAFETY: `panel` holds `MR · k` elements and `padded` `k ·
            // NR` (row stride `NR`); the result goes to `spare`, a local
            // `MR × NR` array (row stride `NR`).
            unsafe {
                run(
                    tile,
                    panel.as_ptr(),
                    padded.as_ptr(),
                    NR as isize,
                    k,
                    spare.as_mut_ptr(),
                    NR as isize,
                )
            };
            let mut out = c.slice_mut(s![p * MR..p * MR + rows, full..]);
            for (i, mut row) in out.rows_mut().into_iter().enumerate() {
                row.assign(&ndarray::aview1(&spare[i * NR..i * NR + rest]));
            }
        }
    }
}

/// One `MR × NR` tile by `tile`: `c[i · ldc + j] = Σ_r a[r · MR + i] ·
/// b[r · ldb + j]` for `i < MR`, `j < NR`, `r < k`.
///
/// # Safety
///
/// `a + t` for `t < MR · k` and `b + r · ldb + j` for `r < k`, `j < NR`
/// are readable `f32`; `c + i · ldc + j` for `i < MR`, `j < NR` are
/// writable `f32`, distinct for distinct `(i, j)`, overlapping neither
/// `a`'s nor `b`'s elements. [`Tile::Avx2`] only on a CPU with AVX2 and
/// FMA (invariant 6 of `exec`).
#[inline]
unsafe fn run(
    tile: Tile,
    a: *const f32,
    b: *const f32,
    ldb: isize,
    k: usize,
    c: *mut f32,
    ldc: isize,
) {
    match tile {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: this function's contract, which is the kernel's.
        Tile::Avx2 => unsafe { avx2_tile(a, b, ldb, k, c, ldc) },
        #[cfg(not(target_arch = "x86_64"))]
        Tile::Avx2 => unreachable!("AVX2 is only detected on x86-64"),
        // SAFETY: this function's contract, which is the kernel's.
        Tile::Scalar => unsafe { scalar_tile(a, b, ldb, k, c, ldc) },
    }
}

/// The tile in plain code: the same reads and writes as [`avx2_tile`].
///
/// # Safety
///
/// As [`run`].
unsafe fn scalar_tile(a: *const f32, b: *const f32, ldb: isize, k: usize, c: *mut f32, ldc: isize) {
    let mut acc = [[0.0f32; NR]; MR];
    for r in 0..k {
        for (i, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `r · MR + i < MR · k` (contract of `run`).
            let x = unsafe { *a.add(r * MR + i) };
            for (j, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `r < k`, `j < NR` (contract of `run`).
                *acc = x.mul_add(unsafe { *b.offset(r as isize * ldb + j as isize) }, *acc);
            }
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        for (j, &v) in acc.iter().enumerate() {
            // SAFETY: `i < MR`, `j < NR` (contract of `run`).
            unsafe { *c.offset(i as isize * ldc + j as isize) = v };
        }
    }
}

/// The tile in twelve AVX2 registers: per contracted index, two loads of
/// `b`'s row, and for each of the six rows of `a` a broadcast and two
/// fused multiply-adds.
///
/// # Safety
///
/// As [`run`], and the CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_tile(a: *const f32, b: *const f32, ldb: isize, k: usize, c: *mut f32, ldc: isize) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    for r in 0..k {
        // SAFETY: row `r < k` of `b`, columns `0..8` and `8..16` (contract
        // of `run`); unaligned loads. The prefetch of the line two tiles
        // on (which may lie past the row: a prefetch never faults, and the
        // address is only formed, with `wrapping_add`) starts the next
        // tiles' reads from memory while this one computes.
        let (b0, b1) = unsafe {
            let row = b.offset(r as isize * ldb);
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(4 * NR).cast::<i8>());
            (_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8)))
        };
        for (i, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `r · MR + i < MR · k` (contract of `run`).
            let x = _mm256_set1_ps(unsafe { *a.add(r * MR + i) });
            acc[0] = _mm256_fmadd_ps(x, b0, acc[0]);
            acc[1] = _mm256_fmadd_ps(x, b1, acc[1]);
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        // SAFETY: row `i < MR` of `c`, columns `0..8` and `8..16` (contract
        // of `run`); unaligned stores.
        unsafe {
            let row = c.offset(i as isize * ldc);
            _mm256_storeu_ps(row, acc[0]);
            _mm256_storeu_ps(row.add(8), acc[1]);
        }
    }
}

/// Rows of `a` per matrix-vector step: each row's sum is one AVX2
/// register, and `x` is loaded once for all of them.
const MV_ROWS: usize = 4;
/// Shortest rows worth [`mat_vec`] (below, ndarray's dot products).
const MV_MIN_LEN: usize = 32;

/// `y = a · x` when the element type is `f32`, `a`'s rows are contiguous
/// and at least [`MV_MIN_LEN`] long, and the CPU has AVX2 and FMA; returns
/// `false`, having written nothing, otherwise. `a` is `m × k`, `x` `k` and
/// `y` `m` long, in any layout.
///
/// A matrix-vector product reads each element of `a` once: it runs at the
/// speed `a` streams in, and ndarray's dot products (eight scalar sums)
/// did not keep up with it.
pub(crate) fn mat_vec<A: 'static>(
    a: &ArrayView2<'_, A>,
    x: &ArrayView1<'_, A>,
    y: &mut ArrayViewMut1<'_, A>,
) -> bool {
    let (m, k) = a.dim();
    if TypeId::of::<A>() != TypeId::of::<f32>()
        || k < MV_MIN_LEN
        || x.len() != k
        || y.len() != m
        || a.strides()[1] != 1
        || !has_avx2_fma()
    {
        return false;
    }
    let a = a.raw_view().cast::<f32>();
    let x = x.raw_view().cast::<f32>();
    let y = y.raw_view_mut().cast::<f32>();
    // SAFETY: as in `oriented`: `A` is `f32`, so each raw view is the same
    // live view typed as what it holds, borrowed as the originals are.
    let (a, x, mut y) = unsafe {
        (
            a.deref_into_view(),
            x.deref_into_view(),
            y.deref_into_view_mut(),
        )
    };
    mat_vec_f32(&a, &x, &mut y, Tile::Avx2);
    true
}

/// `y = a · x` for `a` with contiguous rows (the caller checked); `tile`
/// is [`Tile::Scalar`] or, on a CPU with AVX2 and FMA, [`Tile::Avx2`].
pub(crate) fn mat_vec_f32(
    a: &ArrayView2<'_, f32>,
    x: &ArrayView1<'_, f32>,
    y: &mut ArrayViewMut1<'_, f32>,
    tile: Tile,
) {
    let (m, k) = a.dim();
    assert!(x.len() == k && y.len() == m, "operand shapes");
    let copied;
    let x = match x.as_slice() {
        Some(x) => x,
        None => {
            copied = x.to_vec();
            &copied
        }
    };
    let row = |i: usize| a.row(i).to_slice().expect("contiguous rows");
    let mut i = 0;
    while i + MV_ROWS <= m {
        let rows = [row(i), row(i + 1), row(i + 2), row(i + 3)];
        for (r, v) in dots(tile, rows, x).into_iter().enumerate() {
            y[i + r] = v;
        }
        i += MV_ROWS;
    }
    for i in i..m {
        y[i] = dots(tile, [row(i)], x)[0];
    }
}

/// The dot products of `N` rows with `x` (all `x.len()` long).
fn dots<const N: usize>(tile: Tile, rows: [&[f32]; N], x: &[f32]) -> [f32; N] {
    let rows = rows.map(|row| &row[..x.len()]);
    match tile {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Tile::Avx2` is only chosen after `has_avx2_fma`
        // (invariant 6 of `exec`).
        Tile::Avx2 => unsafe { avx2_dots(rows, x) },
        #[cfg(not(target_arch = "x86_64"))]
        Tile::Avx2 => unreachable!("AVX2 is only detected on x86-64"),
        Tile::Scalar => scalar_dots(rows, x),
    }
}

/// [`dots`] in plain code, summed in the same order as [`avx2_dots`]:
/// eight lanes over whole runs of eight, then the lanes, then the rest.
fn scalar_dots<const N: usize>(rows: [&[f32]; N], x: &[f32]) -> [f32; N] {
    rows.map(|row| {
        let mut lanes = [0.0f32; 8];
        let whole = x.len() / 8 * 8;
        for (r, x) in row[..whole].chunks_exact(8).zip(x[..whole].chunks_exact(8)) {
            for ((l, &r), &x) in lanes.iter_mut().zip(r).zip(x) {
                *l = r.mul_add(x, *l);
            }
        }
        let sum = lane_sum(lanes);
        row[whole..]
            .iter()
            .zip(&x[whole..])
            .fold(sum, |s, (&r, &x)| r.mul_add(x, s))
    })
}

/// The sum of eight lanes, pairwise as [`avx2_dots`] adds them.
fn lane_sum(l: [f32; 8]) -> f32 {
    let q = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
    let d = [q[0] + q[2], q[1] + q[3]];
    d[0] + d[1]
}

/// [`dots`] in AVX2 registers: per eight elements, one load of `x`, and
/// for each row a load and a fused multiply-add.
///
/// # Safety
///
/// The CPU has AVX2 and FMA (invariant 6 of `exec`). Every load reads a
/// slice of eight elements.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_dots<const N: usize>(rows: [&[f32]; N], x: &[f32]) -> [f32; N] {
    use std::arch::x86_64::*;
    let whole = x.len() / 8 * 8;
    let mut acc = [_mm256_setzero_ps(); N];
    for (j, xs) in x[..whole].chunks_exact(8).enumerate() {
        // SAFETY: `xs` is eight `f32`s; unaligned load.
        let xv = unsafe { _mm256_loadu_ps(xs.as_ptr()) };
        for (acc, row) in acc.iter_mut().zip(&rows) {
            let r = &row[j * 8..j * 8 + 8];
            // SAFETY: `r` is eight `f32`s; unaligned load.
            *acc = _mm256_fmadd_ps(unsafe { _mm256_loadu_ps(r.as_ptr()) }, xv, *acc);
        }
    }
    let mut out = [0.0; N];
    for ((o, acc), row) in out.iter_mut().zip(acc).zip(&rows) {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` is eight `f32`s; unaligned store.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        let sum = lane_sum(lanes);
        *o = row[whole..]
            .iter()
            .zip(&x[whole..])
            .fold(sum, |s, (&r, &x)| r.mul_add(x, s));
    }
    out
}
