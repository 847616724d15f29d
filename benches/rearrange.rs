//! Rearrange benchmarks: einplan beside memcpy and ndarray's idiomatic way.
//!
//! Each group is one workload of issue 6. `einplan` is the compiled op's
//! `apply` (a fresh array, or a view when strides suffice), `einplan_into`
//! its `apply_into` into a preallocated array, `memcpy` a
//! `copy_from_slice` of the same bytes into a preallocated buffer, and
//! `ndarray` `permuted_axes(..).as_standard_layout()` (after a reshape
//! where the pattern splits axes). Results are checked to agree before
//! anything is timed. `benches/README.md` has the numbers and the command.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use einplan::Rearrange;
use ndarray::{Array, ArrayD, ArrayViewD, IxDyn};

/// An f32 array of `shape` holding 0, 1, 2, ...
fn input(shape: &[usize]) -> ArrayD<f32> {
    let n = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|i| i as f32).collect()).unwrap()
}

/// One workload: the three contenders (four with `apply_into`) side by
/// side, after checking that einplan and ndarray agree.
fn workload(
    c: &mut Criterion,
    name: &str,
    x: &ArrayD<f32>,
    op: &Rearrange,
    ndarray_way: impl Fn(ArrayViewD<'_, f32>) -> ArrayD<f32>,
) {
    let want = ndarray_way(x.view());
    let got = op.apply(x).unwrap();
    assert_eq!(
        got.view(),
        want.view(),
        "{name}: einplan and ndarray disagree"
    );
    let mut out = ArrayD::<f32>::zeros(want.raw_dim());
    op.apply_into(x, &mut out).unwrap();
    assert_eq!(out, want, "{name}: apply_into and ndarray disagree");

    let bytes = x.len() * size_of::<f32>();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("einplan", |b| {
        b.iter(|| black_box(op.apply(black_box(x)).unwrap()))
    });
    group.bench_function("einplan_into", |b| {
        b.iter(|| op.apply_into(black_box(x), black_box(&mut out)).unwrap())
    });
    let src = x.as_slice().unwrap();
    let mut buf = vec![0f32; src.len()];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            buf.copy_from_slice(black_box(src));
            black_box(&mut buf);
        })
    });
    group.bench_function("ndarray", |b| {
        b.iter(|| black_box(ndarray_way(black_box(x).view())))
    });
    group.finish();
}

fn rearrange(c: &mut Criterion) {
    // W1: ShuffleNet's channel shuffle.
    let x = input(&[32, 240, 28, 28]);
    let op = Rearrange::new("b (c1 c2) h w -> b (c2 c1) h w")
        .unwrap()
        .with("c1", 3)
        .unwrap();
    workload(c, "W1", &x, &op, |v| {
        v.into_shape_with_order(IxDyn(&[32, 3, 80, 28 * 28]))
            .unwrap()
            .permuted_axes(IxDyn(&[0, 2, 1, 3]))
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&[32, 240, 28, 28]))
            .unwrap()
    });

    // W2: a large matrix transpose.
    let x = input(&[4096, 4096]);
    let op = Rearrange::new("h w -> w h").unwrap();
    workload(c, "W2", &x, &op, |v| {
        v.permuted_axes(IxDyn(&[1, 0]))
            .as_standard_layout()
            .into_owned()
    });

    // W3: channels-last to channels-first.
    let x = input(&[64, 32, 32, 64]);
    let op = Rearrange::new("b h w c -> b c h w").unwrap();
    workload(c, "W3", &x, &op, |v| {
        v.permuted_axes(IxDyn(&[0, 3, 1, 2]))
            .as_standard_layout()
            .into_owned()
    });

    // W4: space-to-depth.
    let x = input(&[16, 64, 64, 48]);
    let op = Rearrange::new("b (h h2) (w w2) c -> b h w (h2 w2 c)")
        .unwrap()
        .with("h2", 2)
        .unwrap()
        .with("w2", 2)
        .unwrap();
    workload(c, "W4", &x, &op, |v| {
        v.into_shape_with_order(IxDyn(&[16, 32, 2, 32, 2, 48]))
            .unwrap()
            .permuted_axes(IxDyn(&[0, 1, 3, 2, 4, 5]))
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&[16, 32, 32, 2 * 2 * 48]))
            .unwrap()
    });

    // W5: the per-call overhead of a compiled op on a tiny array (its
    // result is a view: `(h w)` lies contiguously in memory).
    let x = input(&[2, 3, 4, 5]);
    let op = Rearrange::new("b c h w -> b (h w) c").unwrap();
    workload(c, "W5", &x, &op, |v| {
        v.permuted_axes(IxDyn(&[0, 2, 3, 1]))
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&[2, 20, 3]))
            .unwrap()
    });
}

fn plan(c: &mut Criterion) {
    // Parsing, resolving and planning from scratch, against a cache hit.
    let pattern = "b (c1 c2) h w -> b (c2 c1) h w";
    let shape = [32, 240, 28, 28];
    let mut group = c.benchmark_group("plan");
    group.bench_function("uncached", |b| {
        b.iter(|| {
            let op = Rearrange::new(black_box(pattern))
                .unwrap()
                .with("c1", 3)
                .unwrap();
            black_box(op.plan(black_box(&shape)).unwrap())
        })
    });
    let op = Rearrange::new(pattern).unwrap().with("c1", 3).unwrap();
    group.bench_function("cached", |b| {
        b.iter(|| black_box(op.plan(black_box(&shape)).unwrap()))
    });
    // The free function: the pattern cache, then the plan cache.
    let x = Array::<f32, _>::zeros((2, 6, 1, 1));
    group.bench_function("free_function", |b| {
        b.iter(|| black_box(einplan::rearrange(black_box(&x), pattern, &[("c1", 3)]).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, rearrange, plan);
criterion_main!(benches);
