//! Twenty-five everyday uses, written as a user writes them: typed arrays
//! in, typed arrays out, with no `into_dyn`, `into_dimensionality` or
//! `into_owned`. Each result is checked element by element against index
//! arithmetic written out by hand.

use einplan::{EinMix, Einsum, Error, ErrorKind, Rearrange, Reduce, Reduction, Repeat};
use ndarray::{Array, Array1, Array2, Array3, Array4, ArrayView3, Ix1, Ix2, Ix3, Ix4, Ix5, array};

/// Distinct values, so a misplaced element shows.
fn arange4(d: (usize, usize, usize, usize)) -> Array4<f32> {
    Array::from_shape_fn(d, |(a, b, c, e)| {
        (((a * d.1 + b) * d.2 + c) * d.3 + e) as f32
    })
}

fn arange3(d: (usize, usize, usize)) -> Array3<f32> {
    Array::from_shape_fn(d, |(a, b, c)| ((a * d.1 + b) * d.2 + c) as f32)
}

#[test]
fn u01_vit_patches() -> Result<(), Error> {
    let x = arange4((2, 3, 8, 8));
    let patches = Rearrange::new("b c (h p1) (w p2) -> b (h w) (p1 p2 c)")?
        .with("p1", 4)?
        .with("p2", 4)?
        .rank::<Ix3>()?;
    let y = patches.apply(&x)?;
    assert_eq!(y.dim(), (2, 4, 48));
    for ((b, n, k), &v) in y.indexed_iter() {
        let (h, w) = (n / 2, n % 2);
        let (p1, p2, c) = (k / 12, (k / 3) % 4, k % 3);
        assert_eq!(v, x[[b, c, h * 4 + p1, w * 4 + p2]]);
    }
    Ok(())
}

#[test]
fn u02_attention_heads_split_and_merge() -> Result<(), Error> {
    let x = arange3((2, 5, 12));
    let split = Rearrange::new("b t (h d) -> b h t d")?
        .with("h", 3)?
        .rank::<Ix4>()?;
    let heads = split.apply(&x)?;
    assert_eq!(heads.dim(), (2, 3, 5, 4));
    for ((b, h, t, d), &v) in heads.indexed_iter() {
        assert_eq!(v, x[[b, t, h * 4 + d]]);
    }
    let merge = Rearrange::new("b h t d -> b t (h d)")?.rank::<Ix3>()?;
    assert_eq!(merge.apply(&heads)?, x);
    Ok(())
}

#[test]
fn u03_attention_scores() -> Result<(), Error> {
    let q = arange4((1, 2, 3, 4));
    let k = arange4((1, 2, 5, 4)).mapv(|v| v * 0.5);
    let scores = Einsum::new("b h q d, b h k d -> b h q k")?.rank::<Ix4>()?;
    let s: Array4<f32> = scores.apply((&q, &k))?;
    for ((b, h, i, j), &v) in s.indexed_iter() {
        let want: f32 = (0..4).map(|d| q[[b, h, i, d]] * k[[b, h, j, d]]).sum();
        assert_eq!(v, want);
    }
    Ok(())
}

#[test]
fn u04_pixel_shuffle() -> Result<(), Error> {
    let x = arange4((1, 8, 3, 3));
    let up = Rearrange::new("b (c r1 r2) h w -> b c (h r1) (w r2)")?
        .with("r1", 2)?
        .with("r2", 2)?
        .rank::<Ix4>()?;
    let y = up.apply(&x)?;
    assert_eq!(y.dim(), (1, 2, 6, 6));
    for ((b, c, i, j), &v) in y.indexed_iter() {
        assert_eq!(v, x[[b, c * 4 + (i % 2) * 2 + j % 2, i / 2, j / 2]]);
    }
    Ok(())
}

