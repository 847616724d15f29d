//! The layers einops patterns cannot express: 3×3 convolutions with padding,
//! 3×3 pooling, batch norm and the element-wise epilogues.
//!
//! Everything works on NCHW `f32` tensors. The kernels walk one contiguous
//! `h × w` plane at a time in memory order; for each of the nine taps they
//! work out once which output columns read a real (non-padding) input pixel,
//! so the inner loops carry no bounds logic and vectorise for stride 1.

use std::ops::Range;

use ndarray::{Array1, Array4, ArrayD, ArrayView1, ArrayView4, Axis};

/// `eps` of `torch.nn.BatchNorm2d`.
pub const BN_EPS: f32 = 1e-5;

/// Output length of a 3-tap window with padding 1 and the given stride
/// (PyTorch's `floor((len + 2 - 3) / stride) + 1`). `len` must be at least 1.
pub fn out_len(len: usize, stride: usize) -> usize {
    debug_assert!(len >= 1 && stride >= 1);
    (len - 1) / stride + 1
}

/// The output positions `o` whose tap `k` (0, 1 or 2) reads a real input
/// index `o * stride + k - 1`, i.e. one that lies in `0..len_in`.
fn valid_outputs(k: usize, len_in: usize, len_out: usize, stride: usize) -> Range<usize> {
    let start = usize::from(k == 0);
    let end = if len_in >= k {
        ((len_in - k) / stride + 1).min(len_out)
    } else {
        0
    };
    start..end.max(start)
}

/// Visits every (output pixel, tap, input pixel) triple of a 3×3 window with
/// padding 1 over one plane, skipping taps that fall on padding. `op` gets
/// the tap index (`ky * 3 + kx`) and a run of output elements with the
/// equally long run of input values each of them reads through that tap.
///
/// `src` is an `h × w` plane as produced by [`for_each_plane`] for the same
/// stride: row-major for stride 1; for stride 2 each row stored as its even
/// columns followed by its odd columns, so that every tap reads a
/// contiguous run (`ix = 2 ox + kx - 1` is odd for `kx` 0 and 2, even for 1).
#[inline(always)]
fn for_each_tap(
    src: &[f32],
    (h, w): (usize, usize),
    dst: &mut [f32],
    (oh, ow): (usize, usize),
    stride: usize,
    mut op: impl FnMut(usize, &mut [f32], &[f32]),
) {
    debug_assert_eq!(src.len(), h * w);
    debug_assert_eq!(dst.len(), oh * ow);
    let cols = [
        valid_outputs(0, w, ow, stride),
        valid_outputs(1, w, ow, stride),
        valid_outputs(2, w, ow, stride),
    ];
    // Where the first valid output of each tap reads, within the stored row.
    let evens = w.div_ceil(2);
    let first_read = |kx: usize, start: usize| match (stride, kx) {
        (1, _) => start + kx - 1,
        (_, 0) => evens + start - 1,
        (_, 1) => start,
        _ => evens + start,
    };
    for (oy, out_row) in dst.chunks_exact_mut(ow).enumerate() {
        for ky in 0..3 {
            // Input row in padded coordinates; 0 and h + 1 are padding.
            let py = oy * stride + ky;
            if py == 0 || py > h {
                continue;
            }
            let in_row = &src[(py - 1) * w..py * w];
            for (kx, range) in cols.iter().enumerate() {
                if range.is_empty() {
                    continue;
                }
                let tap = ky * 3 + kx;
                let out = &mut out_row[range.clone()];
                let start = first_read(kx, range.start);
                op(tap, out, &in_row[start..start + out.len()]);
            }
        }
    }
}

