//! x86-64 micro-kernels: in-register transposes for 4- and 8-byte
//! elements, the pairwise pooling rows of `f32` and `i32`, and streaming
//! copies.
//!
//! The transposes and pooling rows are `#[target_feature(enable = "avx")]`:
//! callers in [`bits`](super::bits) and [`pool`](super::pool) check
//! `is_x86_feature_detected!("avx")` first (invariant 6 of [`exec`](super)); the
//! streaming copy needs only SSE2, which every x86-64 CPU has. They take
//! raw pointers with strides in elements; each documents, under *Safety*,
//! the offsets it reads and writes, which the caller has proven in bounds
//! (invariants 1–3 of [`exec`](super)). The kernels only move bits (loads, shuffles and
//! stores) except the pooling rows, whose arithmetic matches the scalar
//! code bit for bit: the same `f64` additions in the same order.
//!
//! *Streaming* (non-temporal) stores write around the caches. For outputs
//! much larger than the caches they save reading each destination line
//! before writing it; they are weakly ordered, so a kernel that used them
//! ends with [`fence`] before its writes can be seen by another thread.

use std::arch::x86_64::*;

use super::pool::Scale;

/// Transposes an `m × n` tile of 4-byte elements: `dst[i * di + j] =
/// src[i + j * sj]` for `i < m`, `j < n`. Full 8 × 8 blocks go through
/// registers, the ragged edges element by element. With `stream`, the
/// blocks' rows are written with streaming stores.
///
/// With `ahead > 0`, the blocks at `(i, j)` first prefetch eight 64-byte
/// lines of the input rows from `j + ahead` on, over their first `m`
/// elements, taken in order: lines `i .. i + 8` of them. in a tile 16
/// rows long (`n` = 16, one pair of blocks per row block), the row blocks
/// together prefetch the 16 rows `ahead` further on, which is the tile
/// `ahead / 16` tiles later when tiles follow each other along `j`. In a
/// 64 × 16 tile each row block prefetches two whole rows.
///
/// # Safety
///
/// The CPU supports AVX; every `src + i + j * sj` and `dst + i * di + j`
/// with `i < m`, `j < n` is a valid element to read or write, and the two
/// ranges do not overlap. With `stream`, `dst` is 16-byte aligned and `di`
/// a multiple of 4. (Prefetched addresses need not be valid.)
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx")]
pub(super) unsafe fn transpose_u32(
    src: *const u32,
    sj: isize,
    dst: *mut u32,
    di: isize,
    m: usize,
    n: usize,
    stream: bool,
    ahead: isize,
) {
    // SAFETY: `block_u32` moves the 8 × 8 block at `(i, j)`, and
    // `pair_u32` the 8 × 16 one, inside the tile as `by_blocks` promises,
    // so every offset they touch is valid (this function's contract);
    // their destination rows start 16-byte aligned when `stream` (`dst`
    // aligned, `di` and `j` multiples of 4), and 32-byte aligned where
    // pairs are used (`dst` and `di` as `pairs` requires, `j` a multiple
    // of 8). A prefetch reads nothing the program can see, and its
    // address, made with wrapping arithmetic, may lie anywhere.
    unsafe {
        let pairs = stream && dst.align_offset(32) == 0 && di % 8 == 0;
        // 64-byte lines per row of the tile, for the prefetch.
        let per_row = (m * 4).div_ceil(64).max(1) as isize;
        by_blocks::<_, 8>(src, sj, dst, di, m, n, pairs, |i, j, two| {
            if ahead > 0 {
                // Lines `i .. i + 8` (`i` steps by 8) of the rows `ahead`
                // on, taken in row order.
                let (mut row, mut line) = (j + ahead + i / per_row, i % per_row);
                for _ in 0..8 {
                    let at = src.wrapping_offset(row * sj + line * 16);
                    _mm_prefetch::<_MM_HINT_T0>(at.cast());
                    line += 1;
                    if line == per_row {
                        (row, line) = (row + 1, 0);
                    }
                }
            }
            let (s, d) = (src.offset(i + j * sj), dst.offset(i * di + j));
            if two {
                pair_u32(s, sj, d, di)
            } else {
                block_u32(s, sj, d, di, stream)
            }
        })
    }
}