#[test]
fn u05_max_pool_2x2() -> Result<(), Error> {
    let x = arange4((1, 2, 4, 6)).mapv(|v| (v * 7.0) % 11.0);
    let pool = Reduce::new("b c (h 2) (w 2) -> b c h w", Reduction::Max)?.rank::<Ix4>()?;
    let y: Array4<f32> = pool.apply(&x)?;
    for ((b, c, i, j), &v) in y.indexed_iter() {
        let cell =
            [(0, 0), (0, 1), (1, 0), (1, 1)].map(|(di, dj)| x[[b, c, 2 * i + di, 2 * j + dj]]);
        assert_eq!(v, cell.into_iter().fold(f32::MIN, f32::max));
    }
    Ok(())
}

#[test]
fn u06_global_average_pool() -> Result<(), Error> {
    let x = arange4((2, 3, 4, 5));
    let y: Array2<f32> = Reduce::new("b c h w -> b c", Reduction::Mean)?
        .rank::<Ix2>()?
        .apply(&x)?;
    for ((b, c), &v) in y.indexed_iter() {
        let sum: f32 = x.slice(ndarray::s![b, c, .., ..]).sum();
        assert!((v - sum / 20.0).abs() < 1e-4);
    }
    Ok(())
}

#[test]
fn u07_class_token_pack_and_unpack() -> Result<(), Error> {
    let cls = Array2::<f32>::from_elem((2, 8), -1.0);
    let tokens = arange3((2, 4, 8));
    let (packed, shapes) = einplan::pack((&cls, &tokens), "b * d")?;
    assert_eq!(packed.shape(), &[2, 5, 8]);
    assert_eq!(shapes, [vec![], vec![4]]);
    for b in 0..2 {
        for d in 0..8 {
            assert_eq!(packed[[b, 0, d]], -1.0);
            for t in 0..4 {
                assert_eq!(packed[[b, t + 1, d]], tokens[[b, t, d]]);
            }
        }
    }
    let parts = einplan::unpack(&packed, &shapes, "b * d")?;
    assert_eq!(parts[1], tokens.clone().into_dyn());
    Ok(())
}

#[test]
fn u08_grouped_convolution_1x1() -> Result<(), Error> {
    let x = arange4((2, 6, 3, 3));
    let w = Array3::from_shape_fn((3, 4, 2), |(g, o, i)| (g * 8 + o * 2 + i) as f32 * 0.1);
    let conv = Einsum::new("b (g ci) h w, g co ci -> b (g co) h w")?
        .with("g", 3)?
        .rank::<Ix4>()?;
    let y = conv.apply((&x, &w))?;
    assert_eq!(y.dim(), (2, 12, 3, 3));
    for ((b, oc, i, j), &v) in y.indexed_iter() {
        let (g, o) = (oc / 4, oc % 4);
        let want: f32 = (0..2)
            .map(|ci| x[[b, g * 2 + ci, i, j]] * w[[g, o, ci]])
            .sum();
        assert!((v - want).abs() < 1e-4);
    }
    Ok(())
}

#[test]
fn u09_channel_shuffle() -> Result<(), Error> {
    let x = arange4((1, 6, 2, 2));
    let shuffle = Rearrange::new("b (g c) h w -> b (c g) h w")?
        .with("g", 2)?
        .rank::<Ix4>()?;
    let y = shuffle.apply(&x)?;
    for ((b, k, i, j), &v) in y.indexed_iter() {
        let (c, g) = (k / 2, k % 2);
        assert_eq!(v, x[[b, g * 3 + c, i, j]]);
    }
    Ok(())
}

#[test]
fn u10_nhwc_to_nchw_as_a_view() -> Result<(), Error> {
    let x = arange4((2, 4, 5, 3));
    let to_nchw = Rearrange::new("b h w c -> b c h w")?.rank::<Ix4>()?;
    let y = to_nchw.view(&x)?;
    assert_eq!(y.dim(), (2, 3, 4, 5));
    for ((b, c, i, j), &v) in y.indexed_iter() {
        assert_eq!(v, x[[b, i, j, c]]);
    }
    Ok(())
}