/// Runs `f(b, c, plane)` for every `h × w` input plane, laid out for
/// [`for_each_tap`] with `stride`. For stride 1 a densely stored plane is
/// passed as is; otherwise it goes through a scratch buffer.
fn for_each_plane(x: &ArrayView4<'_, f32>, stride: usize, mut f: impl FnMut(usize, usize, &[f32])) {
    let (n, c, _, w) = x.dim();
    let evens = w.div_ceil(2);
    let mut scratch = Vec::new();
    for b in 0..n {
        for ch in 0..c {
            let plane = x.index_axis(Axis(0), b).index_axis_move(Axis(0), ch);
            if stride == 1 {
                if let Some(s) = plane.as_slice() {
                    f(b, ch, s);
                    continue;
                }
                scratch.clear();
                scratch.extend(plane.iter().copied());
            } else {
                scratch.resize(plane.len(), 0.0);
                for (row, out) in plane
                    .rows()
                    .into_iter()
                    .zip(scratch.chunks_exact_mut(w.max(1)))
                {
                    let (even, odd) = out.split_at_mut(evens);
                    for (i, &v) in row.iter().enumerate() {
                        if i % 2 == 0 {
                            even[i / 2] = v;
                        } else {
                            odd[i / 2] = v;
                        }
                    }
                }
            }
            f(b, ch, &scratch);
        }
    }
}

/// `out += a * x`, element-wise.
#[inline(always)]
fn axpy(a: f32, x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o += a * v;
    }
}

fn check_stride(stride: usize) {
    assert!(
        stride == 1 || stride == 2,
        "3x3 windows support stride 1 or 2, got {stride}"
    );
}

/// Depthwise 3×3 convolution, padding 1, `groups == channels`, as
/// `nn.Conv2d(c, c, 3, stride, padding=1, groups=c)`.
///
/// `weight` is PyTorch's `[c, 1, 3, 3]`, `bias` is `[c]`.
pub fn depthwise_conv3x3(
    x: ArrayView4<'_, f32>,
    weight: ArrayView4<'_, f32>,
    bias: ArrayView1<'_, f32>,
    stride: usize,
) -> Array4<f32> {
    check_stride(stride);
    let (n, c, h, w) = x.dim();
    assert_eq!(weight.dim(), (c, 1, 3, 3), "depthwise weight shape");
    assert_eq!(bias.len(), c, "depthwise bias length");
    let weight = weight.as_standard_layout();
    let kernels = weight.as_slice().expect("standard layout");
    let (oh, ow) = (out_len(h, stride), out_len(w, stride));
    let mut out = Array4::<f32>::zeros((n, c, oh, ow));
    let dst = out.as_slice_mut().expect("fresh array is contiguous");
    for_each_plane(&x, stride, |b, ch, src| {
        let plane = &mut dst[(b * c + ch) * oh * ow..][..oh * ow];
        plane.fill(bias[ch]);
        let k: &[f32; 9] = kernels[ch * 9..][..9].try_into().expect("9 taps");
        for_each_tap(src, (h, w), plane, (oh, ow), stride, |t, out, input| {
            axpy(k[t], input, out)
        });
    });
    out
}

/// Dense 3×3 convolution, padding 1, as `nn.Conv2d(ci, co, 3, stride, padding=1)`
/// (the network stem, 3 → 24 channels).
///
/// `weight` is PyTorch's `[co, ci, 3, 3]`, `bias` is `[co]`.
pub fn conv3x3(
    x: ArrayView4<'_, f32>,
    weight: ArrayView4<'_, f32>,
    bias: ArrayView1<'_, f32>,
    stride: usize,
) -> Array4<f32> {
    check_stride(stride);
    let (n, ci, h, w) = x.dim();
    let co = weight.dim().0;
    assert_eq!(weight.dim(), (co, ci, 3, 3), "conv3x3 weight shape");
    assert_eq!(bias.len(), co, "conv3x3 bias length");
    let weight = weight.as_standard_layout();
    let kernels = weight.as_slice().expect("standard layout");
    let (oh, ow) = (out_len(h, stride), out_len(w, stride));
    let mut out = Array4::<f32>::zeros((n, co, oh, ow));
    let dst = out.as_slice_mut().expect("fresh array is contiguous");
    // Gather the image's input planes once, then finish one output plane at
    // a time so it stays in cache while all input planes accumulate into it.
    let mut planes = Vec::with_capacity(ci * h * w);
    let mut flush = |b: usize, planes: &mut Vec<f32>| {
        let image = &mut dst[b * co * oh * ow..][..co * oh * ow];
        for (o, plane) in image.chunks_exact_mut(oh * ow).enumerate() {
            plane.fill(bias[o]);
            for (i, src) in planes.chunks_exact(h * w).enumerate() {
                let k: &[f32; 9] = kernels[(o * ci + i) * 9..][..9].try_into().expect("9 taps");
                for_each_tap(src, (h, w), plane, (oh, ow), stride, |t, out, input| {
                    axpy(k[t], input, out)
                });
            }
        }
        planes.clear();
    };
    for_each_plane(&x, stride, |b, i, src| {
        planes.extend_from_slice(src);
        if i + 1 == ci {
            flush(b, &mut planes);
        }
    });
    out
}

