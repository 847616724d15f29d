//! The slice API (`Plan::view`, `copy`, `reduce_into`, `fold_into` over
//! `&[T]` with a `Layout`, and `Layout::array_view`/`array_view_mut` for
//! the other operations): the einops fixtures for rearrange, repeat,
//! reduce, einsum and pack/unpack replayed with inputs and outputs placed
//! in buffers at random layouts (permuted, reversed, stepped, offset); and
//! bad layouts.
//!
//! Elements are placed and read back here by their own index arithmetic
//! (`offset + Σ i_k · stride_k`), which shares no code with einplan.

use einplan::{Einsum, ErrorKind, Layout, Rearrange, Reduce, Reduction, Repeat};
use ndarray::{ArrayD, Axis, Dimension, IxDyn};
use serde_json::Value;

use crate::common::{
    base, expected, inputs, judge, layout, lengths, packed_shapes, reduction, replay, usizes,
};

/// A small deterministic generator (xorshift64*), seeded per case.
struct Rng(u64);

impl Rng {
    fn new(seed: &str) -> Rng {
        let h = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Rng(h | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// A random layout for `shape`: axes stored in a random order, each with a
/// step of 1 or 2 and possibly reversed, after a random offset, in a buffer
/// with a little slack at the end. Returns `(strides, offset, buffer_len)`.
fn random_layout(shape: &[usize], rng: &mut Rng) -> (Vec<isize>, usize, usize) {
    let nd = shape.len();
    let mut order: Vec<usize> = (0..nd).collect();
    for i in (1..nd).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut strides = vec![0isize; nd];
    let mut running: usize = 1;
    for &d in order.iter().rev() {
        let step = 1 + rng.below(2);
        strides[d] = (running * step) as isize;
        running *= step * shape[d].max(1);
    }
    let pad = rng.below(3);
    let mut offset = pad;
    for d in 0..nd {
        if shape[d] > 1 && rng.below(2) == 1 {
            offset += (shape[d] - 1) * strides[d] as usize;
            strides[d] = -strides[d];
        }
    }
    (strides, offset, pad + running + rng.below(2))
}

/// The buffer index of element `index`.
fn position(index: &[usize], strides: &[isize], offset: usize) -> usize {
    let p = index
        .iter()
        .zip(strides)
        .fold(offset as isize, |acc, (&i, &s)| acc + i as isize * s);
    p as usize
}

/// Every index of `shape` in row-major order.
fn indices(shape: &[usize]) -> Vec<Vec<usize>> {
    ndarray::indices(IxDyn(shape))
        .into_iter()
        .map(|i| i.slice().to_vec())
        .collect()
}

const SENTINEL: f64 = -7.25e300;

/// `x` written into a fresh buffer at a random layout.
fn place(x: &ArrayD<f64>, rng: &mut Rng) -> (Vec<f64>, Layout) {
    let (strides, offset, len) = random_layout(x.shape(), rng);
    let mut buf = vec![SENTINEL; len];
    for (index, v) in indices(x.shape()).iter().zip(x.iter()) {
        buf[position(index, &strides, offset)] = *v;
    }
    let l = Layout::new(x.shape(), &strides, offset, len).expect("a random layout fits");
    (buf, l)
}

/// The array that `layout` describes in `buf`.
fn read(buf: &[f64], l: &Layout) -> ArrayD<f64> {
    let data = indices(l.shape())
        .iter()
        .map(|i| buf[position(i, l.strides(), l.offset())])
        .collect();
    ArrayD::from_shape_vec(IxDyn(l.shape()), data).unwrap()
}

#[derive(Clone, Copy)]
enum Op {
    Rearrange,
    Repeat,
    Reduce,
}

/// The plan for a case's input shape, with its lengths.
fn plan(
    case: &Value,
    op: Op,
    shape: &[usize],
) -> Result<std::sync::Arc<einplan::Plan>, einplan::Error> {
    let pattern = case["pattern"].as_str().unwrap();
    let lens = lengths(case);
    match op {
        Op::Rearrange => lens
            .iter()
            .try_fold(Rearrange::new(pattern)?, |o, (n, l)| o.with(n, *l))?
            .plan(shape),
        Op::Repeat => lens
            .iter()
            .try_fold(Repeat::new(pattern)?, |o, (n, l)| o.with(n, *l))?
            .plan(shape),
        Op::Reduce => lens
            .iter()
            .try_fold(Reduce::new(pattern, reduction(case))?, |o, (n, l)| {
                o.with(n, *l)
            })?
            .plan(shape),
    }
}

/// The case's input as one logical array (a list is stacked, as einops
/// does), or `None` when the list cannot be stacked.
fn logical_input(case: &Value) -> Option<ArrayD<f64>> {
    let (bases, descs) = inputs(case);
    let views: Vec<_> = bases
        .iter()
        .zip(&descs)
        .map(|(b, d)| layout(b, d))
        .collect();
    if case["inputs"].is_array() {
        ndarray::stack(Axis(0), &views).ok()
    } else {
        Some(views[0].to_owned())
    }
}

fn run(case: &Value, op: Op) -> Result<(), String> {
    let mut rng = Rng::new(case["id"].as_str().unwrap());
    let Some(x) = logical_input(case) else {
        return judge(case, Err("the list does not stack"), 0.0);
    };
    let (src, src_layout) = place(&x, &mut rng);
    let got = plan(case, op, x.shape()).and_then(|plan| {
        let out_shape = plan.output_shape().to_vec();
        let (strides, offset, len) = random_layout(&out_shape, &mut rng);
        let mut dst = vec![SENTINEL; len];
        let dst_layout = Layout::new(&out_shape, &strides, offset, len).unwrap();
        match op {
            Op::Reduce => {
                plan.reduce_into(reduction(case), &src, &src_layout, &mut dst, &dst_layout)?
            }
            _ => plan.copy(&src, &src_layout, &mut dst, &dst_layout)?,
        }
        // Nothing written outside the output's elements.
        let untouched = dst.iter().filter(|&&v| v == SENTINEL).count();
        assert!(
            untouched >= len - dst_layout.len(),
            "a write outside the output layout"
        );
        let y = read(&dst, &dst_layout);
        // A view, when there is one, reads the same elements in place.
        if let Some(v) = plan.view(&src_layout)? {
            assert_eq!(read(&src, &v), y, "the view disagrees with the copy");
        }
        Ok(y)
    });
    judge(case, got, 1e-12)
}

const DIFFERENCES: &[(&str, &str)] = &[(
    "rearrange/error/026",
    "einplan accepts any whitespace (tabs, newlines) between axes; einops only spaces",
)];

#[test]
fn rearrange_fixtures_on_slices() {
    replay("rearrange.json", DIFFERENCES, |c| run(c, Op::Rearrange));
}

#[test]
fn repeat_fixtures_on_slices() {
    replay("repeat.json", DIFFERENCES, |c| run(c, Op::Repeat));
}

#[test]
fn reduce_fixtures_on_slices() {
    replay("reduce.json", DIFFERENCES, |c| run(c, Op::Reduce));
}

#[test]
fn fold_into_matches_reduce_into() {
    let x: Vec<f64> = (0..24).map(f64::from).collect();
    let src = Layout::new(&[2, 3, 4], &[-12, 1, 3], 12, 24).unwrap();
    let plan = Reduce::new("a b c -> c a", Reduction::Sum)
        .unwrap()
        .plan(&[2, 3, 4])
        .unwrap();
    let out = Layout::standard(&[4, 2]).unwrap();
    let (mut sums, mut folds) = ([0.0; 8], [0.0; 8]);
    plan.reduce_into(Reduction::Sum, &x, &src, &mut sums, &out)
        .unwrap();
    plan.fold_into(&x, &src, &mut folds, &out, 0.0, |a, b| a + b)
        .unwrap();
    assert_eq!(sums, folds);
    // Element [c, a] sums x[12 (1 - a) + b + 3 c] over b.
    let want: Vec<f64> = (0..4)
        .flat_map(|c| (0..2).map(move |a| (0..3).map(|b| (12 * (1 - a) + b + 3 * c) as f64).sum()))
        .collect();
    assert_eq!(sums.to_vec(), want);
}

fn transpose() -> std::sync::Arc<einplan::Plan> {
    Rearrange::new("a b -> b a").unwrap().plan(&[2, 3]).unwrap()
}

#[test]
fn bad_layouts_are_errors_and_write_nothing() {
    let plan = transpose();
    let src = [1, 2, 3, 4, 5, 6];
    let ok_in = Layout::standard(&[2, 3]).unwrap();
    let ok_out = Layout::standard(&[3, 2]).unwrap();
    let mut dst = [0; 6];

    // A slice shorter than its layout.
    let e = plan.copy(&src[..5], &ok_in, &mut dst, &ok_out).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::LayoutOutOfBounds { buffer_len: 5, .. }),
        "{e}"
    );
    let e = plan.copy(&src, &ok_in, &mut dst[..4], &ok_out).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::LayoutOutOfBounds { buffer_len: 4, .. }),
        "{e}"
    );

    // Strides that leave the buffer, in either direction.
    assert!(Layout::new(&[2, 3], &[4, 1], 0, 6).is_err());
    assert!(Layout::new(&[2, 3], &[-3, 1], 2, 6).is_err());
    assert!(Layout::new(&[2, 3], &[3, 1], usize::MAX, usize::MAX).is_err());
    // A layout made for a longer buffer, used with a shorter slice.
    let long = Layout::new(&[2, 3], &[6, 2], 0, 11).unwrap();
    let e = plan.copy(&src, &long, &mut dst, &ok_out).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::LayoutOutOfBounds { .. }),
        "{e}"
    );

    // An output that writes an element twice.
    for strides in [[1, 1], [0, 1], [1, 2]] {
        let overlapping = Layout::new(&[3, 2], &strides, 0, 6).unwrap();
        let e = plan.copy(&src, &ok_in, &mut dst, &overlapping).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::OverlappingOutput { .. }),
            "{strides:?}: {e}"
        );
    }

    // Layouts that do not match the plan.
    let e = plan.copy(&src, &ok_out, &mut dst, &ok_out).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::LayoutShape {
                side: einplan::Side::Input,
                ..
            }
        ),
        "{e}"
    );
    let e = plan.copy(&src, &ok_in, &mut dst, &ok_in).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::LayoutShape {
                side: einplan::Side::Output,
                ..
            }
        ),
        "{e}"
    );
    assert!(plan.view(&ok_out).is_err());

    // A copy by a plan that reduces.
    let sum = Reduce::new("a b -> a", Reduction::Sum)
        .unwrap()
        .plan(&[2, 3])
        .unwrap();
    let e = sum
        .copy(
            &src,
            &ok_in,
            &mut dst[..2],
            &Layout::standard(&[2]).unwrap(),
        )
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::ReducesAxes { .. }), "{e}");
    assert_eq!(sum.view(&ok_in).unwrap(), None);

    assert_eq!(dst, [0; 6], "an error wrote into the output");
}