/// The loops of a blocked transpose (`dst[i * di + j] = src[i + j * sj]`,
/// `i < m`, `j < n`): `block(i, j, false)` for every full `B × B` block,
/// row blocks outside so that consecutive blocks finish the same
/// destination lines (which streaming stores need), then the ragged edges
/// element by element. With `pairs`, two blocks side by side along `j` are
/// one call, `block(i, j, true)` for the `B × 2B` block at `(i, j)`, so
/// that a kernel can write each of its destination rows whole.
///
/// # Safety
///
/// Every `src + i + j * sj` and `dst + i * di + j` with `i < m`, `j < n`
/// is a valid element to read or write, and `block(i, j, two)` is sound
/// when its block `i..i + B`, `j..j + B` (`j..j + 2B` if `two`) lies
/// inside the tile.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn by_blocks<T: Copy, const B: usize>(
    src: *const T,
    sj: isize,
    dst: *mut T,
    di: isize,
    m: usize,
    n: usize,
    pairs: bool,
    mut block: impl FnMut(isize, isize, bool),
) {
    let (mb, nb) = (m - m % B, n - n % B);
    for i in (0..mb).step_by(B) {
        let mut j = 0;
        while j < nb {
            // `i + B <= mb <= m`, and `j + 2B <= nb <= n` for a pair (else
            // `j + B <= nb`): inside the tile.
            let two = pairs && j + 2 * B <= nb;
            block(i as isize, j as isize, two);
            j += if two { 2 * B } else { B };
        }
    }
    // The edges: columns `mb..m` of every row, then rows `nb..n`.
    for j in 0..n as isize {
        let from = if (j as usize) < nb { mb } else { 0 };
        for i in from as isize..m as isize {
            // SAFETY: `i < m`, `j < n`: inside the tile.
            unsafe { *dst.offset(i * di + j) = *src.offset(i + j * sj) };
        }
    }
}

/// Stores 8 lanes at `d`: unaligned, or as two 16-byte streaming stores.
///
/// # Safety
///
/// AVX; `d .. d + 8` valid to write; with `stream`, `d` 16-byte aligned.
#[target_feature(enable = "avx")]
#[inline]
unsafe fn put_ps(d: *mut f32, v: __m256, stream: bool) {
    // SAFETY: as this function's contract.
    unsafe {
        if stream {
            _mm_stream_ps(d, _mm256_castps256_ps128(v));
            _mm_stream_ps(d.add(4), _mm256_extractf128_ps::<1>(v));
        } else {
            _mm256_storeu_ps(d, v);
        }
    }
}

/// One 8 × 8 block of [`transpose_u32`].
///
/// # Safety
///
/// AVX; `src + i + j * sj` and `dst + i * di + j` valid for `i, j < 8`;
/// with `stream`, every `dst + i * di` 16-byte aligned.
#[target_feature(enable = "avx")]
#[inline]
unsafe fn block_u32(src: *const u32, sj: isize, dst: *mut u32, di: isize, stream: bool) {
    let d = dst.cast::<f32>();
    // SAFETY: the source rows are valid to read (contract); row `r < 8` of
    // the destination is the 8 elements at `dst + r * di`, valid by the
    // contract, 16-byte aligned with `stream`.
    unsafe {
        let rows = transposed_u32(src, sj);
        for (r, v) in rows.into_iter().enumerate() {
            put_ps(d.offset(r as isize * di), v, stream);
        }
    }
}

/// Two 8 × 8 blocks of [`transpose_u32`] side by side (at `src` and at
/// `src + 8 * sj`), written as eight whole 16-element rows with 32-byte
/// streaming stores: each row (a cache line, when 64-byte aligned) is
/// finished before the next begins.
///
/// # Safety
///
/// AVX; `src + i + j * sj` valid to read for `i < 8`, `j < 16`, and every
/// `dst + i * di .. dst + i * di + 16`, `i < 8`, valid to write and
/// 32-byte aligned.
#[target_feature(enable = "avx")]
#[inline]
unsafe fn pair_u32(src: *const u32, sj: isize, dst: *mut u32, di: isize) {
    let d = dst.cast::<f32>();
    // SAFETY: both blocks' source rows are valid to read (contract); the
    // stores write the 16 elements of destination row `r < 8` at 32-byte
    // aligned addresses (contract).
    unsafe {
        let left = transposed_u32(src, sj);
        let right = transposed_u32(src.offset(8 * sj), sj);
        for (r, (a, b)) in left.into_iter().zip(right).enumerate() {
            let row = d.offset(r as isize * di);
            _mm256_stream_ps(row, a);
            _mm256_stream_ps(row.add(8), b);
        }
    }
}

