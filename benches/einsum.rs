//! einsum benchmarks: einplan beside a plain matrix product doing the same
//! multiply-adds on data arranged for it in advance.
//!
//! The case is ShuffleNet's grouped 1×1 convolution, batch 32, 240 → 240
//! channels in 3 groups, 28×28: `b (g ci) h w, g co ci -> b (g co) h w`.
//! einplan runs it on the NCHW input as it is; the baseline multiplies
//! each group's `[co, ci]` weights by that group's input rearranged to
//! `[ci, (b h w)]` beforehand (outside the timing), so it measures the
//! matrix products alone. Both return a freshly allocated result.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use einplan::Einsum;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array, Array3, ArrayD, IxDyn, s};

const PATTERN: &str = "b (g ci) h w, g co ci -> b (g co) h w";
const B: usize = 32;
const G: usize = 3;
const CI: usize = 80;
const CO: usize = 80;
const H: usize = 28;
const W: usize = 28;

/// Deterministic values in [-1, 1).
fn filled(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let values = (0..n as u64).map(|i| {
        let h = (i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        (h % 2000) as f32 / 1000.0 - 1.0
    });
    Array::from_iter(values)
        .into_shape_with_order(IxDyn(shape))
        .unwrap()
}

/// The baseline: one matrix product per group on pre-arranged data.
fn grouped_gemm(w: &Array3<f32>, x: &Array3<f32>) -> Array3<f32> {
    let mut out = Array3::zeros((G, CO, B * H * W));
    for g in 0..G {
        general_mat_mul(
            1.0,
            &w.slice(s![g, .., ..]),
            &x.slice(s![g, .., ..]),
            0.0,
            &mut out.slice_mut(s![g, .., ..]),
        );
    }
    out
}

fn grouped_1x1(c: &mut Criterion) {
    let x = filled(&[B, G * CI, H, W], 1);
    let w = filled(&[G, CO, CI], 2);
    let op = Einsum::new(PATTERN).unwrap().with("g", G).unwrap();

    // The baseline's inputs: weights as [g, co, ci], input as [g, ci, (b h w)].
    let w3 = w.clone().into_dimensionality().unwrap();
    let x3: Array3<f32> = einplan::rearrange(&x, "b (g ci) h w -> g ci (b h w)", &[("g", G)])
        .unwrap()
        .into_owned()
        .into_dimensionality()
        .unwrap();

    // Same answer before timing: out[g, co, (b h w)] is y[b, (g co), h, w].
    let y = op.apply(&[x.view(), w.view()]).unwrap();
    let base = grouped_gemm(&w3, &x3);
    let base =
        einplan::rearrange(&base, "g co (b h w) -> b (g co) h w", &[("b", B), ("h", H)]).unwrap();
    assert_eq!(y.shape(), base.shape());
    let worst = y
        .iter()
        .zip(base.iter())
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "einplan and the baseline differ by {worst}");

    let mut group = c.benchmark_group("einsum_grouped_1x1");
    group.throughput(Throughput::Elements((2 * B * G * CO * CI * H * W) as u64));
    group.bench_function("einplan", |bench| {
        bench.iter(|| {
            op.apply(&[black_box(x.view()), black_box(w.view())])
                .unwrap()
        })
    });
    group.bench_function("gemm", |bench| {
        bench.iter(|| grouped_gemm(black_box(&w3), black_box(&x3)))
    });
    group.finish();
}

criterion_group!(benches, grouped_1x1);
criterion_main!(benches);
