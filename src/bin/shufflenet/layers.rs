//! The layers einops patterns cannot express: 3×3 windows with padding 1
//! (depthwise and stem convolutions, pooling), batch norm folding, and the
//! matrix product the 1×1 convolutions run on.
//!
//! A 3×3 window over an `h × w` plane first copies the plane into a
//! [`Window::padded_len`] scratch buffer with a zero border, applying an
//! element-wise function on the way (the previous layer's bias and ReLU, so
//! they cost no pass of their own). For stride 2 each padded row is stored
//! as its even columns followed by its odd columns, so that every one of
//! the nine taps of an output row reads one contiguous run of the buffer
//! ([`Window::taps`]). The kernels then combine nine equally long slices
//! element by element: no bounds logic in the inner loop, which the
//! compiler vectorises.

use ndarray::{Array1, ArrayD, ArrayView2, ArrayViewMut2, Axis, linalg::general_mat_mul};

/// `eps` of `torch.nn.BatchNorm2d`.
pub const BN_EPS: f32 = 1e-5;

/// Output length of a 3-tap window with padding 1 and the given stride
/// (PyTorch's `floor((len + 2 - 3) / stride) + 1`). `len` must be at least 1.
pub fn out_len(len: usize, stride: usize) -> usize {
    debug_assert!(len >= 1 && stride >= 1);
    (len - 1) / stride + 1
}

/// A 3×3 window with padding 1 and stride 1 or 2 over an `h × w` plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub h: usize,
    pub w: usize,
    pub stride: usize,
}

impl Window {
    /// # Panics
    ///
    /// If the plane is empty or the stride is not 1 or 2.
    pub fn new(h: usize, w: usize, stride: usize) -> Window {
        assert!(h >= 1 && w >= 1, "3x3 windows need a non-empty plane");
        assert!(
            stride == 1 || stride == 2,
            "3x3 windows support stride 1 or 2, got {stride}"
        );
        Window { h, w, stride }
    }

    pub fn out_h(&self) -> usize {
        out_len(self.h, self.stride)
    }

    pub fn out_w(&self) -> usize {
        out_len(self.w, self.stride)
    }

    /// Elements of one output plane.
    pub fn out_plane(&self) -> usize {
        self.out_h() * self.out_w()
    }

    fn padded_w(&self) -> usize {
        self.w + 2
    }

    /// Elements of the padded copy of one plane that [`Window::pad`] writes.
    pub fn padded_len(&self) -> usize {
        (self.h + 2) * self.padded_w()
    }

    /// Even columns of a padded row (stored first for stride 2).
    fn evens(&self) -> usize {
        self.padded_w().div_ceil(2)
    }

    /// Writes `f(src)` into `dst[..self.padded_len()]` with a zero border:
    /// padded row `r`, column `c` holds `f(src[r - 1][c - 1])`. For
    /// stride 2 the even columns of each row come first, then the odd ones.
    #[inline]
    pub fn pad(&self, src: ArrayView2<'_, f32>, dst: &mut [f32], f: impl Fn(f32) -> f32) {
        let (h, w, pw) = (self.h, self.w, self.padded_w());
        assert_eq!(src.dim(), (h, w), "plane shape");
        let dst = &mut dst[..self.padded_len()];
        let (top, rest) = dst.split_at_mut(pw);
        let (middle, bottom) = rest.split_at_mut(h * pw);
        top.fill(0.0);
        bottom.fill(0.0);
        match src.as_slice() {
            Some(plane) => {
                for (row, out) in plane.chunks_exact(w).zip(middle.chunks_exact_mut(pw)) {
                    self.pad_row(row, out, &f);
                }
            }
            None => {
                let mut row = vec![0.0; w];
                for (src, out) in src.rows().into_iter().zip(middle.chunks_exact_mut(pw)) {
                    row.iter_mut().zip(src).for_each(|(r, &v)| *r = v);
                    self.pad_row(&row, out, &f);
                }
            }
        }
    }

