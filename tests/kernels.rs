//! Property tests of the execution kernels against the reference executor:
//! copies (lines, strided gathers, tiled transposes) of every element
//! width, into fresh arrays and into arrays of any layout, and the pooling
//! reductions; over random shapes whose lengths straddle the tile and SIMD
//! block edges, and inputs with negative, stepped and zero (broadcast)
//! strides. One property lowers the thread and streaming thresholds so
//! that small arrays take those paths too.

use einplan::__private::{reference_rearrange, reference_reduce, set_kernel_thresholds};
use einplan::{Rearrange, Reduce, Reduction};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis, IxDyn, Slice};
use proptest::prelude::*;

/// Lengths around the edges of the 8-wide SIMD blocks and the close-row
/// tiles (64 × 32 and longer).
const LENS: [usize; 15] = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65];

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// A random permutation pattern with an optional merge on each side.
#[derive(Clone, Debug)]
struct Case {
    shape: Vec<usize>,
    /// Output order of the input axes.
    perm: Vec<usize>,
    /// Merge the output's last two axes into one group.
    merge_out: bool,
    /// How the input sits in memory: axis order, flips, steps, and which
    /// axes are broadcast (stride 0).
    layout: Layout,
}

#[derive(Clone, Debug)]
struct Layout {
    order: Vec<usize>,
    flips: Vec<bool>,
    steps: Vec<usize>,
    broadcast: Vec<bool>,
}

impl Case {
    fn pattern(&self) -> String {
        let input: Vec<&str> = (0..self.shape.len()).map(|d| NAMES[d]).collect();
        let mut out: Vec<String> = self.perm.iter().map(|&d| NAMES[d].to_owned()).collect();
        if self.merge_out && out.len() >= 2 {
            let last = out.pop().unwrap();
            let before = out.pop().unwrap();
            out.push(format!("({before} {last})"));
        }
        format!("{} -> {}", input.join(" "), out.join(" "))
    }
}

fn layout(nd: usize) -> impl Strategy<Value = Layout> {
    (
        Just((0..nd).collect::<Vec<_>>()).prop_shuffle(),
        prop::collection::vec(any::<bool>(), nd),
        prop::collection::vec(1usize..=2, nd),
        prop::collection::vec(prop::bool::weighted(0.15), nd),
    )
        .prop_map(|(order, flips, steps, broadcast)| Layout {
            order,
            flips,
            steps,
            broadcast,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (2usize..=4)
        .prop_flat_map(|nd| {
            (
                prop::collection::vec(prop::sample::select(&LENS[..]), nd),
                Just((0..nd).collect::<Vec<_>>()).prop_shuffle(),
                any::<bool>(),
                layout(nd),
            )
        })
        .prop_filter("small enough for the reference executor", |(shape, ..)| {
            shape.iter().product::<usize>() <= 40_000
        })
        .prop_map(|(shape, perm, merge_out, layout)| Case {
            shape,
            perm,
            merge_out,
            layout,
        })
}

/// Storage for an input of `shape` in `l`: broadcast axes are stored with
/// length 1.
fn storage<A>(shape: &[usize], l: &Layout, make: impl Fn(usize) -> A) -> ArrayD<A> {
    let stored: Vec<usize> = l
        .order
        .iter()
        .map(|&d| {
            if l.broadcast[d] {
                1
            } else {
                shape[d] * l.steps[d]
            }
        })
        .collect();
    let n = stored.iter().product();
    ArrayD::from_shape_vec(IxDyn(&stored), (0..n).map(make).collect()).unwrap()
}

/// The view of `shape` over `base` in layout `l`, before broadcasting:
/// broadcast axes have length 1 (see [`broadcast`]).
fn view<'a, A>(base: &'a ArrayD<A>, shape: &[usize], l: &Layout) -> ArrayViewD<'a, A> {
    let mut inverse = vec![0; l.order.len()];
    for (i, &d) in l.order.iter().enumerate() {
        inverse[d] = i;
    }
    let mut v = base.view().permuted_axes(IxDyn(&inverse));
    for d in 0..shape.len() {
        if !l.broadcast[d] {
            v.slice_axis_inplace(Axis(d), Slice::new(0, None, l.steps[d] as isize));
            if l.flips[d] {
                v.invert_axis(Axis(d));
            }
        }
    }
    v
}

/// `v` broadcast to `shape`: stride 0 on its axes of length 1.
fn broadcast<'a, A>(v: &'a ArrayViewD<'_, A>, shape: &[usize]) -> ArrayViewD<'a, A> {
    v.broadcast(IxDyn(shape)).unwrap()
}

