//! Reduce benchmarks: einplan beside memcpy and ndarray's idiomatic way.
//!
//! W6 is 2 × 2 average pooling. `einplan` is the compiled op's `apply`,
//! `einplan_into` its `apply_into` into a preallocated array, `memcpy` a
//! `copy_from_slice` of the input's bytes into a preallocated buffer, and
//! `ndarray` a reshape and two `mean_axis` calls. Results are checked to
//! agree before anything is timed. `benches/README.md` has the numbers and
//! the command.
//!
//! I1 is the same pooling as a sum of `i32`s, where einplan checks every
//! addition for overflow: it runs the general fold, not the float pooling
//! kernel. `ndarray` is a reshape and two (wrapping) `sum_axis` calls.

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

fn ndarray_sum_i32(v: ArrayViewD<'_, i32>) -> ArrayD<i32> {
    v.into_shape_with_order(IxDyn(&[32, 240, 14, 2, 14, 2]))
        .unwrap()
        .sum_axis(Axis(5))
        .sum_axis(Axis(3))
}

fn reduce_ints(c: &mut Criterion) {
    let shape = [32, 240, 28, 28];
    let n: usize = shape.iter().product();
    let x =
        ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|i| (i % 1000) as i32).collect()).unwrap();
    let op = Reduce::new("b c (h 2) (w 2) -> b c h w", Reduction::Sum).unwrap();
    let want = ndarray_sum_i32(x.view());
    assert_eq!(
        op.apply(&x).unwrap(),
        want,
        "I1: einplan and ndarray disagree"
    );

    let mut group = c.benchmark_group("I1");
    group.throughput(Throughput::Bytes((n * size_of::<i32>()) as u64));
    group.bench_function("einplan", |b| {
        b.iter(|| black_box(op.apply(black_box(&x)).unwrap()))
    });
    group.bench_function("ndarray", |b| {
        b.iter(|| black_box(ndarray_sum_i32(black_box(&x).view())))
    });
    group.finish();
}

criterion_group!(benches, reduce, reduce_ints);
criterion_main!(benches);
