//! When kernels use threads and streaming stores, and the one helper that
//! splits a kernel's work over the thread pool ([`chunked`]), shared by
//! the copies and the pooling kernel.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many bytes moved, kernels stay on the calling thread: the
/// thread pool's hand-off costs more than it saves.
const PARALLEL_DEFAULT: usize = 1 << 20;

/// From this many bytes of output, bit copies write with streaming stores
/// (on x86-64): an output this large would mostly leave the caches before
/// it is read anyway, and streaming skips reading each line before writing
/// it. On cold caches a 12 MiB space-to-depth output (W4 of the benchmark
/// protocol) took 2.15–2.35 ms with streaming against 2.54–2.73 ms without
/// (medians, three runs alternating the two), and the same when the
/// machine was quiet.
const STREAM_DEFAULT: usize = 8 << 20;

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
/// threshold (without touching the pool), else the pool's size, but no
/// more threads than there are thresholds' worth of bytes, so that each
/// thread's share outweighs its hand-off.
pub(super) fn threads_for(bytes: usize) -> usize {
    #[cfg(feature = "rayon")]
    {
        let min = PARALLEL_BYTES.load(Ordering::Relaxed);
        if bytes >= min {
            let most = bytes.checked_div(min).unwrap_or(usize::MAX);
            return rayon::current_num_threads().min(most).max(1);
        }
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

/// Calls `f(range, src, dst)` for consecutive ranges that cover `0..len`
/// once: about eight per thread, each a multiple of `grain` long (but the
/// last). The calling thread claims ranges itself, one at a time, and
/// `threads - 1` helpers on the pool claim them too as soon as they get a
/// core. When the other cores are busy with other processes, a helper
/// that has not started yet costs the call nothing (the caller does its
/// share), and one that is descheduled holds up only the range it is
/// running: the call is about as fast as on one thread, not slower.
///
/// A panic inside `f` aborts the process: helpers may still be running
/// `f`, which lives on the caller's stack. (The kernels that call this
/// only move bits and add numbers.)
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
    use std::sync::Arc;

    let grain = grain.max(1);
    let pieces = (threads * 8).min(len.div_ceil(grain)).max(1);
    let chunk = (len.div_ceil(pieces).div_ceil(grain) * grain).max(1);
    let total = len.div_ceil(chunk);
    let shared = Shared { src, dst };
    let piece = move |p: usize| {
        let (src, dst) = shared.get();
        let start = p * chunk;
        f(start..(start + chunk).min(len), src, dst);
    };
    let job: &(dyn Fn(usize) + Sync) = &piece;
    // SAFETY: only the lifetime is erased. Helpers call `job` only for a
    // range they claimed (`Claims::run`), and this function returns only
    // once every claimed range has finished (`wait`), or aborts if one
    // panics; after that a helper only finds no range left and touches its
    // own `Arc` of the counters, never `job`.
    let job = Job(unsafe {
        std::mem::transmute::<
            *const (dyn Fn(usize) + Sync + '_),
            *const (dyn Fn(usize) + Sync + 'static),
        >(job)
    });
    let claims = Arc::new(Claims {
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        total,
    });
    let abort = AbortOnUnwind;
    for _ in 1..threads.min(total) {
        let claims = Arc::clone(&claims);
        // SAFETY: `job` is alive while any claimed range runs (above).
        rayon::spawn(move || unsafe { claims.run(job) });
    }
    // SAFETY: as for the helpers; this thread owns `piece`.
    unsafe { claims.run(job) };
    claims.wait();
    std::mem::forget(abort);
}

/// A type-erased pointer to a chunked call's range function.
#[cfg(feature = "rayon")]
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the function is `Sync`, so it may be called from any thread;
// the pointer is only dereferenced while the call that owns it waits.
#[cfg(feature = "rayon")]
unsafe impl Send for Job {}

/// The ranges of one chunked call: the next to claim, and how many have
/// finished.
#[cfg(feature = "rayon")]
struct Claims {
    next: AtomicUsize,
    done: AtomicUsize,
    total: usize,
}

#[cfg(feature = "rayon")]
impl Claims {
    /// Claims and runs ranges until none is left.
    ///
    /// # Safety
    ///
    /// `job` points at a live function while a claimed range runs.
    unsafe fn run(&self, job: Job) {
        loop {
            let p = self.next.fetch_add(1, Ordering::Relaxed);
            if p >= self.total {
                return;
            }
            // SAFETY: `p` was claimed, so the call that owns `job` has not
            // returned (this function's contract).
            unsafe { (*job.0)(p) };
            // Release: the range's writes happen before the caller's
            // acquiring load in `wait` sees the count.
            self.done.fetch_add(1, Ordering::Release);
        }
    }

    /// Waits until every range has finished.
    fn wait(&self) {
        while self.done.load(Ordering::Acquire) < self.total {
            std::thread::yield_now();
        }
    }
}

/// Aborts the process if dropped while unwinding: a chunked call may not
/// unwind past ranges that helpers are still running.
#[cfg(feature = "rayon")]
struct AbortOnUnwind;

#[cfg(feature = "rayon")]
impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        std::process::abort();
    }
}