#[test]
fn u11_flatten_for_a_linear_layer() -> Result<(), Error> {
    let x = arange4((2, 3, 2, 2));
    let flat = Rearrange::new("b c h w -> b (c h w)")?.rank::<Ix2>()?;
    let y = flat.apply(&x)?;
    assert_eq!(y.dim(), (2, 12));
    assert_eq!(
        y.iter().copied().collect::<Vec<_>>(),
        x.iter().copied().collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn u12_batched_matmul() -> Result<(), Error> {
    let a = arange3((3, 2, 4));
    let b = arange3((3, 4, 5));
    let c: Array3<f32> = Einsum::new("n i k, n k j -> n i j")?
        .rank::<Ix3>()?
        .apply((&a, &b))?;
    for ((n, i, j), &v) in c.indexed_iter() {
        let want: f32 = (0..4).map(|k| a[[n, i, k]] * b[[n, k, j]]).sum();
        assert_eq!(v, want);
    }
    Ok(())
}

#[test]
fn u13_outer_product_of_a_view_and_an_owned_array() -> Result<(), Error> {
    let a = array![1.0f32, 2.0, 3.0];
    let b = Array1::from_vec(vec![10.0f32, 20.0]);
    let m: Array2<f32> = Einsum::new("i, j -> i j")?
        .rank::<Ix2>()?
        .apply((a.view(), &b))?;
    assert_eq!(m, array![[10.0, 20.0], [20.0, 40.0], [30.0, 60.0]]);
    Ok(())
}

#[test]
fn u14_trace_and_diagonal() -> Result<(), Error> {
    let m = array![[1, 2, 3], [4, 5, 6], [7, 8, 9]];
    let diag: Array1<i32> = Einsum::new("i i -> i")?.rank::<Ix1>()?.apply((&m,))?;
    assert_eq!(diag, array![1, 5, 9]);
    let trace = einplan::einsum("i i ->", (&m,))?;
    assert_eq!(trace[[]], 15);
    Ok(())
}

#[test]
fn u15_repeat_a_grey_image_to_rgb() -> Result<(), Error> {
    let grey = Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as u8);
    let rgb = Repeat::new("h w -> h w c")?.with("c", 3)?.rank::<Ix3>()?;
    let y = rgb.apply(&grey)?;
    assert_eq!(y.dim(), (3, 4, 3));
    for ((i, j, _), &v) in y.indexed_iter() {
        assert_eq!(v, grey[[i, j]]);
    }
    Ok(())
}

#[test]
fn u16_upsample_nearest() -> Result<(), Error> {
    let x = arange4((1, 1, 2, 3));
    let up = Repeat::new("b c h w -> b c (h 2) (w 2)")?.rank::<Ix4>()?;
    let y = up.apply(&x)?;
    assert_eq!(y.dim(), (1, 1, 4, 6));
    for ((b, c, i, j), &v) in y.indexed_iter() {
        assert_eq!(v, x[[b, c, i / 2, j / 2]]);
    }
    Ok(())
}

#[test]
fn u17_space_to_depth() -> Result<(), Error> {
    let x = arange4((1, 2, 4, 4));
    let s2d = Rearrange::new("b c (h dh) (w dw) -> b (c dh dw) h w")?
        .with("dh", 2)?
        .with("dw", 2)?
        .rank::<Ix4>()?;
    let y = s2d.apply(&x)?;
    assert_eq!(y.dim(), (1, 8, 2, 2));
    for ((b, k, i, j), &v) in y.indexed_iter() {
        let (c, dh, dw) = (k / 4, (k / 2) % 2, k % 2);
        assert_eq!(v, x[[b, c, 2 * i + dh, 2 * j + dw]]);
    }
    Ok(())
}

#[test]
fn u18_lengths_read_from_one_array_used_on_another() -> Result<(), Error> {
    let image = arange4((2, 3, 4, 6));
    let dims = einplan::parse_shape(&image, "b c h w")?;
    let flat = einplan::rearrange(&image, "b c h w -> b (h w) c", &[])?;
    let back = einplan::rearrange(&flat, "b (h w) c -> b c h w", &dims)?;
    assert_eq!(back, image.view().into_dyn());
    Ok(())
}

#[test]
fn u19_video_frames_to_a_batch() -> Result<(), Error> {
    let v = Array::from_shape_fn((2, 3, 1, 2, 2), |(b, t, c, h, w)| {
        (b * 100 + t * 10 + c + h * 2 + w) as f32
    });
    let to_batch = Rearrange::new("b t c h w -> (b t) c h w")?.rank::<Ix4>()?;
    let y = to_batch.apply(&v)?;
    assert_eq!(y.dim(), (6, 1, 2, 2));
    for ((bt, c, h, w), &x) in y.indexed_iter() {
        assert_eq!(x, v[[bt / 3, bt % 3, c, h, w]]);
    }
    let back = Rearrange::new("(b t) c h w -> b t c h w")?
        .with("t", 3)?
        .rank::<Ix5>()?;
    assert_eq!(back.apply(&y)?, v);
    Ok(())
}

#[test]
fn u20_sum_of_squares_per_row_with_einsum() -> Result<(), Error> {
    let x = array![[1.0f64, 2.0], [3.0, 4.0]];
    let y: Array1<f64> = Einsum::new("r c, r c -> r")?
        .rank::<Ix1>()?
        .apply((&x, &x.view()))?;
    assert_eq!(y, array![5.0, 25.0]);
    Ok(())
}

#[test]
fn u21_linear_layer_with_einmix() -> Result<(), Error> {
    let mut mix = EinMix::<f64>::new("b t c -> b t d", "c d", Some("d"), &[("c", 2), ("d", 3)])?;
    mix.set_weight(&array![[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]])?;
    // The bias is shaped like the output, with 1 on the axes it lacks.
    mix.set_bias(&Array3::from_elem((1, 1, 3), 0.5))?;
    let x = Array3::from_shape_fn((1, 2, 2), |(_, t, c)| (t * 2 + c) as f64);
    let mut out = Array3::<f64>::from_elem((1, 2, 3), f64::NAN);
    mix.apply_into(&x, &mut out)?;
    for ((b, t, d), &v) in out.indexed_iter() {
        let w = mix.weight();
        let want = x[[b, t, 0]] * w[[0, d]] + x[[b, t, 1]] * w[[1, d]] + 0.5;
        assert_eq!(v, want);
    }
    Ok(())
}

#[test]
fn u22_mean_over_time_of_a_view() -> Result<(), Error> {
    let x = arange3((4, 3, 2));
    let every_other: ArrayView3<'_, f32> = x.slice(ndarray::s![..;2, .., ..]);
    let y: Array2<f32> = Reduce::new("t c f -> c f", Reduction::Mean)?
        .rank::<Ix2>()?
        .apply(&every_other)?;
    for ((c, f), &v) in y.indexed_iter() {
        assert_eq!(v, (x[[0, c, f]] + x[[2, c, f]]) / 2.0);
    }
    Ok(())
}

#[test]
fn u23_stack_a_list_of_images() -> Result<(), Error> {
    let imgs = vec![Array2::<u8>::zeros((2, 3)), Array2::<u8>::ones((2, 3))];
    let y = einplan::rearrange_list(&imgs, "n h w -> h (n w)", &[])?;
    assert_eq!(y.shape(), &[2, 6]);
    for ((h, nw), &v) in y
        .view()
        .into_dimensionality::<Ix2>()
        .unwrap()
        .indexed_iter()
    {
        assert_eq!(v, imgs[nw / 3][[h, nw % 3]]);
    }
    Ok(())
}

#[test]
fn u24_einsum_into_a_reused_buffer() -> Result<(), Error> {
    let proj = Einsum::new("b i, o i -> b o")?;
    let w = array![[1.0f32, 0.0, -1.0], [2.0, 2.0, 2.0]];
    let mut out = Array2::<f32>::from_elem((2, 2), f32::NAN);
    for step in 0..3 {
        let x = Array2::from_shape_fn((2, 3), |(b, i)| (b * 3 + i + step) as f32);
        proj.apply_into((&x, &w), &mut out)?;
        for ((b, o), &v) in out.indexed_iter() {
            let want: f32 = (0..3).map(|i| x[[b, i]] * w[[o, i]]).sum();
            assert_eq!(v, want);
        }
    }
    Ok(())
}

#[test]
fn u25_a_wrong_rank_type_points_at_the_output() -> Result<(), Error> {
    // Fixed by the pattern: refused when the op is built.
    let err = Rearrange::new("b c h w -> b (c h w)")?
        .rank::<Ix4>()
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::OutputRank {
                expected: 4,
                found: 2
            }
        ),
        "{err}"
    );
    assert_eq!(err.span(), 11..20);
    // Given by the input (`...`): refused when applied.
    let op = Rearrange::new("b ... -> ... b")?.rank::<Ix3>()?;
    let err = op.apply(&Array2::<f32>::zeros((2, 3))).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::OutputRank {
                expected: 3,
                found: 2
            }
        ),
        "{err}"
    );
    assert_eq!(err.span(), 9..14);
    assert!(
        err.to_string()
            .contains("the output has 2 dimensions, but the result type has 3")
    );
    Ok(())
}