/// A mutable view of `shape` over `base` in layout `l` (no broadcasting).
fn view_mut<'a, A>(base: &'a mut ArrayD<A>, l: &Layout) -> ArrayViewMutD<'a, A> {
    let mut inverse = vec![0; l.order.len()];
    for (i, &d) in l.order.iter().enumerate() {
        inverse[d] = i;
    }
    let mut v = base.view_mut().permuted_axes(IxDyn(&inverse));
    for d in 0..l.order.len() {
        v.slice_axis_inplace(Axis(d), Slice::new(0, None, l.steps[d] as isize));
        if l.flips[d] {
            v.invert_axis(Axis(d));
        }
    }
    v
}

/// Rearranges `x` (fresh and into a random output layout) and compares
/// both with the reference executor.
fn check<A>(x: &ArrayViewD<'_, A>, pattern: &str, out_layout: &Layout) -> Result<(), TestCaseError>
where
    A: Clone + PartialEq + std::fmt::Debug + Default,
{
    let want = reference_rearrange(x, pattern, &[]).unwrap();
    let op = Rearrange::new(pattern).unwrap();
    let got = op.apply(x).unwrap();
    prop_assert_eq!(got.view(), want.view(), "{}", pattern);
    // Into an output in its own random layout.
    let out_shape = want.shape();
    let l = Layout {
        order: out_layout.order[..out_shape.len()].to_vec(),
        flips: out_layout.flips[..out_shape.len()].to_vec(),
        steps: out_layout.steps[..out_shape.len()].to_vec(),
        broadcast: vec![false; out_shape.len()],
    };
    let l = Layout {
        order: ranks(&l.order),
        ..l
    };
    let mut base = storage(out_shape, &l, |_| A::default());
    let mut out = view_mut(&mut base, &l);
    op.apply_into(x, &mut out).unwrap();
    prop_assert_eq!(out.view(), want.view(), "{} into", pattern);
    Ok(())
}

/// The ranks of `v`'s values: a permutation of `0..v.len()`.
fn ranks(v: &[usize]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by_key(|&i| v[i]);
    let mut r = vec![0; v.len()];
    for (rank, i) in idx.into_iter().enumerate() {
        r[i] = rank;
    }
    r
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn copies_of_every_width_equal_reference((c, out) in case().prop_flat_map(|c| {
        let nd = c.shape.len();
        (Just(c), layout(nd))
    })) {
        let pattern = c.pattern();
        let base = storage(&c.shape, &c.layout, |i| i as f32 + 0.5);
        check(&broadcast(&view(&base, &c.shape, &c.layout), &c.shape), &pattern, &out)?;
        let base = storage(&c.shape, &c.layout, |i| i as f64 - 0.25);
        check(&broadcast(&view(&base, &c.shape, &c.layout), &c.shape), &pattern, &out)?;
        let base = storage(&c.shape, &c.layout, |i| i as u16);
        check(&broadcast(&view(&base, &c.shape, &c.layout), &c.shape), &pattern, &out)?;
        let base = storage(&c.shape, &c.layout, |i| (i % 251) as u8);
        check(&broadcast(&view(&base, &c.shape, &c.layout), &c.shape), &pattern, &out)?;
    }

    #[test]
    fn copies_of_other_types_equal_reference((c, out) in case().prop_filter(
        "small: strings are slow to make", |c| c.shape.iter().product::<usize>() <= 4_000,
    ).prop_flat_map(|c| {
        let nd = c.shape.len();
        (Just(c), layout(nd))
    })) {
        let base = storage(&c.shape, &c.layout, |i| i.to_string());
        check(&broadcast(&view(&base, &c.shape, &c.layout), &c.shape), &c.pattern(), &out)?;
        let base = storage(&c.shape, &c.layout, |i| (i as u64, i as u8));
        check(&broadcast(&view(&base, &c.shape, &c.layout), &c.shape), &c.pattern(), &out)?;
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn threads_and_streaming_give_the_same_results((c, out) in case().prop_flat_map(|c| {
        let nd = c.shape.len();
        (Just(c), layout(nd))
    })) {
        // Every size goes to the pool and streams. Other tests running
        // meanwhile see the lowered thresholds too, which must not change
        // their results either.
        set_kernel_thresholds(Some((0, 0)));
        let pattern = c.pattern();
        let base = storage(&c.shape, &c.layout, |i| i as f32);
        let result = check(&broadcast(&view(&base, &c.shape, &c.layout), &c.shape), &pattern, &out);
        let base = storage(&c.shape, &c.layout, |i| i as i64);
        let result = result.and(check(&broadcast(&view(&base, &c.shape, &c.layout), &c.shape), &pattern, &out));
        set_kernel_thresholds(None);
        result?;
    }
}

/// A pooling reduction: `(n, c, h * kh, w * kw)` with one of the patterns
/// below.
#[derive(Clone, Debug)]
struct Pool {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    pattern: usize,
    layout: Layout,
}

const POOLS: [&str; 5] = [
    "n c (h kh) (w kw) -> n c h w",
    "n c (h kh) (w kw) -> n c",
    "n c (h kh) (w kw) -> n (h kh) (w kw)",
    "n c (h kh) (w kw) -> n (w kw) c",
    "n c (h kh) (w kw) -> c h w",
];

fn pool() -> impl Strategy<Value = Pool> {
    (
        1usize..=3,
        1usize..=5,
        1usize..=5,
        prop::sample::select(&[1usize, 3, 4, 5, 8, 9, 14, 17][..]),
        1usize..=3,
        1usize..=3,
        0..POOLS.len(),
        prop::bool::weighted(0.6),
        layout(4),
    )
        .prop_map(|(n, c, h, w, kh, kw, pattern, standard, l)| Pool {
            n,
            c,
            h,
            w,
            kh,
            kw,
            pattern,
            layout: if standard {
                Layout {
                    order: vec![0, 1, 2, 3],
                    flips: vec![false; 4],
                    steps: vec![1; 4],
                    broadcast: vec![false; 4],
                }
            } else {
                l
            },
        })
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn pooling_equals_reference(p in pool()) {
        let shape = [p.n, p.c, p.h * p.kh, p.w * p.kw];
        let lengths = [("kh", p.kh), ("kw", p.kw)];
        let pattern = POOLS[p.pattern];
        let base = storage(&shape, &p.layout, |i| ((i * 7919) % 1000) as f32 / 64.0 - 7.0);
        let v = view(&base, &shape, &p.layout);
        let x = broadcast(&v, &shape);
        let xd = x.mapv(|v| v as f64 * 1.5);
        for r in [Reduction::Sum, Reduction::Mean] {
            let op = Reduce::new(pattern, r).unwrap().with("kh", p.kh).unwrap().with("kw", p.kw).unwrap();
            let want = reference_reduce(&x, pattern, r, &lengths).unwrap();
            let got = op.apply(&x).unwrap();
            prop_assert_eq!(got.shape(), want.shape());
            for (a, b) in got.iter().zip(&want) {
                prop_assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{} {:?}: {} vs {}", pattern, r, a, b);
            }
            let mut into = ArrayD::from_elem(want.shape(), f32::NAN);
            op.apply_into(&x, &mut into).unwrap();
            prop_assert_eq!(&into, &got);
            // Into a transposed output: the general path.
            let mut t = ArrayD::from_elem(want.shape(), f32::NAN).reversed_axes();
            let mut tv = t.view_mut().reversed_axes();
            op.apply_into(&x, &mut tv).unwrap();
            prop_assert_eq!(&tv.to_owned(), &got);

            let want = reference_reduce(&xd, pattern, r, &lengths).unwrap();
            let got = op.apply(&xd).unwrap();
            for (a, b) in got.iter().zip(&want) {
                prop_assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{} {:?} f64", pattern, r);
            }
        }
    }
}

#[test]
fn apply_into_checks_the_output_shape() {
    let op = Rearrange::new("h w -> w h").unwrap();
    let x = ndarray::Array2::<f32>::zeros((2, 3));
    let mut out = ndarray::Array2::<f32>::zeros((2, 3));
    let e = op.apply_into(&x, &mut out).unwrap_err();
    assert!(
        matches!(e.kind(), einplan::ErrorKind::OutputShape { .. }),
        "{e}"
    );
    let mut out = ndarray::Array1::<f32>::zeros(6);
    assert!(op.apply_into(&x, &mut out).is_err());
    let pool = Reduce::new("a b -> a", Reduction::Max).unwrap();
    let mut out = ndarray::Array1::<f32>::zeros(3);
    let e = pool.apply_into(&x, &mut out).unwrap_err();
    assert!(
        matches!(e.kind(), einplan::ErrorKind::OutputShape { .. }),
        "{e}"
    );
}

#[test]
fn large_copies_equal_ndarray() {
    // Past the real thread and streaming thresholds: a transpose and
    // contiguous runs, checked against ndarray's own copy.
    let x = ArrayD::from_shape_vec(
        IxDyn(&[1100, 2100]),
        (0..1100 * 2100).map(|i| i as f32).collect(),
    )
    .unwrap();
    let y = einplan::rearrange(&x, "h w -> w h", &[]).unwrap();
    let mut out = ArrayD::<f32>::zeros(IxDyn(&[2100, 1100]));
    Rearrange::new("h w -> w h")
        .unwrap()
        .apply_into(&x, &mut out)
        .unwrap();
    let want = x.t().as_standard_layout().into_owned();
    assert_eq!(out, want);
    assert_eq!(y.view(), x.t());
    let x = x.into_shape_with_order(IxDyn(&[4, 3, 1100, 175])).unwrap();
    let y = einplan::rearrange(&x, "a (b c) h w -> a (c b) h w", &[("b", 1)]).unwrap();
    assert_eq!(y.view(), x.view());
    let y = einplan::rearrange(&x, "a b h w -> b a h w", &[]).unwrap();
    let want = x
        .view()
        .permuted_axes(IxDyn(&[1, 0, 2, 3]))
        .as_standard_layout()
        .into_owned();
    assert_eq!(y.view(), want.view());
}