#[test]
fn reduce_into_errors() {
    let plan = Reduce::new("a b -> a", Reduction::Mean)
        .unwrap()
        .plan(&[2, 3])
        .unwrap();
    let (src, mut dst) = ([1i32, 2, 3, 4, 5, 6], [0i32; 2]);
    let (i, o) = (
        Layout::standard(&[2, 3]).unwrap(),
        Layout::standard(&[2]).unwrap(),
    );
    let e = plan
        .reduce_into(Reduction::Mean, &src, &i, &mut dst, &o)
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::UnsupportedReduction { .. }),
        "{e}"
    );
    let empty = Reduce::new("a b -> a", Reduction::Max)
        .unwrap()
        .plan(&[2, 0])
        .unwrap();
    let e = empty
        .reduce_into(
            Reduction::Max,
            &[0.0f32; 0],
            &Layout::standard(&[2, 0]).unwrap(),
            &mut [0.0f32; 2],
            &o,
        )
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::EmptyReduction { .. }), "{e}");
}

#[test]
fn errors_point_into_the_pattern() {
    let plan = transpose();
    let e = plan
        .copy(
            &[0; 6],
            &Layout::standard(&[3, 2]).unwrap(),
            &mut [0; 6],
            &Layout::standard(&[3, 2]).unwrap(),
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "a b -> b a\n^^^\nerror: the input layout has shape [3, 2], but the plan's input has shape [2, 3]"
    );
}