    /// One row of [`Window::pad`]: `out` is `w + 2` long.
    #[inline(always)]
    fn pad_row(&self, row: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32) {
        let w = self.w;
        let row = &row[..w];
        if self.stride == 1 {
            let (first, rest) = out.split_at_mut(1);
            let (inner, last) = rest.split_at_mut(w);
            first[0] = 0.0;
            last[0] = 0.0;
            for (o, &v) in inner.iter_mut().zip(row) {
                *o = f(v);
            }
        } else {
            // Padded column 2i + 1 (odd) is input column 2i, padded column
            // 2i + 2 (even) is input column 2i + 1; columns 0 and w + 1 are
            // padding.
            let (even, odd) = out.split_at_mut(self.evens());
            let m = w / 2;
            even[0] = 0.0;
            // Eight inputs at a time as fixed-size arrays, which the
            // compiler turns into vector shuffles; then pairs.
            let (odd_head, even_head) = (&mut odd[..m], &mut even[1..=m]);
            let octets = row.chunks_exact(8);
            let pairs = octets.remainder();
            let done = m - pairs.len() / 2;
            for ((p, o), e) in octets
                .zip(odd_head.chunks_exact_mut(4))
                .zip(even_head.chunks_exact_mut(4))
            {
                let p: &[f32; 8] = p.try_into().expect("8 inputs");
                let o: &mut [f32; 4] = o.try_into().expect("4 odd");
                let e: &mut [f32; 4] = e.try_into().expect("4 even");
                *o = [f(p[0]), f(p[2]), f(p[4]), f(p[6])];
                *e = [f(p[1]), f(p[3]), f(p[5]), f(p[7])];
            }
            let pairs = pairs.chunks_exact(2);
            let last = pairs.remainder().first().copied();
            for ((p, o), e) in pairs.zip(&mut odd_head[done..]).zip(&mut even_head[done..]) {
                *o = f(p[0]);
                *e = f(p[1]);
            }
            match last {
                Some(v) => {
                    odd[m] = f(v);
                    even[m + 1] = 0.0;
                }
                None => odd[m] = 0.0,
            }
        }
    }

