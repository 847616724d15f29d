//! When kernels use threads and streaming stores, and the one helper that
//! splits a kernel's work over the thread pool ([`chunked`]), shared by
//! the copies and the pooling kernel.

use std::sync::atomic::{AtomicUsize, Ordering};

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

/// The size in bytes from which bit copies use streaming stores.
pub(super) fn stream_bytes() -> usize {
    STREAM_BYTES.load(Ordering::Relaxed)
}

/// How many threads a kernel moving `bytes` should use: 1 below the
/// threshold (without touching the pool), else the pool's size.
pub(super) fn threads_for(bytes: usize) -> usize {
    #[cfg(feature = "rayon")]
    if bytes >= PARALLEL_BYTES.load(Ordering::Relaxed) {
        return rayon::current_num_threads();
    }
    let _ = bytes;
    1
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
// thread its own range of one axis (invariant 3, and `chunked`'s
// contract).
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

/// Calls `f(range, src, dst)` on the pool for consecutive ranges that
/// cover `0..len` once: about four per thread, each a multiple of `grain`
/// long (but the last).
///
/// # Safety
///
/// For distinct ranges, `f` reads only `S`s through `src` and writes
/// disjoint `D`s through `dst`, and every access is one its caller may
/// make.
#[cfg(feature = "rayon")]
pub(super) unsafe fn chunked<S: Sync, D: Send>(
    len: usize,
    grain: usize,
    threads: usize,
    src: *const S,
    dst: *mut D,
    f: impl Fn(std::ops::Range<usize>, *const S, *mut D) + Sync,
) {
    use rayon::prelude::*;
    let grain = grain.max(1);
    let pieces = (threads * 4).min(len.div_ceil(grain)).max(1);
    let chunk = (len.div_ceil(pieces).div_ceil(grain) * grain).max(1);
    let shared = Shared { src, dst };
    (0..len.div_ceil(chunk)).into_par_iter().for_each(|p| {
        let (src, dst) = shared.get();
        let start = p * chunk;
        f(start..(start + chunk).min(len), src, dst);
    });
}