#[test]
fn ndarray_view_or_error() {
    let x = ndarray::Array::from_iter(0..24)
        .into_shape_with_order((2, 3, 4))
        .unwrap();
    let y = einplan::rearrange_view(&x, "a b c -> (a b) c", &[]).unwrap();
    assert_eq!(y.shape(), &[6, 4]);
    assert_eq!(y.as_ptr(), x.as_ptr());
    let e = einplan::rearrange_view(&x, "a b c -> a (c b)", &[]).unwrap_err();
    assert_eq!(
        *e.kind(),
        ErrorKind::NeedsCopy {
            dim: 1,
            axes: "c b".to_owned()
        }
    );
    assert_eq!(&e.pattern()[e.span()], "(c b)");
    // The transposed input makes that merge free.
    let t = x.view().permuted_axes([0, 2, 1]);
    let z = einplan::rearrange_view(&t, "a c b -> a (b c)", &[]).unwrap();
    assert_eq!(z, einplan::rearrange(&t, "a c b -> a (b c)", &[]).unwrap());
    assert!(einplan::rearrange_view(&x, "a b c -> c", &[]).is_err());
}

/// `x` at a random layout in a buffer of its own, seen as an ndarray view
/// through `Layout::array_view`.
fn placed(x: &ArrayD<f64>, rng: &mut Rng) -> (Vec<f64>, Layout) {
    let (buf, l) = place(x, rng);
    assert_eq!(
        l.array_view(&buf).unwrap(),
        x.view(),
        "array_view reads what place wrote"
    );
    (buf, l)
}