/// The 8 × 8 block of 4-byte elements at `src` (rows `src + r * sj`),
/// transposed: element `j` of row `i` of the result is `src[i + j * sj]`.
///
/// # Safety
///
/// AVX; `src + i + j * sj` valid to read for `i, j < 8`.
#[target_feature(enable = "avx")]
#[inline]
unsafe fn transposed_u32(src: *const u32, sj: isize) -> [__m256; 8] {
    let s = src.cast::<f32>();
    // SAFETY: row `r < 8` of the source is the 8 elements at `src + r *
    // sj`, valid by the contract. The f32 lanes only carry bits; shuffles
    // and unaligned loads do not alter them.
    unsafe {
        let r0 = _mm256_loadu_ps(s);
        let r1 = _mm256_loadu_ps(s.offset(sj));
        let r2 = _mm256_loadu_ps(s.offset(2 * sj));
        let r3 = _mm256_loadu_ps(s.offset(3 * sj));
        let r4 = _mm256_loadu_ps(s.offset(4 * sj));
        let r5 = _mm256_loadu_ps(s.offset(5 * sj));
        let r6 = _mm256_loadu_ps(s.offset(6 * sj));
        let r7 = _mm256_loadu_ps(s.offset(7 * sj));
        let t0 = _mm256_unpacklo_ps(r0, r1);
        let t1 = _mm256_unpackhi_ps(r0, r1);
        let t2 = _mm256_unpacklo_ps(r2, r3);
        let t3 = _mm256_unpackhi_ps(r2, r3);
        let t4 = _mm256_unpacklo_ps(r4, r5);
        let t5 = _mm256_unpackhi_ps(r4, r5);
        let t6 = _mm256_unpacklo_ps(r6, r7);
        let t7 = _mm256_unpackhi_ps(r6, r7);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }
}

/// Transposes an `m × n` tile of 8-byte elements: `dst[i * di + j] =
/// src[i + j * sj]`, with 4 × 4 blocks in registers.
///
/// # Safety
///
/// As [`transpose_u32`], except that with `stream`, `di` is even.
#[target_feature(enable = "avx")]
pub(super) unsafe fn transpose_u64(
    src: *const u64,
    sj: isize,
    dst: *mut u64,
    di: isize,
    m: usize,
    n: usize,
    stream: bool,
) {
    // SAFETY: `block_u64` moves the 4 × 4 block at `(i, j)`, and
    // `pair_u64` the 4 × 8 one, inside the tile as `by_blocks` promises;
    // their destination rows start 16-byte aligned when `stream` (`dst`
    // aligned, `di` and `j` even), and 32-byte aligned where pairs are
    // used (`dst` and `di` as `pairs` requires, `j` a multiple of 4).
    unsafe {
        let pairs = stream && dst.align_offset(32) == 0 && di % 4 == 0;
        by_blocks::<_, 4>(src, sj, dst, di, m, n, pairs, |i, j, two| {
            let (s, d) = (src.offset(i + j * sj), dst.offset(i * di + j));
            if two {
                pair_u64(s, sj, d, di)
            } else {
                block_u64(s, sj, d, di, stream)
            }
        })
    }
}

/// Stores 4 lanes at `d`: unaligned, or as two 16-byte streaming stores.
///
/// # Safety
///
/// AVX; `d .. d + 4` valid to write; with `stream`, `d` 16-byte aligned.
#[target_feature(enable = "avx")]
#[inline]
unsafe fn put_pd(d: *mut f64, v: __m256d, stream: bool) {
    // SAFETY: as this function's contract.
    unsafe {
        if stream {
            _mm_stream_pd(d, _mm256_castpd256_pd128(v));
            _mm_stream_pd(d.add(2), _mm256_extractf128_pd::<1>(v));
        } else {
            _mm256_storeu_pd(d, v);
        }
    }
}

/// One 4 × 4 block of [`transpose_u64`].
///
/// # Safety
///
/// AVX; `src + i + j * sj` and `dst + i * di + j` valid for `i, j < 4`;
/// with `stream`, every `dst + i * di` 16-byte aligned.
#[target_feature(enable = "avx")]
#[inline]
unsafe fn block_u64(src: *const u64, sj: isize, dst: *mut u64, di: isize, stream: bool) {
    let d = dst.cast::<f64>();
    // SAFETY: the source rows are valid to read (contract); row `r < 4` of
    // the destination is the 4 elements at `dst + r * di`, valid by the
    // contract, 16-byte aligned with `stream`.
    unsafe {
        let rows = transposed_u64(src, sj);
        for (r, v) in rows.into_iter().enumerate() {
            put_pd(d.offset(r as isize * di), v, stream);
        }
    }
}

