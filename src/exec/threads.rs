//! When kernels use threads and streaming stores, and the one helper that
//! splits a kernel's work over the thread pool ([`chunked`]), shared by
//! the copies and the pooling kernel.

#[cfg(feature = "rayon")]
use std::sync::atomic::AtomicBool;
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
/// Whether kernels use only idle cores ([`idle`]); off while tests set the
/// thresholds, so that the paths they reach do not depend on the machine.
#[cfg(feature = "rayon")]
static WATCH_LOAD: AtomicBool = AtomicBool::new(true);

/// Sets the sizes in bytes from which kernels use threads and streaming
/// stores, or with `None` restores the defaults. Results never depend on
/// them; tests lower them to reach those paths with small arrays. While
/// they are set, kernels use the pool's threads whether or not other
/// processes keep the cores busy.
pub(crate) fn set_thresholds(sizes: Option<(usize, usize)>) {
    #[cfg(feature = "rayon")]
    WATCH_LOAD.store(sizes.is_none(), Ordering::Relaxed);
    let (parallel, stream) = sizes.unwrap_or((PARALLEL_DEFAULT, STREAM_DEFAULT));
    PARALLEL_BYTES.store(parallel, Ordering::Relaxed);
    STREAM_BYTES.store(stream, Ordering::Relaxed);
}

/// The sizes in bytes from which kernels use threads and streaming stores.
pub(crate) fn thresholds() -> (usize, usize) {
    (
        PARALLEL_BYTES.load(Ordering::Relaxed),
        STREAM_BYTES.load(Ordering::Relaxed),
    )
}

/// The size in bytes from which bit copies use streaming stores.
pub(super) fn stream_bytes() -> usize {
    STREAM_BYTES.load(Ordering::Relaxed)
}

/// How many threads a kernel moving `bytes` should use: 1 below the
/// threshold (without touching the pool), else the pool's size, but no
/// more threads than there are thresholds' worth of bytes, so that each
/// thread's share outweighs its hand-off, and no helpers beyond the idle
/// cores ([`idle`]).
#[cfg(feature = "rayon")]
pub(super) fn threads_for(bytes: usize) -> usize {
    let min = PARALLEL_BYTES.load(Ordering::Relaxed);
    if bytes < min {
        return 1;
    }
    let most = bytes.checked_div(min).unwrap_or(usize::MAX);
    let free = if WATCH_LOAD.load(Ordering::Relaxed) {
        idle::cores().saturating_add(1)
    } else {
        usize::MAX
    };
    rayon::current_num_threads().min(most).min(free).max(1)
}

/// How many cores are idle, from the kernel's count of runnable threads,
/// so that kernels do not split work onto cores that other processes
/// hold.
///
/// A helper that the system deschedules in the middle of its range holds
/// the whole call up until it runs again: only it may finish the range
/// it claimed. On a machine whose cores are all busy, that made two
/// threads slower than one (in the benchmark protocol with a loop
/// spinning on the other core, W2 took 10.5–11.4 ms with two threads and
/// 8.8–9.9 ms with one). So, as GNU OpenMP's dynamic mode does with the
/// load average, a call uses helpers only for cores that nothing else
/// runs on: the instantaneous count of runnable threads in
/// `/proc/loadavg` (the calling thread among them) against the cores the
/// process may use (less the pool's own threads just after a parallel
/// call, when they may still be spinning in search of work). Reading it
/// costs a few microseconds, so one reading serves every call for 2 ms,
/// or 0.5 ms when it found no idle core ([`REFRESH`](idle::REFRESH)).
/// Where it cannot be read (other systems), every core counts as idle.
#[cfg(feature = "rayon")]
mod idle {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    /// How long a reading of the runnable count is used: one with idle
    /// cores for longer than one without, which may have caught the
    /// pool's own threads looking for work just after a call.
    pub(super) const REFRESH: (Duration, Duration) =
        (Duration::from_millis(2), Duration::from_micros(500));

    /// The idle cores at the last reading, and when it was taken (in
    /// nanoseconds from [`epoch`], plus one: 0 means never).
    static IDLE: AtomicUsize = AtomicUsize::new(0);
    static READ_AT: AtomicU64 = AtomicU64::new(0);
    /// When the last parallel call finished (as `READ_AT`).
    static DONE_AT: AtomicU64 = AtomicU64::new(0);