/// The einsum fixtures with every operand in its own buffer at a random
/// layout, and the result written through `Einsum::apply_into` into a
/// buffer at another random layout (read back by index arithmetic).
#[test]
fn einsum_fixtures_on_slices() {
    replay("einsum.json", &[], |case| {
        let mut rng = Rng::new(case["id"].as_str().unwrap());
        let pattern = case["pattern"].as_str().unwrap();
        let operands: Vec<(Vec<f64>, Layout)> = case["operands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| placed(&layout(&base(d), d).to_owned(), &mut rng))
            .collect();
        let views: Vec<_> = operands
            .iter()
            .map(|(b, l)| l.array_view(b).unwrap())
            .collect();
        let got = Einsum::new(pattern)
            .and_then(|op| lengths(case).iter().try_fold(op, |o, (n, l)| o.with(n, *l)))
            .and_then(|op| {
                let fresh = op.apply(&views)?;
                let (strides, offset, len) = random_layout(fresh.shape(), &mut rng);
                let mut dst = vec![SENTINEL; len];
                let out = Layout::new(fresh.shape(), &strides, offset, len).unwrap();
                op.apply_into(&views, &mut out.array_view_mut(&mut dst)?)?;
                let y = read(&dst, &out);
                assert_eq!(y, fresh, "apply_into and apply disagree");
                Ok(y)
            });
        judge(case, got, 1e-9)
    });
}

/// The pack and unpack fixtures with every input in its own buffer at a
/// random layout.
#[test]
fn pack_fixtures_on_slices() {
    replay("pack.json", &[], |case| {
        let mut rng = Rng::new(case["id"].as_str().unwrap());
        let pattern = case["pattern"].as_str().unwrap();
        type Parts = Vec<ArrayD<f64>>;
        let (got, want): (Result<Parts, einplan::Error>, Parts) =
            match case["kind"].as_str().unwrap() {
                "pack" => {
                    let (bases, descs) = inputs(case);
                    let bufs: Vec<(Vec<f64>, Layout)> = bases
                        .iter()
                        .zip(&descs)
                        .map(|(b, d)| placed(&layout(b, d).to_owned(), &mut rng))
                        .collect();
                    let views: Vec<_> =
                        bufs.iter().map(|(b, l)| l.array_view(b).unwrap()).collect();
                    let got = einplan::pack(&views, pattern).map(|(packed, shapes)| {
                        let want: Vec<Vec<usize>> = case["expect"]["packed_shapes"]
                            .as_array()
                            .map(|s| s.iter().map(usizes).collect())
                            .unwrap_or_default();
                        assert!(case["expect"].is_null() || shapes == want, "{shapes:?}");
                        vec![packed]
                    });
                    let want = if case["expect"].is_null() {
                        vec![]
                    } else {
                        vec![expected(&case["expect"]["packed"])]
                    };
                    (got, want)
                }
                _ => {
                    let b = base(&case["input"]);
                    let (buf, l) = placed(&layout(&b, &case["input"]).to_owned(), &mut rng);
                    let shapes = packed_shapes(case);
                    let got = einplan::unpack(&l.array_view(&buf).unwrap(), &shapes, pattern);
                    let want = case["expect"]
                        .as_array()
                        .map(|parts| parts.iter().map(expected).collect())
                        .unwrap_or_default();
                    (got, want)
                }
            };
        match (got, case["expect"].is_null()) {
            (Ok(got), false) if got == want => Ok(()),
            (Ok(got), false) => Err(format!("got {got:?}\nwant {want:?}")),
            (Err(_), true) => Ok(()),
            (Ok(_), true) => Err(format!("einops fails with {:?}", case["error"])),
            (Err(e), false) => Err(format!("einplan fails:\n{e}")),
        }
    });
}

#[test]
fn array_views_check_their_buffer() {
    let l = Layout::new(&[2, 3], &[3, 1], 0, 6).unwrap();
    let short = [0.0f32; 5];
    let e = l.array_view(&short).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::LayoutOutOfBounds { .. }),
        "{e}"
    );
    let mut short = [0.0f32; 5];
    assert!(l.array_view_mut(&mut short).is_err());
    // Two indices on one element: fine to read, refused to write.
    let overlap = Layout::new(&[2, 3], &[1, 1], 0, 4).unwrap();
    let mut buf = [1.0f32, 2.0, 3.0, 4.0];
    assert_eq!(overlap.array_view(&buf).unwrap()[[1, 2]], 4.0);
    let e = overlap.array_view_mut(&mut buf).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::OverlappingOutput { .. }),
        "{e}"
    );
}
