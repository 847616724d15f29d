//! Reduce benchmarks: einplan beside memcpy and ndarray's idiomatic way.
//!
//! W6 is 2 × 2 average pooling. `einplan` is the compiled op's `apply`,
//! `einplan_into` its `apply_into` into a preallocated array, `memcpy` a
//! `copy_from_slice` of the input's bytes into a preallocated buffer, and
//! `ndarray` a reshape and two `mean_axis` calls. Results are checked to
//! agree before anything is timed. `benches/README.md` has the numbers and
//! the command.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use einplan::{Reduce, Reduction};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};

fn ndarray_pool(v: ArrayViewD<'_, f32>) -> ArrayD<f32> {
    v.into_shape_with_order(IxDyn(&[32, 240, 14, 2, 14, 2]))
        .unwrap()
        .mean_axis(Axis(5))
        .unwrap()
        .mean_axis(Axis(3))
        .unwrap()
}

fn reduce(c: &mut Criterion) {
    let shape = [32, 240, 28, 28];
    let n: usize = shape.iter().product();
    let x = ArrayD::from_shape_vec(
        IxDyn(&shape),
        (0..n).map(|i| (i % 1000) as f32 / 8.0).collect(),
    )
    .unwrap();
    let op = Reduce::new("b c (h 2) (w 2) -> b c h w", Reduction::Mean).unwrap();

    let want = ndarray_pool(x.view());
    let got = op.apply(&x).unwrap();
    assert_eq!(got.shape(), want.shape());
    let close = got
        .iter()
        .zip(&want)
        .all(|(a, b)| (a - b).abs() <= 1e-5 * b.abs().max(1.0));
    assert!(close, "W6: einplan and ndarray disagree");
    let mut out = ArrayD::<f32>::zeros(want.raw_dim());
    op.apply_into(&x, &mut out).unwrap();
    assert_eq!(out, got, "W6: apply_into and apply disagree");

    let mut group = c.benchmark_group("W6");
    group.throughput(Throughput::Bytes((n * size_of::<f32>()) as u64));
    group.bench_function("einplan", |b| {
        b.iter(|| black_box(op.apply(black_box(&x)).unwrap()))
    });
    group.bench_function("einplan_into", |b| {
        b.iter(|| op.apply_into(black_box(&x), black_box(&mut out)).unwrap())
    });
    let src = x.as_slice().unwrap();
    let mut buf = vec![0f32; n];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            buf.copy_from_slice(black_box(src));
            black_box(&mut buf);
        })
    });
    group.bench_function("ndarray", |b| {
        b.iter(|| black_box(ndarray_pool(black_box(&x).view())))
    });
    group.finish();
}

criterion_group!(benches, reduce);
criterion_main!(benches);