/// Two 4 × 4 blocks of [`transpose_u64`] side by side (at `src` and at
/// `src + 4 * sj`), written as four whole 8-element rows with 32-byte
/// streaming stores, as [`pair_u32`] does.
///
/// # Safety
///
/// AVX; `src + i + j * sj` valid to read for `i < 4`, `j < 8`, and every
/// `dst + i * di .. dst + i * di + 8`, `i < 4`, valid to write and 32-byte
/// aligned.
#[target_feature(enable = "avx")]
#[inline]
unsafe fn pair_u64(src: *const u64, sj: isize, dst: *mut u64, di: isize) {
    let d = dst.cast::<f64>();
    // SAFETY: both blocks' source rows are valid to read (contract); the
    // stores write the 8 elements of destination row `r < 4` at 32-byte
    // aligned addresses (contract).
    unsafe {
        let left = transposed_u64(src, sj);
        let right = transposed_u64(src.offset(4 * sj), sj);
        for (r, (a, b)) in left.into_iter().zip(right).enumerate() {
            let row = d.offset(r as isize * di);
            _mm256_stream_pd(row, a);
            _mm256_stream_pd(row.add(4), b);
        }
    }
}

/// The 4 × 4 block of 8-byte elements at `src` (rows `src + r * sj`),
/// transposed: element `j` of row `i` of the result is `src[i + j * sj]`.
///
/// # Safety
///
/// AVX; `src + i + j * sj` valid to read for `i, j < 4`.
#[target_feature(enable = "avx")]
#[inline]
unsafe fn transposed_u64(src: *const u64, sj: isize) -> [__m256d; 4] {
    let s = src.cast::<f64>();
    // SAFETY: rows `r < 4` of 4 elements at `src + r * sj`, valid by the
    // contract; the f64 lanes only carry bits.
    unsafe {
        let r0 = _mm256_loadu_pd(s);
        let r1 = _mm256_loadu_pd(s.offset(sj));
        let r2 = _mm256_loadu_pd(s.offset(2 * sj));
        let r3 = _mm256_loadu_pd(s.offset(3 * sj));
        let t0 = _mm256_unpacklo_pd(r0, r1);
        let t1 = _mm256_unpackhi_pd(r0, r1);
        let t2 = _mm256_unpacklo_pd(r2, r3);
        let t3 = _mm256_unpackhi_pd(r2, r3);
        [
            _mm256_permute2f128_pd::<0x20>(t0, t2),
            _mm256_permute2f128_pd::<0x20>(t1, t3),
            _mm256_permute2f128_pd::<0x31>(t0, t2),
            _mm256_permute2f128_pd::<0x31>(t1, t3),
        ]
    }
}