/// `nn.MaxPool2d(3, stride, padding=1)`: padding never wins the max.
pub fn max_pool3x3(x: ArrayView4<'_, f32>, stride: usize) -> Array4<f32> {
    check_stride(stride);
    let (n, c, h, w) = x.dim();
    let (oh, ow) = (out_len(h, stride), out_len(w, stride));
    let mut out = Array4::<f32>::from_elem((n, c, oh, ow), f32::NEG_INFINITY);
    let dst = out.as_slice_mut().expect("fresh array is contiguous");
    for_each_plane(&x, stride, |b, ch, src| {
        let plane = &mut dst[(b * c + ch) * oh * ow..][..oh * ow];
        for_each_tap(src, (h, w), plane, (oh, ow), stride, |_, out, input| {
            for (o, &v) in out.iter_mut().zip(input) {
                *o = o.max(v);
            }
        });
    });
    out
}

/// `nn.AvgPool2d(3, stride, padding=1)` with PyTorch's default
/// `count_include_pad=True`: the sum is always divided by 9.
pub fn avg_pool3x3(x: ArrayView4<'_, f32>, stride: usize) -> Array4<f32> {
    check_stride(stride);
    let (n, c, h, w) = x.dim();
    let (oh, ow) = (out_len(h, stride), out_len(w, stride));
    let mut out = Array4::<f32>::zeros((n, c, oh, ow));
    let dst = out.as_slice_mut().expect("fresh array is contiguous");
    for_each_plane(&x, stride, |b, ch, src| {
        let plane = &mut dst[(b * c + ch) * oh * ow..][..oh * ow];
        for_each_tap(src, (h, w), plane, (oh, ow), stride, |_, out, input| {
            for (o, &v) in out.iter_mut().zip(input) {
                *o += v;
            }
        });
        for o in plane.iter_mut() {
            *o *= 1.0 / 9.0;
        }
    });
    out
}

/// Inference-mode `nn.BatchNorm2d` parameters.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    pub weight: Array1<f32>,
    pub bias: Array1<f32>,
    pub running_mean: Array1<f32>,
    pub running_var: Array1<f32>,
    pub eps: f32,
}

impl BatchNorm {
    /// `y = (x - mean) / sqrt(var + eps) * weight + bias`, channel axis 1,
    /// computed literally: the unfolded reference that the tests hold
    /// [`fold_batch_norm`] to. The model itself only runs folded.
    #[cfg(test)]
    pub fn apply(&self, x: &mut ndarray::ArrayViewMut4<'_, f32>) {
        for (ch, mut plane) in x.axis_iter_mut(Axis(1)).enumerate() {
            let inv_std = 1.0 / (self.running_var[ch] + self.eps).sqrt();
            let (mean, w, b) = (self.running_mean[ch], self.weight[ch], self.bias[ch]);
            plane.mapv_inplace(|v| (v - mean) * inv_std * w + b);
        }
    }
}

