//! The benchmark protocol of issue 15: einplan's `apply_into`, memcpy of
//! the same bytes and ndarray's idiomatic way, sample by sample, on cold
//! caches, printed as a markdown table.
//!
//! - Before every sample a 96 MiB buffer is read, so no contender starts
//!   with its input or output in the caches (or finds the other's there).
//! - memcpy and `apply_into` write into one destination buffer per
//!   workload, allocated and written once before any timing: no page
//!   faults inside a sample. ndarray allocates its result, as its
//!   idiomatic way does.
//! - Samples alternate memcpy, einplan, ndarray; 3 warm-up rounds, then
//!   the median of 15 rounds. With a pool of more than one thread, memcpy
//!   split into one part per thread of the pool is timed too, after the
//!   one-thread memcpy, and einplan is given as a percentage of both
//!   (not for W5, whose one copy is too small to split). einplan is also
//!   timed with its kernels kept on the calling thread, before or after
//!   the sample that uses the pool by turns: whether threads help,
//!   measured in one process (runs of one benchmark process differ by more
//!   than that).
//! - The percentage is memcpy time / einplan time for the same bytes
//!   (higher is better): the input's bytes for rearranges, the input's
//!   plus the output's for reductions.
//!
//! Results are checked to agree before anything is timed. Threads come
//! from rayon's pool (`RAYON_NUM_THREADS`); memcpy is one thread.
//! `benches/README.md` has the command and the tables.

use std::hint::black_box;
use std::time::{Duration, Instant};

use einplan::{Rearrange, Reduce, Reduction};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis, IxDyn};

const WARM_UP: usize = 3;
const ROUNDS: usize = 15;
const EVICT_BYTES: usize = 96 << 20;

/// Reads every cache line of a buffer larger than the last-level cache.
struct Evictor(Vec<u64>);

impl Evictor {
    fn new() -> Evictor {
        Evictor((0..EVICT_BYTES / 8).map(|i| i as u64).collect())
    }

    fn evict(&self) {
        let mut sum = 0u64;
        for line in self.0.chunks_exact(8) {
            sum = sum.wrapping_add(line[0]);
        }
        black_box(sum);
    }
}

/// Times `f` after evicting the caches: one sample, per call of `f`
/// when `calls > 1` (tiny workloads, where one call is below the clock's
/// resolution).
fn sample(ev: &Evictor, calls: usize, f: &mut dyn FnMut()) -> Duration {
    ev.evict();
    let t = Instant::now();
    for _ in 0..calls {
        f();
    }
    t.elapsed() / calls as u32
}

/// The median and the fastest of the samples.
fn median(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[0])
}

/// The medians and minima of one workload: memcpy, einplan, ndarray.
struct Row {
    name: &'static str,
    memcpy: (Duration, Duration),
    /// memcpy split over the pool's threads, when it has more than one.
    memcpy_pool: Option<(Duration, Duration)>,
    einplan: (Duration, Duration),
    /// einplan kept on the calling thread, when the pool has more.
    einplan_alone: Option<(Duration, Duration)>,
    ndarray: (Duration, Duration),
}

/// Runs `f` with einplan's kernels kept on the calling thread (their
/// threshold for threads raised past any size), in the same process as
/// the samples that use the pool: the one-thread time to compare them
/// with, free of the differences between processes.
fn alone<R>(f: impl FnOnce() -> R) -> R {
    use einplan::__private::{kernel_thresholds, set_kernel_thresholds};
    let (_, stream) = kernel_thresholds();
    set_kernel_thresholds(Some((usize::MAX, stream)));
    let r = f();
    set_kernel_thresholds(None);
    r
}