/// Rows of pooling with windows of `k` adjacent elements (`k` is 1 or
/// 2), of `f32` (`INT` false) or `i32` (`INT` true) elements. For `row <
/// rows` and `w < width`, with `at = row * rs + r * sr + w * k + j`, the
/// sum `acc = Σ_{r < depth} Σ_{j < k} src[at]` is added in that order in
/// `f64` starting from 0; `dst[row * width + w]` is `scale(acc)` rounded
/// to `f32`, or for `i32` the sum itself when the type holds it. Four
/// outputs at a time in registers; when `width` is not a multiple of 4,
/// the last four of a row overlap the four before them, whose outputs
/// they write again with the same values.
///
/// Returns `false` if an `i32` sum was out of range; its group of four
/// outputs is then left unwritten.
///
/// # Safety
///
/// AVX; `k` is 1 or 2; `width >= 4`; `src + row * rs + r * sr + i` is a
/// valid element to read for `row < rows`, `r < depth`, `i < width * k`;
/// `dst + i` valid to write for `i < rows * width`. With `INT`, `src` and
/// `dst` point to `i32`s, and the sums are exact in `f64` (windows of at
/// most 2^20 elements).
#[target_feature(enable = "avx")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn pool_rows<const INT: bool>(
    src: *const f32,
    rs: isize,
    rows: usize,
    sr: isize,
    depth: usize,
    k: usize,
    dst: *mut f32,
    width: usize,
    scale: Scale,
) -> bool {
    // Four elements (as bits) widened to `f64`, exactly.
    let widen = |v: __m128| {
        if INT {
            _mm256_cvtepi32_pd(_mm_castps_si128(v))
        } else {
            _mm256_cvtps_pd(v)
        }
    };
    let mut in_range = true;
    let last = width - 4;
    for row in 0..rows {
        // SAFETY: row `row < rows` of the input and of the output.
        let (s, d) = unsafe { (src.offset(row as isize * rs), dst.add(row * width)) };
        let mut w = 0;
        loop {
            // Outputs `w..w + 4`, the last group moved back to end the row.
            w = w.min(last);
            let mut acc = _mm256_setzero_pd();
            for r in 0..depth as isize {
                // SAFETY: the windows of outputs `w..w + 4` in input row
                // `r` are `s + r * sr + (w * k .. (w + 4) * k)`, inside the
                // row (`w + 4 <= width`). The loads and shuffles move bits,
                // whatever the element type.
                unsafe {
                    let p = s.offset(r * sr + (w * k) as isize);
                    if k == 1 {
                        acc = _mm256_add_pd(acc, widen(_mm_loadu_ps(p)));
                    } else {
                        let lo = _mm_loadu_ps(p);
                        let hi = _mm_loadu_ps(p.add(4));
                        let even = _mm_shuffle_ps::<0b10_00_10_00>(lo, hi);
                        let odd = _mm_shuffle_ps::<0b11_01_11_01>(lo, hi);
                        acc = _mm256_add_pd(acc, widen(even));
                        acc = _mm256_add_pd(acc, widen(odd));
                    }
                }
            }
            // SAFETY: `d + w .. d + w + 4` with `w + 4 <= width`.
            let out = unsafe { d.add(w) };
            if INT {
                // The exact sums, stored when all four fit `i32` (a whole
                // number in range converts exactly).
                let fits = _mm256_and_pd(
                    _mm256_cmp_pd::<_CMP_GE_OQ>(acc, _mm256_set1_pd(i32::MIN as f64)),
                    _mm256_cmp_pd::<_CMP_LE_OQ>(acc, _mm256_set1_pd(i32::MAX as f64)),
                );
                if _mm256_movemask_pd(fits) == 0b1111 {
                    // SAFETY: as above; unaligned.
                    unsafe { _mm_storeu_si128(out.cast(), _mm256_cvtpd_epi32(acc)) };
                } else {
                    in_range = false;
                }
            } else {
                let v = match scale {
                    Scale::One => acc,
                    Scale::Times(f) => _mm256_mul_pd(acc, _mm256_set1_pd(f)),
                    Scale::Over(c) => _mm256_div_pd(acc, _mm256_set1_pd(c)),
                };
                // SAFETY: as above.
                unsafe { _mm_storeu_ps(out, _mm256_cvtpd_ps(v)) };
            }
            if w == last {
                break;
            }
            w += 4;
        }
    }
    in_range
}

/// Copies `bytes` bytes from `src` to `dst`, the 16-byte-aligned part of
/// the destination with streaming stores.
///
/// # Safety
///
/// `src .. src + bytes` valid to read, `dst .. dst + bytes` valid to
/// write, not overlapping.
pub(super) unsafe fn stream_copy(src: *const u8, dst: *mut u8, bytes: usize) {
    let head = dst.align_offset(16).min(bytes);
    let body = (bytes - head) & !63;
    let tail = bytes - head - body;
    // SAFETY: `head + body + tail == bytes`, so every range below lies
    // within the two buffers (this function's contract); `dst + head` is
    // 16-byte aligned and so is every 16-byte step from it.
    unsafe {
        if head > 0 {
            std::ptr::copy_nonoverlapping(src, dst, head);
        }
        let (mut s, mut d) = (
            src.add(head).cast::<__m128i>(),
            dst.add(head).cast::<__m128i>(),
        );
        let end = d.add(body / 16);
        while d < end {
            let a = _mm_loadu_si128(s);
            let b = _mm_loadu_si128(s.add(1));
            let c = _mm_loadu_si128(s.add(2));
            let e = _mm_loadu_si128(s.add(3));
            _mm_stream_si128(d, a);
            _mm_stream_si128(d.add(1), b);
            _mm_stream_si128(d.add(2), c);
            _mm_stream_si128(d.add(3), e);
            s = s.add(4);
            d = d.add(4);
        }
        if tail > 0 {
            std::ptr::copy_nonoverlapping(s.cast::<u8>(), d.cast::<u8>(), tail);
        }
    }
}

/// Orders earlier streaming stores before every later store, so that
/// whoever synchronises with this thread afterwards sees them.
pub(super) fn fence() {
    // SAFETY: `sfence` has no operands and is part of SSE, which every
    // x86-64 CPU has.
    unsafe { _mm_sfence() }
}