/// Folds an inference batch norm into the convolution that feeds it:
/// `bn(conv(x; W, b)) = conv(x; W * s, (b - mean) * s + beta)` with
/// `s = gamma / sqrt(var + eps)`. `weight` has the output channel on axis 0
/// (PyTorch's `[co, ci/groups, kh, kw]`).
pub fn fold_batch_norm(weight: &mut ArrayD<f32>, bias: &mut Array1<f32>, bn: &BatchNorm) {
    let co = bias.len();
    assert_eq!(weight.shape()[0], co, "conv output channels vs bias");
    assert_eq!(bn.weight.len(), co, "conv output channels vs batch norm");
    for (o, mut filter) in weight.axis_iter_mut(Axis(0)).enumerate() {
        let s = f64::from(bn.weight[o]) / (f64::from(bn.running_var[o]) + f64::from(bn.eps)).sqrt();
        filter.mapv_inplace(|v| (f64::from(v) * s) as f32);
        bias[o] = ((f64::from(bias[o]) - f64::from(bn.running_mean[o])) * s + f64::from(bn.bias[o]))
            as f32;
    }
}

/// Calls `f(channel, plane)` for every `h × w` plane of a standard-layout
/// NCHW buffer with `c` channels.
fn for_each_channel_plane(
    data: &mut [f32],
    c: usize,
    plane_len: usize,
    mut f: impl FnMut(usize, &mut [f32]),
) {
    if plane_len == 0 {
        return;
    }
    for (i, plane) in data.chunks_exact_mut(plane_len).enumerate() {
        f(i % c, plane);
    }
}

/// `x += bias[c]`, then optionally ReLU, in one pass. Makes `x` standard
/// layout first if it is not (einsum results normally already are).
pub fn bias_act(x: &mut ArrayD<f32>, bias: ArrayView1<'_, f32>, relu: bool) {
    assert!(x.ndim() >= 2, "bias_act needs a channel axis");
    let c = x.shape()[1];
    assert_eq!(bias.len(), c, "bias length vs channels");
    if !x.is_standard_layout() {
        *x = x.as_standard_layout().into_owned();
    }
    let plane_len: usize = x.shape()[2..].iter().product();
    let data = x.as_slice_mut().expect("standard layout");
    for_each_channel_plane(data, c, plane_len, |ch, plane| {
        let b = bias[ch];
        if relu {
            plane.iter_mut().for_each(|v| *v = (*v + b).max(0.0));
        } else {
            plane.iter_mut().for_each(|v| *v += b);
        }
    });
}