/// Alternates the contenders sample by sample.
fn measure(
    ev: &Evictor,
    name: &'static str,
    calls: usize,
    memcpy: &mut dyn FnMut(),
    mut memcpy_pool: Option<&mut dyn FnMut()>,
    einplan: &mut dyn FnMut(),
    ndarray: &mut dyn FnMut(),
) -> Row {
    let mut t = [Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for round in 0..WARM_UP + ROUNDS {
        let m = sample(ev, calls, memcpy);
        let p = memcpy_pool.as_mut().map(|f| sample(ev, calls, *f));
        // With a pool, einplan on the pool and on one thread take turns
        // coming first, so that neither always follows the pool's memcpy.
        let pooled = pool_threads() > 1;
        let mut a = (pooled && round % 2 == 1).then(|| alone(|| sample(ev, calls, einplan)));
        let e = sample(ev, calls, einplan);
        if pooled && round % 2 == 0 {
            a = Some(alone(|| sample(ev, calls, einplan)));
        }
        let n = sample(ev, calls, ndarray);
        if round >= WARM_UP {
            t[0].push(m);
            t[1].extend(p);
            t[2].push(e);
            t[3].extend(a);
            t[4].push(n);
        }
    }
    let [m, p, e, a, n] = t;
    Row {
        name,
        memcpy: median(m),
        memcpy_pool: (!p.is_empty()).then(|| median(p)),
        einplan: median(e),
        einplan_alone: (!a.is_empty()).then(|| median(a)),
        ndarray: median(n),
    }
}

/// The pool's size, where memcpy is also timed split over the pool.
fn pool_threads() -> usize {
    #[cfg(feature = "rayon")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "rayon"))]
    1
}

/// One workload's buffers: the input, memcpy's source of the same number
/// of bytes as the workload moves, and the destination shared by memcpy
/// and einplan, written once up front.
struct Buffers<T> {
    src: Vec<T>,
    dst: Vec<T>,
}

impl<T: Copy + Default> Buffers<T> {
    fn new(memcpy_len: usize, out_len: usize, fill: T) -> Buffers<T> {
        Buffers {
            src: vec![fill; memcpy_len],
            dst: vec![T::default(); memcpy_len.max(out_len)],
        }
    }

    fn memcpy(&mut self) {
        let n = self.src.len();
        self.dst[..n].copy_from_slice(black_box(&self.src));
        black_box(&mut self.dst);
    }

    /// memcpy in one contiguous part per thread of the pool, each on its
    /// own thread.
    fn memcpy_pool(&mut self)
    where
        T: Send + Sync,
    {
        let n = self.src.len();
        let chunk = n.div_ceil(pool_threads()).max(1);
        let (src, dst) = (black_box(&self.src[..]), &mut self.dst[..n]);
        #[cfg(feature = "rayon")]
        rayon::scope(|s| {
            for (d, s_) in dst.chunks_mut(chunk).zip(src.chunks(chunk)) {
                s.spawn(move |_| d.copy_from_slice(s_));
            }
        });
        #[cfg(not(feature = "rayon"))]
        dst.copy_from_slice(src);
        black_box(&mut self.dst);
    }

    fn out(&mut self, shape: &[usize]) -> ArrayViewMutD<'_, T> {
        let n = shape.iter().product();
        ArrayViewMutD::from_shape(IxDyn(shape), &mut self.dst[..n]).unwrap()
    }
}

fn input<T>(shape: &[usize], f: impl Fn(usize) -> T) -> ArrayD<T> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(f).collect()).unwrap()
}

