//! einplan on candle tensors beside candle's own way and memcpy (the
//! `candle` feature): W1, ShuffleNet's channel shuffle, and W3,
//! channels-last to channels-first, with the shapes of
//! `benches/rearrange.rs`.
//!
//! `einplan` is a compiled op's `apply_candle` (a fresh contiguous
//! tensor), `candle` is candle's `reshape`/`permute`/`contiguous` for the
//! same result, and `memcpy` a `copy_from_slice` of the same bytes into a
//! preallocated buffer. Results are checked to agree before anything is
//! timed.
//!
//! Before the criterion groups, the same contenders run once more the
//! way `benches/protocol.rs` times kernels, and print a markdown table:
//! before every sample a 96 MiB buffer is read (cold caches), samples
//! alternate einplan, candle and memcpy, and after 3 warm-up rounds the
//! median and the fastest of 15 are kept. einplan and candle both
//! allocate their result inside the sample, as a user's call does.
//!
//! ```sh
//! nice -n 19 cargo bench --features candle --bench candle
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use criterion::{Criterion, Throughput, criterion_group};
use einplan::Rearrange;

/// An f32 tensor of `shape` holding 0, 1, 2, ...
fn input(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|i| i as f32).collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

/// ShuffleNet's channel shuffle, compiled.
fn shuffle_op() -> Rearrange {
    Rearrange::new("b (c1 c2) h w -> b (c2 c1) h w")
        .unwrap()
        .with("c1", 3)
        .unwrap()
}

/// The channel shuffle of a `[32, 240, 28, 28]` tensor, candle's way.
fn candle_shuffle(t: &Tensor) -> Tensor {
    t.reshape((32, 3, 80, 28 * 28))
        .unwrap()
        .permute((0, 2, 1, 3))
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape((32, 240, 28, 28))
        .unwrap()
}

/// Channels-last to channels-first, candle's way.
fn candle_nchw(t: &Tensor) -> Tensor {
    t.permute((0, 3, 1, 2)).unwrap().contiguous().unwrap()
}

fn workload(
    c: &mut Criterion,
    name: &str,
    x: &Tensor,
    op: &Rearrange,
    candle_way: impl Fn(&Tensor) -> Tensor,
) {
    let want = candle_way(x)
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let got = op.apply_candle(x).unwrap();
    assert!(got.is_contiguous());
    let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(got == want, "{name}: einplan and candle disagree");

    let src = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let mut group = c.benchmark_group(format!("candle/{name}"));
    group.sample_size(20);
    group.throughput(Throughput::Bytes((src.len() * size_of::<f32>()) as u64));
    group.bench_function("einplan", |b| {
        b.iter(|| black_box(op.apply_candle(black_box(x)).unwrap()))
    });
    group.bench_function("candle", |b| b.iter(|| black_box(candle_way(black_box(x)))));
    let mut buf = vec![0f32; src.len()];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            buf.copy_from_slice(black_box(&src));
            black_box(&mut buf);
        })
    });
    group.finish();
}

fn candle(c: &mut Criterion) {
    // W1: ShuffleNet's channel shuffle.
    let x = input(&[32, 240, 28, 28]);
    let op = shuffle_op();
    workload(c, "W1", &x, &op, candle_shuffle);

    // W3: channels-last to channels-first.
    let x = input(&[64, 32, 32, 64]);
    let op = Rearrange::new("b h w c -> b c h w").unwrap();
    workload(c, "W3", &x, &op, candle_nchw);
}

/// Reads every cache line of a buffer larger than the last-level cache.
fn evict(buf: &[u64]) {
    let sum = buf
        .chunks_exact(8)
        .fold(0u64, |s, line| s.wrapping_add(line[0]));
    black_box(sum);
}

/// One sample of `f` on cold caches.
fn sample(buf: &[u64], f: &mut dyn FnMut()) -> Duration {
    evict(buf);
    let t = Instant::now();
    f();
    t.elapsed()
}

/// The median and the fastest of `v`, in ms.
fn median(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    (v[v.len() / 2].as_secs_f64() * 1e3, v[0].as_secs_f64() * 1e3)
}

/// A workload: its name, input, compiled op and candle's own way.
type Case<'a> = (&'a str, &'a Tensor, &'a Rearrange, fn(&Tensor) -> Tensor);

/// The protocol's table: einplan, candle and memcpy alternating sample by
/// sample on cold caches.
fn alternating() {
    let buf: Vec<u64> = (0..(96u64 << 20) / 8).collect();
    println!("| workload | einplan | candle | candle / einplan | memcpy |");
    println!("|---|---|---|---|---|");
    let w1 = input(&[32, 240, 28, 28]);
    let shuffle = shuffle_op();
    let w3 = input(&[64, 32, 32, 64]);
    let nchw = Rearrange::new("b h w c -> b c h w").unwrap();
    let cases: [Case<'_>; 2] = [
        ("W1", &w1, &shuffle, candle_shuffle),
        ("W3", &w3, &nchw, candle_nchw),
    ];
    for (name, x, op, candle_way) in cases {
        let src = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut dst = vec![0f32; src.len()];
        let mut t = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..3 + 15 {
            let e = sample(&buf, &mut || {
                black_box(op.apply_candle(black_box(x)).unwrap());
            });
            let c = sample(&buf, &mut || {
                black_box(candle_way(black_box(x)));
            });
            let m = sample(&buf, &mut || {
                dst.copy_from_slice(black_box(&src));
                black_box(&mut dst);
            });
            if round >= 3 {
                t[0].push(e);
                t[1].push(c);
                t[2].push(m);
            }
        }
        let [e, c, m] = t.map(median);
        println!(
            "| {name} median | {:.2} ms | {:.2} ms | {:.2} | {:.2} ms |",
            e.0,
            c.0,
            c.0 / e.0,
            m.0
        );
        println!(
            "| {name} fastest | {:.2} ms | {:.2} ms | {:.2} | {:.2} ms |",
            e.1,
            c.1,
            c.1 / e.1,
            m.1
        );
    }
    println!();
}

criterion_group!(benches, candle);

fn main() {
    alternating();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