/// In-place ReLU.
pub fn relu(x: &mut Array4<f32>) {
    match x.as_slice_mut() {
        Some(data) => data.iter_mut().for_each(|v| *v = v.max(0.0)),
        None => x.mapv_inplace(|v| v.max(0.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, ArrayView1, Ix4, array, s};

    /// Tiny deterministic pseudo-random values in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn rand4(shape: (usize, usize, usize, usize), seed: u64) -> Array4<f32> {
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        Array::from_shape_vec(shape, values(n, seed)).unwrap()
    }

    /// Brute-force reference: zero-padded input, explicit window loops, f64.
    fn conv_reference(
        x: &Array4<f32>,
        w: &Array4<f32>,
        bias: &[f32],
        stride: usize,
        groups: usize,
    ) -> Array4<f32> {
        let (n, ci, h, wd) = x.dim();
        let co = w.dim().0;
        let (cig, cog) = (ci / groups, co / groups);
        let (oh, ow) = (out_len(h, stride), out_len(wd, stride));
        let mut out = Array4::zeros((n, co, oh, ow));
        for b in 0..n {
            for o in 0..co {
                let g = o / cog;
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = f64::from(bias[o]);
                        for i in 0..cig {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let iy = (oy * stride + ky) as isize - 1;
                                    let ix = (ox * stride + kx) as isize - 1;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    acc += f64::from(w[[o, i, ky, kx]])
                                        * f64::from(x[[b, g * cig + i, iy as usize, ix as usize]]);
                                }
                            }
                        }
                        out[[b, o, oy, ox]] = acc as f32;
                    }
                }
            }
        }
        out
    }

    fn pool_reference(x: &Array4<f32>, stride: usize, max: bool) -> Array4<f32> {
        let (n, c, h, w) = x.dim();
        let (oh, ow) = (out_len(h, stride), out_len(w, stride));
        Array4::from_shape_fn((n, c, oh, ow), |(b, ch, oy, ox)| {
            let mut acc = if max { f32::NEG_INFINITY } else { 0.0 };
            for ky in 0..3 {
                for kx in 0..3 {
                    let iy = (oy * stride + ky) as isize - 1;
                    let ix = (ox * stride + kx) as isize - 1;
                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                        continue;
                    }
                    let v = x[[b, ch, iy as usize, ix as usize]];
                    acc = if max { acc.max(v) } else { acc + v };
                }
            }
            if max { acc } else { acc / 9.0 }
        })
    }

    fn max_abs_diff(a: &Array4<f32>, b: &Array4<f32>) -> f32 {
        assert_eq!(a.dim(), b.dim());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn out_len_matches_pytorch() {
        // floor((n + 2 - 3) / s) + 1
        assert_eq!(out_len(1, 1), 1);
        assert_eq!(out_len(8, 1), 8);
        assert_eq!(out_len(8, 2), 4);
        assert_eq!(out_len(9, 2), 5);
        assert_eq!(out_len(1, 2), 1);
        assert_eq!(out_len(224, 2), 112);
    }

    #[test]
    fn valid_outputs_cover_exactly_the_real_pixels() {
        for len_in in 1..8 {
            for stride in 1..=2 {
                let len_out = out_len(len_in, stride);
                for k in 0..3 {
                    let r = valid_outputs(k, len_in, len_out, stride);
                    for o in 0..len_out {
                        let i = (o * stride + k) as isize - 1;
                        let real = i >= 0 && (i as usize) < len_in;
                        assert_eq!(
                            r.contains(&o),
                            real,
                            "len {len_in} stride {stride} k {k} o {o}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn depthwise_hand_computed() {
        // 1 channel, 3x3 input 1..9, all-ones kernel, stride 1: each output
        // is the sum of the in-bounds 3x3 neighbourhood, plus bias 0.5.
        let x = Array::from_shape_vec((1, 1, 3, 3), (1..=9).map(|v| v as f32).collect()).unwrap();
        let w = Array4::<f32>::ones((1, 1, 3, 3));
        let bias = array![0.5f32];
        let y = depthwise_conv3x3(x.view(), w.view(), bias.view(), 1);
        let expected = array![
            [12.0f32, 21.0, 16.0],
            [27.0, 45.0, 33.0],
            [24.0, 39.0, 28.0]
        ] + 0.5;
        assert_eq!(y.index_axis(Axis(0), 0).index_axis(Axis(0), 0), expected);
        // Stride 2 keeps the corners and centre-of-edges pattern.
        let y2 = depthwise_conv3x3(x.view(), w.view(), bias.view(), 2);
        let expected2 = array![[12.0f32, 16.0], [24.0, 28.0]] + 0.5;
        assert_eq!(y2.index_axis(Axis(0), 0).index_axis(Axis(0), 0), expected2);
    }

    #[test]
    fn depthwise_matches_brute_force() {
        for &(h, w) in &[(1, 1), (2, 3), (7, 7), (8, 8), (9, 5), (16, 11)] {
            for stride in 1..=2 {
                let x = rand4((2, 5, h, w), 1 + h as u64 * 31 + w as u64);
                let k = rand4((5, 1, 3, 3), 2);
                let bias = values(5, 3);
                let y = depthwise_conv3x3(x.view(), k.view(), ArrayView1::from(&bias), stride);
                let r = conv_reference(&x, &k, &bias, stride, 5);
                assert!(max_abs_diff(&y, &r) < 1e-5, "h {h} w {w} stride {stride}");
            }
        }
    }

    #[test]
    fn depthwise_accepts_non_contiguous_input() {
        let x = rand4((2, 6, 5, 7), 11);
        let k = rand4((6, 1, 3, 3), 12);
        let bias = values(6, 13);
        for stride in 1..=2 {
            let run = |v: ArrayView4<'_, f32>| {
                let expected = depthwise_conv3x3(
                    v.as_standard_layout().view(),
                    k.view(),
                    ArrayView1::from(&bias),
                    stride,
                );
                assert_eq!(
                    depthwise_conv3x3(v, k.view(), ArrayView1::from(&bias), stride),
                    expected
                );
            };
            // Batch and channel order reversed: the planes stay dense.
            run(x.slice(s![..;-1, ..;-1, .., ..]));
            // Transposed planes: no plane is dense.
            let t = x.view().permuted_axes([0, 1, 3, 2]);
            assert!(
                t.index_axis(Axis(0), 0)
                    .index_axis(Axis(0), 0)
                    .as_slice()
                    .is_none()
            );
            run(t);
        }
    }

    #[test]
    fn stem_conv_matches_brute_force() {
        for &(h, w) in &[(1, 1), (6, 6), (9, 7), (17, 16)] {
            for stride in 1..=2 {
                let x = rand4((2, 3, h, w), 21 + h as u64);
                let k = rand4((24, 3, 3, 3), 22);
                let bias = values(24, 23);
                let y = conv3x3(x.view(), k.view(), ArrayView1::from(&bias), stride);
                let r = conv_reference(&x, &k, &bias, stride, 1);
                assert!(max_abs_diff(&y, &r) < 1e-5, "h {h} w {w} stride {stride}");
            }
        }
    }

    #[test]
    fn pools_hand_computed() {
        let x = Array::from_shape_vec((1, 1, 3, 3), (1..=9).map(|v| v as f32).collect()).unwrap();
        let max = max_pool3x3(x.view(), 2);
        assert_eq!(
            max.into_shape_with_order(4).unwrap().to_vec(),
            vec![5.0, 6.0, 8.0, 9.0]
        );
        // count_include_pad: the top-left window holds 1+2+4+5 = 12, over 9.
        let avg = avg_pool3x3(x.view(), 2);
        let expected = [12.0f32 / 9.0, 16.0 / 9.0, 24.0 / 9.0, 28.0 / 9.0];
        for (a, e) in avg.iter().zip(expected) {
            assert!((a - e).abs() < 1e-6);
        }
        // Max pool must ignore padding even when every value is negative
        // (a zero from the padding would win otherwise).
        let neg = x.mapv(|v| -v);
        let max = max_pool3x3(neg.view(), 2);
        assert_eq!(
            max.into_shape_with_order(4).unwrap().to_vec(),
            vec![-1.0, -2.0, -4.0, -5.0]
        );
    }

    #[test]
    fn pools_match_brute_force() {
        for &(h, w) in &[(1, 1), (2, 2), (8, 8), (9, 9), (5, 12), (112, 112)] {
            for stride in 1..=2 {
                let x = rand4((2, 3, h, w), 31 + h as u64 * 7 + w as u64);
                let m = max_pool3x3(x.view(), stride);
                assert_eq!(
                    m,
                    pool_reference(&x, stride, true),
                    "max h {h} w {w} s {stride}"
                );
                let a = avg_pool3x3(x.view(), stride);
                assert!(max_abs_diff(&a, &pool_reference(&x, stride, false)) < 1e-6);
            }
        }
    }

    fn random_bn(c: usize, seed: u64) -> BatchNorm {
        let u = |s| Array1::from(values(c, s));
        BatchNorm {
            weight: u(seed).mapv(|v| 1.0 + 0.5 * v),
            bias: u(seed + 1).mapv(|v| 0.1 * v),
            running_mean: u(seed + 2).mapv(|v| 0.1 * v),
            running_var: u(seed + 3).mapv(|v| 1.0 + 0.5 * v),
            eps: BN_EPS,
        }
    }

    #[test]
    fn batch_norm_hand_computed() {
        let bn = BatchNorm {
            weight: array![2.0],
            bias: array![0.5],
            running_mean: array![1.0],
            running_var: array![4.0 - BN_EPS],
            eps: BN_EPS,
        };
        let mut x = Array4::from_elem((1, 1, 1, 2), 3.0f32);
        x[[0, 0, 0, 1]] = -1.0;
        bn.apply(&mut x.view_mut());
        // (3 - 1) / 2 * 2 + 0.5 = 2.5 ; (-1 - 1) / 2 * 2 + 0.5 = -1.5
        assert!((x[[0, 0, 0, 0]] - 2.5).abs() < 1e-6);
        assert!((x[[0, 0, 0, 1]] + 1.5).abs() < 1e-6);
    }

    #[test]
    fn folded_batch_norm_equals_unfolded() {
        let x = rand4((2, 6, 9, 9), 41);
        // Depthwise conv followed by BN.
        let k = rand4((6, 1, 3, 3), 42);
        let bias = Array1::from(values(6, 43));
        let bn = random_bn(6, 44);
        let mut unfolded = depthwise_conv3x3(x.view(), k.view(), bias.view(), 2);
        bn.apply(&mut unfolded.view_mut());
        let (mut kf, mut bf) = (k.clone().into_dyn(), bias.clone());
        fold_batch_norm(&mut kf, &mut bf, &bn);
        let kf = kf.into_dimensionality::<Ix4>().unwrap();
        let folded = depthwise_conv3x3(x.view(), kf.view(), bf.view(), 2);
        assert!(max_abs_diff(&folded, &unfolded) < 1e-5);

        // Dense conv (the stem) followed by BN.
        let x = rand4((1, 3, 10, 10), 45);
        let k = rand4((24, 3, 3, 3), 46);
        let bias = Array1::from(values(24, 47));
        let bn = random_bn(24, 48);
        let mut unfolded = conv3x3(x.view(), k.view(), bias.view(), 2);
        bn.apply(&mut unfolded.view_mut());
        let (mut kf, mut bf) = (k.into_dyn(), bias);
        fold_batch_norm(&mut kf, &mut bf, &bn);
        let kf = kf.into_dimensionality::<Ix4>().unwrap();
        let folded = conv3x3(x.view(), kf.view(), bf.view(), 2);
        assert!(max_abs_diff(&folded, &unfolded) < 1e-5);
    }

    #[test]
    fn bias_act_adds_per_channel_and_clamps() {
        let mut x = Array4::<f32>::zeros((2, 3, 2, 2)).into_dyn();
        bias_act(&mut x, ArrayView1::from(&[1.0, -1.0, 0.25]), true);
        for b in 0..2 {
            for (c, e) in [1.0, 0.0, 0.25].into_iter().enumerate() {
                assert!(
                    x.index_axis(Axis(0), b)
                        .index_axis(Axis(0), c)
                        .iter()
                        .all(|&v| v == e)
                );
            }
        }
        let mut y = Array4::<f32>::zeros((1, 2, 1, 3)).into_dyn();
        bias_act(&mut y, ArrayView1::from(&[-2.0, 3.0]), false);
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            vec![-2.0, -2.0, -2.0, 3.0, 3.0, 3.0]
        );
        // Non-standard layout input is handled.
        let mut t = Array4::<f32>::zeros((1, 2, 3, 2))
            .permuted_axes([0, 1, 3, 2])
            .into_dyn();
        assert!(!t.is_standard_layout());
        bias_act(&mut t, ArrayView1::from(&[1.0, 2.0]), false);
        let mut expected = vec![1.0; 6];
        expected.extend([2.0; 6]);
        assert_eq!(t.iter().copied().collect::<Vec<_>>(), expected);
    }
}