/// A rearrange workload on f32: einplan's `apply_into` against ndarray's
/// way, checked equal first.
fn rearrange(
    ev: &Evictor,
    name: &'static str,
    shape: &[usize],
    op: Rearrange,
    ndarray_way: impl Fn(ArrayViewD<'_, f32>) -> ArrayD<f32>,
    calls: usize,
) -> Row {
    let x = input(shape, |i| i as f32);
    let want = ndarray_way(x.view());
    let mut b = Buffers::new(x.len(), want.len(), 1.0f32);
    op.apply_into(&x, &mut b.out(want.shape())).unwrap();
    assert_eq!(
        b.out(want.shape()),
        want,
        "{name}: einplan and ndarray disagree"
    );
    let out_shape = want.shape().to_vec();
    let b = std::cell::RefCell::new(b);
    let mut pool = || b.borrow_mut().memcpy_pool();
    measure(
        ev,
        name,
        calls,
        &mut || b.borrow_mut().memcpy(),
        (pool_threads() > 1 && calls == 1).then_some(&mut pool as &mut dyn FnMut()),
        &mut || {
            let mut b = b.borrow_mut();
            op.apply_into(black_box(&x), &mut b.out(&out_shape))
                .unwrap();
        },
        &mut || {
            black_box(ndarray_way(black_box(&x).view()));
        },
    )
}

/// A 2 × 2 window reduction of a (32, 240, 28, 28) array: `apply_into`
/// against a reshape and two ndarray folds, checked equal first.
fn pool<T>(
    ev: &Evictor,
    name: &'static str,
    reduction: Reduction,
    value: impl Fn(usize) -> T,
    ndarray_way: impl Fn(ArrayViewD<'_, T>) -> ArrayD<T>,
    agree: impl Fn(&T, &T) -> bool,
) -> Row
where
    T: einplan::Reducible + Copy + Default + Send + Sync + std::fmt::Debug,
{
    let shape = [32, 240, 28, 28];
    let x = input(&shape, value);
    let op = Reduce::new("b c (h 2) (w 2) -> b c h w", reduction).unwrap();
    let want = ndarray_way(x.view());
    let mut b = Buffers::new(x.len() + want.len(), want.len(), x[[0, 0, 0, 0]]);
    op.apply_into(&x, &mut b.out(want.shape())).unwrap();
    let ok = b
        .out(want.shape())
        .iter()
        .zip(&want)
        .all(|(a, b)| agree(a, b));
    assert!(ok, "{name}: einplan and ndarray disagree");
    let out_shape = want.shape().to_vec();
    let b = std::cell::RefCell::new(b);
    let mut pool = || b.borrow_mut().memcpy_pool();
    measure(
        ev,
        name,
        1,
        &mut || b.borrow_mut().memcpy(),
        (pool_threads() > 1).then_some(&mut pool as &mut dyn FnMut()),
        &mut || {
            let mut b = b.borrow_mut();
            op.apply_into(black_box(&x), &mut b.out(&out_shape))
                .unwrap();
        },
        &mut || {
            black_box(ndarray_way(black_box(&x).view()));
        },
    )
}

fn split_pool<T>(v: ArrayViewD<'_, T>) -> ArrayViewD<'_, T> {
    v.into_shape_with_order(IxDyn(&[32, 240, 14, 2, 14, 2]))
        .unwrap()
}

fn main() {
    // Workload names given as arguments (`-- W2 W3`) pick those alone.
    let picked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| picked.is_empty() || picked.iter().any(|p| p == name);
    let ev = Evictor::new();
    let mut rows = Vec::new();

    // W1: ShuffleNet's channel shuffle.
    let op = Rearrange::new("b (c1 c2) h w -> b (c2 c1) h w")
        .unwrap()
        .with("c1", 3)
        .unwrap();
    if wanted("W1") {
        rows.push(rearrange(
            &ev,
            "W1",
            &[32, 240, 28, 28],
            op,
            |v| {
                v.into_shape_with_order(IxDyn(&[32, 3, 80, 28 * 28]))
                    .unwrap()
                    .permuted_axes(IxDyn(&[0, 2, 1, 3]))
                    .as_standard_layout()
                    .into_owned()
                    .into_shape_with_order(IxDyn(&[32, 240, 28, 28]))
                    .unwrap()
            },
            1,
        ));
    }

    // W2: a large matrix transpose (power-of-two row strides).
    let op = Rearrange::new("h w -> w h").unwrap();
    if wanted("W2") {
        rows.push(rearrange(
            &ev,
            "W2",
            &[4096, 4096],
            op,
            |v| {
                v.permuted_axes(IxDyn(&[1, 0]))
                    .as_standard_layout()
                    .into_owned()
            },
            1,
        ));
    }

    // W3: channels-last to channels-first.
    let op = Rearrange::new("b h w c -> b c h w").unwrap();
    if wanted("W3") {
        rows.push(rearrange(
            &ev,
            "W3",
            &[64, 32, 32, 64],
            op,
            |v| {
                v.permuted_axes(IxDyn(&[0, 3, 1, 2]))
                    .as_standard_layout()
                    .into_owned()
            },
            1,
        ));
    }

    // W4: space-to-depth.
    let op = Rearrange::new("b (h h2) (w w2) c -> b h w (h2 w2 c)")
        .unwrap()
        .with("h2", 2)
        .unwrap()
        .with("w2", 2)
        .unwrap();
    if wanted("W4") {
        rows.push(rearrange(
            &ev,
            "W4",
            &[16, 64, 64, 48],
            op,
            |v| {
                v.into_shape_with_order(IxDyn(&[16, 32, 2, 32, 2, 48]))
                    .unwrap()
                    .permuted_axes(IxDyn(&[0, 1, 3, 2, 4, 5]))
                    .as_standard_layout()
                    .into_owned()
                    .into_shape_with_order(IxDyn(&[16, 32, 32, 2 * 2 * 48]))
                    .unwrap()
            },
            1,
        ));
    }

    // W5: the per-call cost on a tiny array, `apply_into` (a copy).
    let op = Rearrange::new("b c h w -> b (h w) c").unwrap();
    if wanted("W5") {
        rows.push(rearrange(
            &ev,
            "W5",
            &[2, 3, 4, 5],
            op,
            |v| {
                v.permuted_axes(IxDyn(&[0, 2, 3, 1]))
                    .as_standard_layout()
                    .into_owned()
                    .into_shape_with_order(IxDyn(&[2, 20, 3]))
                    .unwrap()
            },
            10_000,
        ));
    }

    // W6: 2 × 2 mean pooling of f32.
    if wanted("W6") {
        rows.push(pool(
            &ev,
            "W6",
            Reduction::Mean,
            |i| (i % 1000) as f32 / 8.0,
            |v| {
                split_pool(v)
                    .mean_axis(Axis(5))
                    .unwrap()
                    .mean_axis(Axis(3))
                    .unwrap()
            },
            |a: &f32, b: &f32| (a - b).abs() <= 1e-5 * b.abs().max(1.0),
        ));
    }

    // W7: 2 × 2 sum pooling of i32 (integer arithmetic, no SIMD float path).
    if wanted("W7") {
        rows.push(pool(
            &ev,
            "W7",
            Reduction::Sum,
            |i| (i % 1000) as i32 - 500,
            |v| split_pool(v).sum_axis(Axis(5)).sum_axis(Axis(3)),
            |a: &i32, b: &i32| a == b,
        ));
    }

    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
    println!("RAYON_NUM_THREADS: {threads}, {}", cores());
    // The fastest sample is printed as well: on a loaded machine a sample
    // longer than the scheduler's time slice often waits for the core, so
    // the medians of the longer workloads suffer first.
    for (title, pick) in [("median of 15", 0), ("fastest of 15", 1)] {
        let at = |d: (Duration, Duration)| if pick == 0 { d.0 } else { d.1 };
        println!();
        println!("{title}:");
        println!();
        let threads = pool_threads();
        if threads > 1 {
            println!(
                "| workload | memcpy | memcpy, {threads} threads | einplan `apply_into` | einplan, 1 thread | ndarray |"
            );
            println!("|---|---|---|---|---|---|");
        } else {
            println!("| workload | memcpy | einplan `apply_into` | ndarray |");
            println!("|---|---|---|---|");
        }
        for r in &rows {
            let m = at(r.memcpy);
            let pct = |base: Duration, t: Duration| 100.0 * base.as_secs_f64() / t.as_secs_f64();
            let (e, n) = (at(r.einplan), at(r.ndarray));
            // einplan on one thread, against the pool: its time, and how
            // much longer the pool's takes (negative: shorter).
            let alone = r.einplan_alone.map(at).map_or(String::new(), |a| {
                let longer = 100.0 * (e.as_secs_f64() / a.as_secs_f64() - 1.0);
                format!(" {} ({threads} threads {longer:+.0}%) |", show(a))
            });
            match r.memcpy_pool.map(at) {
                Some(p) => println!(
                    "| {} | {} | {} | {} ({:.0}%; {:.0}% of {threads} threads) |{alone} {} ({:.0}%) |",
                    r.name,
                    show(m),
                    show(p),
                    show(e),
                    pct(m, e),
                    pct(p, e),
                    show(n),
                    pct(m, n),
                ),
                None => println!(
                    "| {} | {}{} | {} ({:.0}%) |{alone} {} ({:.0}%) |",
                    r.name,
                    show(m),
                    if threads > 1 { " | —" } else { "" },
                    show(e),
                    pct(m, e),
                    show(n),
                    pct(m, n),
                ),
            }
        }
    }
}

fn cores() -> String {
    std::thread::available_parallelism()
        .map(|n| format!("{n} cores"))
        .unwrap_or_default()
}

fn show(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}
