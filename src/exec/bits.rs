//! Bit copies of primitive elements: which element types qualify
//! (invariant 5), the tile sizes and AVX transposes of each width, and
//! streaming stores for large outputs. Large copies go to the pool.

use std::marker::PhantomData;

use super::nest::{Body, Mover, Tile, by_lines, run};
#[cfg(target_arch = "x86_64")]
use super::simd;
use super::threads::stream_bytes;
#[cfg(feature = "rayon")]
use super::threads::threads_for;
use crate::layout::Loop;

/// The size of `A` if it is a primitive number or `bool`.
pub(super) fn word_width<A>() -> Option<usize> {
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

/// Bit copies of elements `width` bytes wide (1, 2, 4 or 8; others copy
/// nothing and return `false`).
///
/// Not generic, so it is compiled once, here, at this crate's
/// optimisation level, rather than in each caller's crate at the
/// caller's: a debug build with `[profile.dev.package.einplan]
/// opt-level = 3` copies at release speed.
///
/// # Safety
///
/// As [`run`], for elements of `width` bytes: `src` and `dst` point at
/// elements of a primitive type of that width (invariant 5).
#[inline(never)]
pub(super) unsafe fn words_of(
    width: usize,
    src: *const u8,
    dst: *mut u8,
    loops: &[Loop],
    body: Body,
) -> bool {
    let (s, d) = (src, dst);
    // SAFETY: in each arm, as this function's contract: the pointers are
    // to elements of that width.
    unsafe {
        match width {
            1 => words::<u8>(s, d, loops, body),
            2 => words::<u16>(s.cast(), d.cast(), loops, body),
            4 => words::<u32>(s.cast(), d.cast(), loops, body),
            8 => words::<u64>(s.cast(), d.cast(), loops, body),
            _ => return false,
        }
    }
    true
}

/// Bit copies of one width, on the pool when they are large.
///
/// # Safety
///
/// As [`run`].
pub(super) unsafe fn words<T: Word>(src: *const T, dst: *mut T, loops: &[Loop], body: Body) {
    let count: usize = loops.iter().map(|l| l.len).product();
    let bytes = count.saturating_mul(size_of::<T>());
    let limit = stream_bytes();
    let mover = Bits::<T>::new(bytes >= limit);
    #[cfg(feature = "rayon")]
    {
        let threads = threads_for(bytes);
        if threads > 1 {
            // SAFETY: as this function's contract.
            return unsafe { super::nest::parallel(mover, src, dst, loops, body, threads) };
        }
    }
    // SAFETY: as this function's contract.
    unsafe { run(mover, src, dst, loops, body) }
}

/// A primitive element, copied as bits of its width.
pub(super) trait Word: Copy + Send + Sync {
    const TILE: (usize, usize);
    /// The tile when the input's rows along the sweep lie at most
    /// [`NEAR_ROW_BYTES`] apart.
    const NEAR_TILE: (usize, usize) = Self::TILE;

    /// The tile for input rows `row_bytes` apart, at most
    /// [`NEAR_ROW_BYTES`]: [`Word::NEAR_TILE`] unless the width knows
    /// better.
    fn near_tile(row_bytes: usize) -> (usize, usize) {
        let _ = row_bytes;
        Self::NEAR_TILE
    }

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
    // Rows far apart (W2's 16 KiB): 16 rows, 1024 elements (4 KiB) of
    // each. On a Zen 3 machine, the protocol's W2 at one thread with the
    // tile read from the environment, four alternating runs: 15.2–16.3 ms
    // in 1024 × 16 tiles against 15.8–17.7 ms in 256 × 16; 128 × 16,
    // 256 × 32, 128 × 32 and 64 × 64 were slower still (19–37 ms), 2048 ×
    // 16 and 4096 × 16 no faster than 1024 × 16.
    const TILE: (usize, usize) = (1024, 16);
    // Rows at most 1 KiB apart: see `near_tile`.
    const NEAR_TILE: (usize, usize) = (32, 256);

    // Rows at most `PREFETCH_ROW_BYTES` apart (W3's NHWC to NCHW: 256
    // bytes) are read 64 elements at a time (W3's whole rows: 4 KiB of
    // input in one run), in tiles of at least 1024 elements, prefetching
    // the rows `PREFETCH_ROWS` on as the tile goes. Without the prefetch,
    // the transposed reads were the cost: reading W3 in the transpose's
    // order took 2.7 ms against 0.8 ms for a sequential read, and writing
    // it in that order no longer than writing it sequentially (0.75
    // against 0.70 ms). Protocol, the bench binaries before and after
    // alternating, three runs: W3 2.37–2.48 ms (77–78% of memcpy, 32 × 256
    // tiles without prefetch) against 1.61–1.74 ms (102–108%). Rows up to
    // 1 KiB apart keep 32 × 256 without prefetch: NHWC to NCHW with 256
    // channels took 2.70–3.53 ms in 64 × 16 tiles against 2.20–2.38 ms
    // (with 128 channels, 1.84–2.10 against 2.98–3.14 ms). Rows far apart
    // (W2's 16 KiB) keep the long input runs: there 32 × 128 took
    // 14.6–14.8 ms against 8.9–9.3.
    //
    // Tiles are at least 32 rows long: on a Zen 3 machine, W3 took
    // 3.92–5.14 ms in 64 × 32 tiles against 4.59–5.80 ms in 64 × 16,
    // faster in each of 12 alternating pairs of protocol runs; 64 × 64
    // tiles prefetching 64 rows on were no faster than 64 × 32.
    fn near_tile(row_bytes: usize) -> (usize, usize) {
        if !prefetched(row_bytes) {
            return Self::NEAR_TILE;
        }
        let row = (row_bytes / 4).max(1);
        (64, (1024 / row / 16 * 16).clamp(32, 256))
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn transpose_avx(t: &Tile<u32, u32>, stream: bool) -> bool {
        // Streaming pays only when every tile starts whole lines: 64-byte
        // aligned rows, tiles a line wide.
        let aligned = t.dst.align_offset(64) == 0 && t.di % 16 == 0;
        let close = prefetched(t.sj.unsigned_abs().saturating_mul(4));
        let ahead = if close { PREFETCH_ROWS } else { 0 };
        // SAFETY: AVX is available, and the tile's offsets `i + j * sj`
        // and `i * di + j` are elements (contract); streaming only with the
        // alignment it needs. Prefetches may point past the tile and the
        // array: `transpose_u32` asks nothing of their addresses.
        unsafe {
            simd::transpose_u32(t.src, t.sj, t.dst, t.di, t.m, t.n, stream && aligned, ahead)
        };
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
pub(super) fn has_avx() -> bool {
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
    /// Streaming stores, for lines and for transposed tiles alike. On
    /// cold caches (the benchmark protocol) a transposed 16 MiB output
    /// (W3) ran at 70% of memcpy with them and 16% without: its tiles
    /// write 64 lines 4 KiB apart, which without streaming are each read
    /// before being written.
    stream: bool,
    _word: PhantomData<T>,
}

impl<T> Clone for Bits<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Bits<T> {}

impl<T: Word> Bits<T> {
    fn new(stream: bool) -> Bits<T> {
        let x86 = cfg!(target_arch = "x86_64");
        Bits {
            avx: has_avx(),
            stream: stream && x86,
            _word: PhantomData,
        }
    }
}

/// Input rows this close (in bytes) take [`Word::NEAR_TILE`].
const NEAR_ROW_BYTES: usize = 1024;

/// Input rows this close (in bytes) are prefetched by the `u32`
/// transpose ([`Word::near_tile`]).
const PREFETCH_ROW_BYTES: usize = 512;

/// Whether the `u32` transpose reads input rows `row_bytes` apart in
/// close-row tiles and prefetches them.
fn prefetched(row_bytes: usize) -> bool {
    row_bytes <= PREFETCH_ROW_BYTES
}

/// How many rows ahead the `u32` transpose prefetches close rows: one
/// 64 × 32 tile (W3's). (Rows far apart are not prefetched: W2, 16 KiB apart,
/// took 11.3–13.3 ms prefetching 16, 32 or 64 rows ahead against
/// 9.8–10.3 ms without.)
const PREFETCH_ROWS: isize = 32;

impl<T: Word> Mover for Bits<T> {
    type Src = T;
    type Dst = T;
    const TILE: (usize, usize) = T::TILE;

    fn tile_lens(self, step: isize) -> (usize, usize) {
        let row_bytes = step.unsigned_abs().saturating_mul(size_of::<T>());
        if row_bytes <= NEAR_ROW_BYTES {
            T::near_tile(row_bytes)
        } else {
            T::TILE
        }
    }

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
        if self.avx && t.si == 1 && t.dj == 1 && unsafe { T::transpose_avx(&t, self.stream) } {
            return;
        }
        // SAFETY: as this function's contract.
        unsafe { by_lines(self, t) }
    }

    fn head(self, dst: *mut T, dj: isize, tj: usize) -> usize {
        // Whole 64-byte lines of the output per tile, when its lines are
        // contiguous and `tj` elements make whole lines.
        let line = 64 / size_of::<T>();
        if dj != 1 || !tj.is_multiple_of(line) {
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