    /// The nine runs of a padded plane `p` that output row `y` reads, one per
    /// tap `ky * 3 + kx`, each `out_w` long.
    #[inline(always)]
    pub fn taps<'a>(&self, p: &'a [f32], y: usize) -> [&'a [f32]; 9] {
        let (pw, ow) = (self.padded_w(), self.out_w());
        let row = |ky: usize| &p[(y * self.stride + ky) * pw..][..pw];
        let [r0, r1, r2] = [row(0), row(1), row(2)];
        if self.stride == 1 {
            [
                &r0[..ow],
                &r0[1..ow + 1],
                &r0[2..ow + 2],
                &r1[..ow],
                &r1[1..ow + 1],
                &r1[2..ow + 2],
                &r2[..ow],
                &r2[1..ow + 1],
                &r2[2..ow + 2],
            ]
        } else {
            let e = self.evens();
            [
                &r0[..ow],
                &r0[e..e + ow],
                &r0[1..ow + 1],
                &r1[..ow],
                &r1[e..e + ow],
                &r1[1..ow + 1],
                &r2[..ow],
                &r2[e..e + ow],
                &r2[1..ow + 1],
            ]
        }
    }

    /// Elements of the scratch buffer that [`Window::pad`] fills and the
    /// window kernels work in: the padded plane, and for stride 1 room for
    /// the flat result.
    pub fn scratch_len(&self) -> usize {
        self.padded_len()
            + match self.stride {
                1 => self.h * self.padded_w(),
                _ => 0,
            }
    }

    /// `out[y][x] = op(the nine taps of output (y, x))` for the plane that
    /// [`Window::pad`] wrote to the front of `scratch`.
    ///
    /// Stride 1 runs one loop over the flat padded plane: output `(y, x)`
    /// sits at flat index `y · (w + 2) + x`, and tap `(ky, kx)` is a fixed
    /// offset `ky · (w + 2) + kx` from it. The loop also computes the two
    /// positions between rows, which are dropped when the rows are copied
    /// out; in exchange a 7 × 7 plane is one vectorised loop of 61
    /// elements instead of seven of 7. Stride 2 goes row by row over the
    /// even/odd split columns ([`Window::taps`]).
    #[inline(always)]
    fn map_taps(&self, scratch: &mut [f32], out: &mut [f32], op: impl Fn([f32; 9]) -> f32) {
        let (p, rest) = scratch.split_at_mut(self.padded_len());
        let (w, ow, pw) = (self.w, self.out_w(), self.padded_w());
        let out = &mut out[..self.out_plane()];
        if self.stride == 1 {
            let n = (self.h - 1) * pw + w;
            let flat = &mut rest[..n];
            let tap = |ky: usize, kx: usize| &p[ky * pw + kx..][..n];
            let [t0, t1, t2] = [tap(0, 0), tap(0, 1), tap(0, 2)];
            let [t3, t4, t5] = [tap(1, 0), tap(1, 1), tap(1, 2)];
            let [t6, t7, t8] = [tap(2, 0), tap(2, 1), tap(2, 2)];
            for i in 0..n {
                flat[i] = op([
                    t0[i], t1[i], t2[i], t3[i], t4[i], t5[i], t6[i], t7[i], t8[i],
                ]);
            }
            for (o, row) in out.chunks_exact_mut(w).zip(flat.chunks(pw)) {
                o.copy_from_slice(&row[..w]);
            }
        } else {
            for (y, o) in out.chunks_exact_mut(ow).enumerate() {
                let [t0, t1, t2, t3, t4, t5, t6, t7, t8] = self.taps(p, y);
                let n = o.len();
                let (t0, t1, t2, t3, t4) = (&t0[..n], &t1[..n], &t2[..n], &t3[..n], &t4[..n]);
                let (t5, t6, t7, t8) = (&t5[..n], &t6[..n], &t7[..n], &t8[..n]);
                for x in 0..n {
                    o[x] = op([
                        t0[x], t1[x], t2[x], t3[x], t4[x], t5[x], t6[x], t7[x], t8[x],
                    ]);
                }
            }
        }
    }

    /// `out[y][x] = fin(Σ k[t] · tap_t[y][x])` over a padded plane: a 3×3
    /// convolution of one channel.
    #[inline]
    pub fn conv(
        &self,
        scratch: &mut [f32],
        k: &[f32; 9],
        out: &mut [f32],
        fin: impl Fn(f32) -> f32,
    ) {
        self.map_taps(scratch, out, |t| {
            let top = t[0] * k[0] + t[1] * k[1] + t[2] * k[2];
            let mid = t[3] * k[3] + t[4] * k[4] + t[5] * k[5];
            let bot = t[6] * k[6] + t[7] * k[7] + t[8] * k[8];
            fin(top + mid + bot)
        });
    }

    /// `out[y][x] = fin(Σ tap_t[y][x] / 9)`: `nn.AvgPool2d(3, stride,
    /// padding=1)` with PyTorch's default `count_include_pad=True`.
    #[inline]
    pub fn avg(&self, scratch: &mut [f32], out: &mut [f32], fin: impl Fn(f32) -> f32) {
        self.map_taps(scratch, out, |t| {
            fin(((t[0] + t[1] + t[2]) + (t[3] + t[4] + t[5]) + (t[6] + t[7] + t[8])) / 9.0)
        });
    }

    /// `out[y][x] = max_t tap_t[y][x]`: `nn.MaxPool2d(3, stride, padding=1)`
    /// for a plane padded with a value no larger than any of its elements
    /// (zero after a ReLU).
    #[inline]
    pub fn max(&self, scratch: &mut [f32], out: &mut [f32]) {
        self.map_taps(scratch, out, |t| {
            let top = t[0].max(t[1]).max(t[2]);
            let mid = t[3].max(t[4]).max(t[5]);
            let bot = t[6].max(t[7]).max(t[8]);
            top.max(mid).max(bot)
        });
    }

    /// im2col for output rows `rows` of a dense 3×3 convolution: row
    /// `c * 9 + t` of `cols` (each `rows.len() * out_w` long) holds tap `t`
    /// of padded input plane `c` of `planes`.
    pub fn im2col(&self, planes: &[f32], rows: std::ops::Range<usize>, cols: &mut [f32]) {
        let (pl, ow) = (self.padded_len(), self.out_w());
        let len = rows.len() * ow;
        for (c, plane) in planes.chunks_exact(pl).enumerate() {
            for (i, y) in rows.clone().enumerate() {
                let taps = self.taps(plane, y);
                for (t, tap) in taps.iter().enumerate() {
                    cols[(c * 9 + t) * len + i * ow..][..ow].copy_from_slice(tap);
                }
            }
        }
    }
}

/// `c = a · b + beta · c`, through ndarray's `general_mat_mul`
/// (matrixmultiply, with its runtime-selected AVX2/FMA or AVX-512 kernels):
/// the 1×1 convolutions split over threads.
/// Any strides: the grouped 1×1 convolutions hand in row blocks and column
/// ranges of their activations without copying them.
pub fn gemm(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) {
    general_mat_mul(1.0, &a, &b, beta, c);
}