/// The README's example of typed arrays, verbatim but for the name of `main`.
mod readme {
    use einplan::{Einsum, Rearrange};
    use ndarray::{Array2, Array3, Array4, Ix4};

    fn attention(q: &Array3<f32>, k: &Array3<f32>) -> Result<Array4<f32>, einplan::Error> {
        let heads = Rearrange::new("b t (h d) -> b h t d")?
            .with("h", 4)?
            .rank::<Ix4>()?;
        let scores = Einsum::new("b h q d, b h k d -> b h q k")?.rank::<Ix4>()?;
        scores.apply((&heads.apply(q)?, &heads.apply(k)?))
    }

    fn readme_main() -> Result<(), einplan::Error> {
        let x = Array3::<f32>::ones((2, 6, 32));
        assert_eq!(attention(&x, &x)?.dim(), (2, 4, 6, 6));

        // Owned arrays of ranks 2 and 3, packed together.
        let cls = Array2::<f32>::zeros((2, 32));
        let (tokens, _) = einplan::pack((&cls, &x), "b * c")?;
        assert_eq!(tokens.shape(), &[2, 7, 32]);

        // Lengths read from one array, used on another.
        let image = Array4::<f32>::zeros((2, 32, 2, 3));
        let hw = einplan::parse_shape(&image, "_ _ h w")?;
        let back = einplan::rearrange(&x, "b (h w) c -> b c h w", &hw)?;
        assert_eq!(back.shape(), image.shape());
        Ok(())
    }

    #[test]
    fn runs() {
        readme_main().unwrap();
    }
}

/// The README's plain-buffer example ("Any tensor code"), with its printed
/// values asserted.
#[test]
fn readme_plain_buffers() -> Result<(), Error> {
    use einplan::Layout;
    let buf: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let a = Layout::new(&[2, 3], &[6, 2], 0, buf.len())?.array_view(&buf)?;
    let b = Layout::new(&[2, 3], &[6, 2], 1, buf.len())?.array_view(&buf)?;
    let (packed, _) = einplan::pack((&a, &b), "r *")?;
    assert_eq!(
        packed.iter().copied().collect::<Vec<_>>(),
        [0., 2., 4., 1., 3., 5., 6., 8., 10., 7., 9., 11.]
    );
    let mut out = vec![0f32; 4];
    let col_major = Layout::new(&[2, 2], &[1, 2], 0, out.len())?;
    Einsum::new("i k, j k -> i j")?
        .apply_into((&a, &b), &mut col_major.array_view_mut(&mut out)?)?;
    assert_eq!(out, [26.0, 80.0, 62.0, 224.0]);
    Ok(())
}
