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
//! ```sh
//! nice -n 19 cargo bench --features candle --bench candle
//! ```

use std::hint::black_box;

use candle_core::{Device, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use einplan::Rearrange;

/// An f32 tensor of `shape` holding 0, 1, 2, ...
fn input(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|i| i as f32).collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
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
    let op = Rearrange::new("b (c1 c2) h w -> b (c2 c1) h w")
        .unwrap()
        .with("c1", 3)
        .unwrap();
    workload(c, "W1", &x, &op, |t| {
        t.reshape((32, 3, 80, 28 * 28))
            .unwrap()
            .permute((0, 2, 1, 3))
            .unwrap()
            .contiguous()
            .unwrap()
            .reshape((32, 240, 28, 28))
            .unwrap()
    });

    // W3: channels-last to channels-first.
    let x = input(&[64, 32, 32, 64]);
    let op = Rearrange::new("b h w c -> b c h w").unwrap();
    workload(c, "W3", &x, &op, |t| {
        t.permute((0, 3, 1, 2)).unwrap().contiguous().unwrap()
    });
}

criterion_group!(benches, candle);
criterion_main!(benches);