/// `row[i] = max(row[i] + bias[r], 0)` for every row `r` of `c`.
pub fn bias_relu_rows(c: &mut ArrayViewMut2<'_, f32>, bias: &[f32]) {
    for (mut row, &b) in c.rows_mut().into_iter().zip(bias) {
        match row.as_slice_mut() {
            Some(s) => s.iter_mut().for_each(|v| *v = (*v + b).max(0.0)),
            None => row.mapv_inplace(|v| (v + b).max(0.0)),
        }
    }
}

/// `row[i] = max(row[i] + t[r][i] + bias[r], 0)` for every row `r` of `c`
/// (of `t`'s shape): the identity shortcut `c` plus a convolution's
/// product `t`, its bias and ReLU, in one pass.
pub fn add_bias_relu_rows(c: &mut ArrayViewMut2<'_, f32>, t: &ArrayView2<'_, f32>, bias: &[f32]) {
    for ((mut row, t), &b) in c.rows_mut().into_iter().zip(t.rows()).zip(bias) {
        match (row.as_slice_mut(), t.as_slice()) {
            (Some(s), Some(t)) => s
                .iter_mut()
                .zip(t)
                .for_each(|(v, &t)| *v = (*v + t + b).max(0.0)),
            _ => ndarray::Zip::from(&mut row)
                .and(&t)
                .for_each(|v, &t| *v = (*v + t + b).max(0.0)),
        }
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ndarray::{Array, Array2, Array4, ArrayView4, array, s};

    /// Tiny deterministic pseudo-random values in [-1, 1).
    pub fn values(n: usize, seed: u64) -> Vec<f32> {
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

    pub fn rand4(shape: (usize, usize, usize, usize), seed: u64) -> Array4<f32> {
        let n = shape.0 * shape.1 * shape.2 * shape.3;
        Array::from_shape_vec(shape, values(n, seed)).unwrap()
    }

    /// Brute-force 3×3 convolution with padding 1: explicit window loops in
    /// f64, grouped like `nn.Conv2d(ci, co, 3, stride, 1, groups=groups)`.
    pub fn conv_reference(
        x: &Array4<f32>,
        w: &Array4<f32>,
        bias: &[f32],
        stride: usize,
        groups: usize,
    ) -> Array4<f32> {
        let (n, ci, h, wd) = x.dim();
        let co = w.dim().0;
        let (cig, cog) = (ci / groups, co / groups);
        let (oh, ow) = ((h - 1) / stride + 1, (wd - 1) / stride + 1);
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

    /// Brute-force 3×3 pooling with padding 1 (padding never wins the max;
    /// the average always divides by 9).
    pub fn pool_reference(x: &Array4<f32>, stride: usize, max: bool) -> Array4<f32> {
        let (n, c, h, w) = x.dim();
        let (oh, ow) = ((h - 1) / stride + 1, (w - 1) / stride + 1);
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

    pub fn max_abs_diff(a: &Array4<f32>, b: &Array4<f32>) -> f32 {
        assert_eq!(a.dim(), b.dim());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// Runs `kernel(window, padded plane, output plane)` over every plane of
    /// `x`, padding each with `f`.
    fn per_plane(
        x: ArrayView4<'_, f32>,
        stride: usize,
        f: impl Fn(f32) -> f32,
        kernel: impl Fn(Window, usize, &mut [f32], &mut [f32]),
    ) -> Array4<f32> {
        let (n, c, h, w) = x.dim();
        let win = Window::new(h, w, stride);
        let mut out = Array4::zeros((n, c, win.out_h(), win.out_w()));
        // Garbage in the scratch buffer must not leak into the border.
        let mut pad = vec![f32::NAN; win.scratch_len()];
        for b in 0..n {
            for ch in 0..c {
                win.pad(x.slice(s![b, ch, .., ..]), &mut pad, &f);
                let mut o = out.slice_mut(s![b, ch, .., ..]);
                kernel(win, ch, &mut pad, o.as_slice_mut().unwrap());
            }
        }
        out
    }

    fn depthwise(
        x: ArrayView4<'_, f32>,
        k: &Array4<f32>,
        bias: &[f32],
        stride: usize,
    ) -> Array4<f32> {
        let k = k.as_standard_layout();
        let k = k.as_slice().unwrap();
        per_plane(
            x,
            stride,
            |v| v,
            |win, ch, p, out| {
                let taps: &[f32; 9] = k[ch * 9..][..9].try_into().unwrap();
                win.conv(p, taps, out, |v| v + bias[ch]);
            },
        )
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
    fn padded_planes_hold_the_input_and_a_zero_border() {
        for (h, w) in [(1, 1), (2, 3), (3, 2), (4, 5), (5, 4)] {
            for stride in 1..=2 {
                let win = Window::new(h, w, stride);
                let x = Array::from_shape_fn((h, w), |(r, c)| (r * 10 + c + 1) as f32);
                let mut p = vec![f32::NAN; win.padded_len() + 3];
                win.pad(x.view(), &mut p, |v| 2.0 * v);
                // Undo the even/odd split for stride 2.
                let pw = w + 2;
                let e = pw.div_ceil(2);
                let at = |r: usize, c: usize| {
                    let row = &p[r * pw..][..pw];
                    if stride == 1 {
                        row[c]
                    } else if c.is_multiple_of(2) {
                        row[c / 2]
                    } else {
                        row[e + c / 2]
                    }
                };
                for r in 0..h + 2 {
                    for c in 0..pw {
                        let expected = if r == 0 || c == 0 || r == h + 1 || c == w + 1 {
                            0.0
                        } else {
                            2.0 * x[[r - 1, c - 1]]
                        };
                        assert_eq!(at(r, c), expected, "h {h} w {w} s {stride} r {r} c {c}");
                    }
                }
                assert!(p[win.padded_len()..].iter().all(|v| v.is_nan()));
            }
        }
    }

    #[test]
    fn depthwise_hand_computed() {
        // 1 channel, 3x3 input 1..9, all-ones kernel, stride 1: each output
        // is the sum of the in-bounds 3x3 neighbourhood, plus bias 0.5.
        let x = Array::from_shape_vec((1, 1, 3, 3), (1..=9).map(|v| v as f32).collect()).unwrap();
        let w = Array4::<f32>::ones((1, 1, 3, 3));
        let y = depthwise(x.view(), &w, &[0.5], 1);
        let expected = array![
            [12.0f32, 21.0, 16.0],
            [27.0, 45.0, 33.0],
            [24.0, 39.0, 28.0]
        ] + 0.5;
        assert_eq!(y.slice(s![0, 0, .., ..]), expected);
        // Stride 2 keeps the corners and centre-of-edges pattern.
        let y2 = depthwise(x.view(), &w, &[0.5], 2);
        let expected2 = array![[12.0f32, 16.0], [24.0, 28.0]] + 0.5;
        assert_eq!(y2.slice(s![0, 0, .., ..]), expected2);
    }

    #[test]
    fn depthwise_matches_brute_force() {
        for &(h, w) in &[(1, 1), (2, 3), (7, 7), (8, 8), (9, 5), (16, 11), (28, 28)] {
            for stride in 1..=2 {
                let x = rand4((2, 5, h, w), 1 + h as u64 * 31 + w as u64);
                let k = rand4((5, 1, 3, 3), 2);
                let bias = values(5, 3);
                let y = depthwise(x.view(), &k, &bias, stride);
                let r = conv_reference(&x, &k, &bias, stride, 5);
                assert!(max_abs_diff(&y, &r) < 1e-5, "h {h} w {w} stride {stride}");
                // Any input layout: transposed planes are not rows of slices.
                let t = x.view().permuted_axes([0, 1, 3, 2]);
                let yt = depthwise(t, &k, &bias, stride);
                let rt = conv_reference(&t.to_owned(), &k, &bias, stride, 5);
                assert!(max_abs_diff(&yt, &rt) < 1e-5, "transposed h {h} w {w}");
            }
        }
    }

    #[test]
    fn stem_im2col_gemm_matches_brute_force() {
        for &(h, w) in &[(1, 1), (6, 6), (9, 7), (17, 16)] {
            for stride in 1..=2 {
                let x = rand4((1, 3, h, w), 21 + h as u64);
                let k = rand4((24, 3, 3, 3), 22);
                let bias = values(24, 23);
                let win = Window::new(h, w, stride);
                let mut planes = vec![f32::NAN; 3 * win.padded_len()];
                for (c, p) in planes.chunks_exact_mut(win.padded_len()).enumerate() {
                    win.pad(x.slice(s![0, c, .., ..]), p, |v| v);
                }
                let (oh, ow) = (win.out_h(), win.out_w());
                let mut out = Array2::<f32>::from_elem((24, oh * ow), f32::NAN);
                // Two blocks of rows, as the model runs it.
                let mid = oh / 2;
                for rows in [0..mid, mid..oh] {
                    let mut cols = vec![f32::NAN; 27 * rows.len() * ow];
                    win.im2col(&planes, rows.clone(), &mut cols);
                    let cols = ArrayView2::from_shape((27, rows.len() * ow), &cols).unwrap();
                    let weight = k.view().into_shape_with_order((24, 27)).unwrap();
                    let mut c = out.slice_mut(s![.., rows.start * ow..rows.end * ow]);
                    gemm(weight, cols, 0.0, &mut c);
                }
                let mut y = out.into_shape_with_order((1, 24, oh, ow)).unwrap();
                for (mut plane, b) in y.axis_iter_mut(Axis(1)).zip(&bias) {
                    plane.mapv_inplace(|v| v + b);
                }
                let r = conv_reference(&x, &k, &bias, stride, 1);
                assert!(max_abs_diff(&y, &r) < 1e-5, "h {h} w {w} stride {stride}");
            }
        }
    }

    #[test]
    fn pools_hand_computed() {
        let x = Array::from_shape_vec((1, 1, 3, 3), (1..=9).map(|v| v as f32).collect()).unwrap();
        let max = per_plane(x.view(), 2, |v| v, |win, _, p, out| win.max(p, out));
        assert_eq!(
            max.into_shape_with_order(4).unwrap().to_vec(),
            vec![5.0, 6.0, 8.0, 9.0]
        );
        // count_include_pad: the top-left window holds 1+2+4+5 = 12, over 9.
        let avg = per_plane(x.view(), 2, |v| v, |win, _, p, out| win.avg(p, out, |v| v));
        let expected = [12.0f32 / 9.0, 16.0 / 9.0, 24.0 / 9.0, 28.0 / 9.0];
        for (a, e) in avg.iter().zip(expected) {
            assert!((a - e).abs() < 1e-6);
        }
    }

    #[test]
    fn pools_match_brute_force() {
        for &(h, w) in &[(1, 1), (2, 2), (8, 8), (9, 9), (5, 12), (112, 112)] {
            for stride in 1..=2 {
                let x = rand4((2, 3, h, w), 31 + h as u64 * 7 + w as u64);
                // The max pool runs after a ReLU, on a zero-padded plane:
                // compare it with PyTorch's max pool of the ReLU.
                let relu = x.mapv(|v| v.max(0.0));
                let m = per_plane(
                    x.view(),
                    stride,
                    |v| v.max(0.0),
                    |win, _, p, out| win.max(p, out),
                );
                assert_eq!(
                    m,
                    pool_reference(&relu, stride, true),
                    "max h {h} w {w} s {stride}"
                );
                let a = per_plane(
                    x.view(),
                    stride,
                    |v| v,
                    |win, _, p, out| win.avg(p, out, |v| v),
                );
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
        let k = rand4((6, 1, 3, 3), 42);
        let bias = Array1::from(values(6, 43));
        let bn = random_bn(6, 44);
        let mut unfolded = conv_reference(&x, &k, bias.as_slice().unwrap(), 2, 6);
        bn.apply(&mut unfolded.view_mut());
        let (mut kf, mut bf) = (k.clone().into_dyn(), bias.clone());
        fold_batch_norm(&mut kf, &mut bf, &bn);
        let kf = kf.into_dimensionality().unwrap();
        let folded = depthwise(x.view(), &kf, bf.as_slice().unwrap(), 2);
        assert!(max_abs_diff(&folded, &unfolded) < 1e-5);
    }

    #[test]
    fn bias_relu_adds_per_row_and_clamps() {
        let mut c = Array2::<f32>::zeros((3, 4));
        bias_relu_rows(&mut c.view_mut(), &[1.0, -1.0, 0.25]);
        assert_eq!(c.column(0).to_vec(), [1.0, 0.0, 0.25]);
        assert!(c.rows().into_iter().all(|r| r.iter().all(|&v| v == r[0])));
        // A column range of a wider matrix: rows are strided runs.
        let mut wide = Array2::<f32>::from_elem((2, 6), -3.0);
        bias_relu_rows(&mut wide.slice_mut(s![.., 2..4]), &[5.0, 1.0]);
        assert_eq!(wide.row(0).to_vec(), [-3.0, -3.0, 2.0, 2.0, -3.0, -3.0]);
        assert_eq!(wide.row(1).to_vec(), [-3.0, -3.0, 0.0, 0.0, -3.0, -3.0]);
    }
}