    /// How long the pool's threads may look for more work after a call
    /// before they sleep (rayon's workers spin a few dozen rounds first).
    const SETTLE: Duration = Duration::from_millis(1);

    fn epoch() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    /// The cores this process may use.
    fn usable() -> usize {
        static CORES: OnceLock<usize> = OnceLock::new();
        *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Records that a parallel call has just finished.
    pub(super) fn finished() {
        let now = (epoch().elapsed().as_nanos() as u64).saturating_add(1);
        DONE_AT.store(now, Ordering::Relaxed);
    }

    /// The cores that no runnable thread but the caller's wants, or
    /// `usize::MAX` if that is not known.
    pub(super) fn cores() -> usize {
        let now = (epoch().elapsed().as_nanos() as u64).saturating_add(1);
        let at = READ_AT.load(Ordering::Relaxed);
        let idle = IDLE.load(Ordering::Relaxed);
        let refresh = if idle > 0 { REFRESH.0 } else { REFRESH.1 };
        if at != 0 && now - at.min(now) < refresh.as_nanos() as u64 {
            return idle;
        }
        // Just after a parallel call, the pool's own threads may still be
        // looking for work, and count as runnable.
        let done = DONE_AT.load(Ordering::Relaxed);
        let ours = if done != 0 && now - done.min(now) < SETTLE.as_nanos() as u64 {
            rayon::current_num_threads()
        } else {
            0
        };
        let idle = read().map_or(usize::MAX, |running| {
            spare(usable(), running.saturating_sub(ours))
        });
        IDLE.store(idle, Ordering::Relaxed);
        READ_AT.store(now, Ordering::Relaxed);
        idle
    }

    /// The runnable threads, the caller among them, from `/proc/loadavg`.
    #[cfg(not(miri))]
    fn read() -> Option<usize> {
        use std::io::Read;
        let mut text = [0u8; 128];
        let mut file = std::fs::File::open("/proc/loadavg").ok()?;
        let n = file.read(&mut text).ok()?;
        running(std::str::from_utf8(text.get(..n)?).ok()?)
    }

    /// Miri does not open files.
    #[cfg(miri)]
    fn read() -> Option<usize> {
        None
    }

    /// The runnable count of a `/proc/loadavg` line: its fourth field,
    /// `runnable/total` (`0.58 1.02 1.26 2/345 6789` gives 2).
    pub(super) fn running(line: &str) -> Option<usize> {
        let field = line.split_ascii_whitespace().nth(3)?;
        field.split_once('/')?.0.parse().ok()
    }

    /// Idle cores: of `cores`, those that the `running` threads, the
    /// caller among them, leave free beside the caller's.
    pub(super) fn spare(cores: usize, running: usize) -> usize {
        cores.saturating_sub(running.max(1))
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
/// share). One that the system deschedules holds the call up until it
/// runs again, since only it may finish the range it claimed, so
/// [`threads_for`] counts only idle cores.
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
    idle::finished();
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

#[cfg(all(test, feature = "rayon"))]
mod tests {
    use super::idle::{running, spare};

    #[test]
    fn runnable_count_reads_the_fourth_field() {
        assert_eq!(running("0.58 1.02 1.26 2/345 6789\n"), Some(2));
        assert_eq!(running("12.00 8.50 4.25 17/1024 99"), Some(17));
        // Malformed lines are unknown, not a guess.
        for line in [
            "",
            "0.58 1.02 1.26",
            "0.58 1.02 1.26 2 6789",
            "a b c x/y z",
            "1 2 3 /4 5",
        ] {
            assert_eq!(running(line), None, "{line:?}");
        }
    }

    #[test]
    fn only_cores_nothing_else_runs_on_are_idle() {
        // The caller is among the runnable threads: alone on two cores, one
        // is idle; with a loop spinning beside it, none is.
        assert_eq!(spare(2, 1), 1);
        assert_eq!(spare(2, 2), 0);
        assert_eq!(spare(2, 9), 0);
        assert_eq!(spare(8, 3), 5);
        // A count of 0 (read between updates) still counts the caller.
        assert_eq!(spare(2, 0), 1);
        assert_eq!(spare(1, 1), 0);
    }
}
