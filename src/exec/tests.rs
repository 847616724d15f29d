//! Kernel tests small enough for Miri (`cargo +nightly miri test --lib
//! exec::`): sources, views, copies, folds and pooling over reversed,
//! stepped, transposed and broadcast layouts, with a heap-owning element
//! type so that Miri also sees every clone and drop, and with primitive
//! elements for the bit-copy kernels (tiles straddling their edges, and
//! copies sent to the thread pool, outside Miri).

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis, IxDyn, Slice};

use super::copy;
use super::pool;
use super::source::Source;
use super::threads;
use crate::layout::Step;

/// Random cases per test: fewer under Miri, which is slow.
const ROUNDS: usize = if cfg!(miri) { 8 } else { 40 };

/// A tiny deterministic generator (no dependencies under Miri).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

/// How a view sits in its base array: axis order, flips, steps.
struct Layout {
    perm: Vec<usize>,
    flips: Vec<bool>,
    steps: Vec<usize>,
}

impl Layout {
    fn random(rng: &mut Lcg, nd: usize) -> Layout {
        let mut perm: Vec<usize> = (0..nd).collect();
        for i in (1..nd).rev() {
            perm.swap(i, rng.below(i + 1));
        }
        Layout {
            perm,
            flips: (0..nd).map(|_| rng.below(2) == 1).collect(),
            steps: (0..nd).map(|_| 1 + rng.below(2)).collect(),
        }
    }

    /// The base shape that holds a view of `shape` in this layout.
    fn base_shape(&self, shape: &[usize]) -> Vec<usize> {
        self.perm
            .iter()
            .map(|&d| shape[d] * self.steps[d])
            .collect()
    }

    fn view<'a, A>(&self, base: &'a ArrayD<A>) -> ArrayViewD<'a, A> {
        let mut v = base.view().permuted_axes(IxDyn(&self.inverse()));
        for d in 0..self.perm.len() {
            v.slice_axis_inplace(Axis(d), Slice::new(0, None, self.steps[d] as isize));
            if self.flips[d] {
                v.invert_axis(Axis(d));
            }
        }
        v
    }

    fn view_mut<'a, A>(&self, base: &'a mut ArrayD<A>) -> ArrayViewMutD<'a, A> {
        let mut v = base.view_mut().permuted_axes(IxDyn(&self.inverse()));
        for d in 0..self.perm.len() {
            v.slice_axis_inplace(Axis(d), Slice::new(0, None, self.steps[d] as isize));
            if self.flips[d] {
                v.invert_axis(Axis(d));
            }
        }
        v
    }

    fn inverse(&self) -> Vec<usize> {
        let mut inverse = vec![0; self.perm.len()];
        for (i, &d) in self.perm.iter().enumerate() {
            inverse[d] = i;
        }
        inverse
    }
}

/// A base array of `shape` in `layout`, with elements `make(0)`, ...
fn stored<A>(shape: &[usize], layout: &Layout, make: impl Fn(usize) -> A) -> ArrayD<A> {
    let base = layout.base_shape(shape);
    let n = base.iter().product();
    ArrayD::from_shape_vec(IxDyn(&base), (0..n).map(make).collect()).unwrap()
}

/// One step per dimension: the view as it is.
fn identity(shape: &[usize]) -> Vec<Step> {
    (0..shape.len())
        .map(|d| Step::along(shape[d], d, 1))
        .collect()
}

/// Random steps over a view of `shape`: each dimension split into one or
/// two axes, all shuffled, with a new (repeating) axis now and then.
fn random_steps(rng: &mut Lcg, shape: &[usize]) -> Vec<Step> {
    let mut steps = Vec::new();
    for (d, &len) in shape.iter().enumerate() {
        let inner = (1..=len).filter(|f| len % f == 0).collect::<Vec<_>>();
        let inner = inner[rng.below(inner.len())];
        steps.push(Step::along(len / inner, d, inner));
        if inner > 1 {
            steps.push(Step::along(inner, d, 1));
        }
    }
    for i in (1..steps.len()).rev() {
        steps.swap(i, rng.below(i + 1));
    }
    if rng.below(3) == 0 {
        let at = rng.below(steps.len() + 1);
        let len = 1 + rng.below(3);
        steps.insert(at, Step::broadcast(len));
    }
    steps
}

/// The elements a source reads, in row-major order of its axes, by
/// index arithmetic alone.
fn naive<A: Clone>(v: &ArrayViewD<'_, A>, steps: &[Step]) -> Vec<A> {
    let lens: Vec<usize> = steps.iter().map(|s| s.len).collect();
    let total: usize = lens.iter().product();
    (0..total)
        .map(|mut n| {
            let mut at = vec![0; v.ndim()];
            for (step, &len) in steps.iter().zip(&lens).rev() {
                let i = n % len;
                n /= len;
                for &(d, mult) in &step.sources {
                    at[d] += i * mult;
                }
            }
            v[IxDyn(&at)].clone()
        })
        .collect()
}

/// Groups consecutive lengths at random into output dimensions: their
/// lengths and their ranges of axes.
fn random_groups(rng: &mut Lcg, lens: &[usize]) -> (Vec<usize>, Vec<(usize, usize)>) {
    let mut shape: Vec<usize> = Vec::new();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        match (shape.last_mut(), groups.last_mut()) {
            (Some(last), Some(group)) if rng.below(2) == 0 => {
                *last *= len;
                group.1 = i + 1;
            }
            _ => {
                shape.push(len);
                groups.push((i, i + 1));
            }
        }
    }
    (shape, groups)
}

#[test]
fn copy_of_strings_equals_index_arithmetic() {
    let mut rng = Lcg(7);
    for _ in 0..ROUNDS {
        let nd = 1 + rng.below(3);
        let shape: Vec<usize> = (0..nd).map(|_| 1 + rng.below(4)).collect();
        let layout = Layout::random(&mut rng, nd);
        let base = stored(&shape, &layout, |i| i.to_string());
        let v = layout.view(&base);
        let steps = random_steps(&mut rng, &shape);
        let mut out = Vec::with_capacity(steps.iter().map(|s| s.len).product());
        copy::copy(&Source::new(&v, &steps), &mut out);
        assert_eq!(out, naive(&v, &steps));
    }
}

/// Shapes whose two axes straddle the tile lengths (for 4-byte elements
/// 64 × 32 to 64 × 256 when their input rows lie close together, as in
/// most of these small arrays, and 1024 × 16 when they lie far apart,
/// whose long side `transposes_sweep_in_page_groups` straddles; 32 × 8
/// for 8-byte ones) and the
/// SIMD blocks (8 and 4 wide). Miri takes the scalar path, so it needs
/// only the tile edges.
const EDGES: &[usize] = if cfg!(miri) {
    &[7, 17, 33, 65]
} else {
    &[1, 7, 9, 15, 17, 31, 33, 63, 65, 127, 129, 255, 257]
};

/// The tiles of 4-byte transposes by how far apart the input's rows are:
/// at least 1024 elements and 32 rows, 64 of each row, up to 512 bytes;
/// 32 × 256 up to 1 KiB.
#[test]
fn close_rows_take_tiles_of_whole_runs() {
    use super::bits::Word;
    assert_eq!(u32::near_tile(4), (64, 256));
    assert_eq!(u32::near_tile(12), (64, 256));
    assert_eq!(u32::near_tile(64), (64, 64));
    assert_eq!(u32::near_tile(100), (64, 32));
    assert_eq!(u32::near_tile(128), (64, 32));
    assert_eq!(u32::near_tile(256), (64, 32));
    assert_eq!(u32::near_tile(512), (64, 32));
    assert_eq!(u32::near_tile(513), (32, 256));
    assert_eq!(u32::near_tile(1024), (32, 256));
    assert_eq!(u64::near_tile(64), u64::NEAR_TILE);
}

#[test]
fn transposes_of_words_straddle_tiles() {
    let mut rng = Lcg(3);
    for &a in EDGES {
        for &b in &EDGES[..EDGES.len() - 1] {
            // Under Miri, only the pairs that cross tile edges (16, 32
            // and 64 elements, or 8): 17 × 17, 17 × 33, 33 × 17 and
            // 65 × 7.
            if cfg!(miri) && (a * b > 600 || (a.min(b) == 7 && a != 65)) {
                continue;
            }
            let layout = Layout::random(&mut rng, 2);
            let base = stored(&[a, b], &layout, |i| i as u32);
            let v = layout.view(&base);
            let steps = [Step::along(b, 1, 1), Step::along(a, 0, 1)];
            let mut out = Vec::with_capacity(a * b);
            copy::copy(&Source::new(&v, &steps), &mut out);
            assert_eq!(out, naive(&v, &steps), "{a} x {b}");
            // The same for 8-byte elements.
            let base = stored(&[a, b], &layout, |i| i as f64);
            let v = layout.view(&base);
            let mut out = Vec::with_capacity(a * b);
            copy::copy(&Source::new(&v, &steps), &mut out);
            assert_eq!(out, naive(&v, &steps), "{a} x {b}");
        }
    }
}

/// Transposes whose input steps a page or more at a time along the
/// output's lines, long enough that their sweeps are cut into groups of
/// tiles (and end in a part group), into outputs that start on a cache
/// line and off it. Too large for Miri, which takes the scalar path the
/// other tests cover.
#[test]
#[cfg_attr(miri, ignore)]
fn transposes_sweep_in_page_groups() {
    for (a, b) in [(1100, 1030), (530, 2053)] {
        let base = ArrayD::from_shape_vec(IxDyn(&[a, b]), (0..(a * b) as u32).collect()).unwrap();
        let v = base.view();
        let steps = [Step::along(b, 1, 1), Step::along(a, 0, 1)];
        let want = naive(&v, &steps);
        for skip in [0, 3] {
            let mut out = vec![u32::MAX; skip + a * b];
            let view = ArrayViewMutD::from_shape(IxDyn(&[b, a]), &mut out[skip..]).unwrap();
            copy::copy_into(&Source::new(&v, &steps), view);
            assert_eq!(out[skip..], want[..], "{a} x {b}, {skip} in");
        }
        // 8-byte elements step 4 KiB at half the stride.
        let base = base.mapv(|x| x as u64);
        let v = base.view();
        let mut out = Vec::with_capacity(a * b);
        copy::copy(&Source::new(&v, &steps), &mut out);
        let want: Vec<u64> = want.iter().map(|&x| x as u64).collect();
        assert_eq!(out, want, "{a} x {b}, u64");
    }
}

/// Transposes written with streaming stores (the threshold lowered to
/// nothing), whose output rows are whole cache lines: 8 × 16 blocks of
/// 4-byte elements and 4 × 8 blocks of 8-byte ones go out row by row,
/// single blocks and the element-wise edges fill the rest. On one thread
/// and split over the pool, into outputs that start on a cache line and
/// off it.
#[test]
#[cfg_attr(miri, ignore)]
fn streamed_transposes_equal_index_arithmetic() {
    for sizes in [(usize::MAX, 0), (0, 0)] {
        threads::set_thresholds(Some(sizes));
        // Output rows of 1104, 528, 160 and 48 elements: multiples of 16.
        // The last three step at most 1 KiB along them (near tiles).
        for (a, b) in [(1104, 1030), (528, 2053), (160, 200), (48, 72), (48, 9)] {
            let base =
                ArrayD::from_shape_vec(IxDyn(&[a, b]), (0..(a * b) as u32).collect()).unwrap();
            let v = base.view();
            let steps = [Step::along(b, 1, 1), Step::along(a, 0, 1)];
            let want = naive(&v, &steps);
            for skip in [0, 1, 3, 8] {
                let mut out = vec![u32::MAX; skip + a * b];
                let view = ArrayViewMutD::from_shape(IxDyn(&[b, a]), &mut out[skip..]).unwrap();
                copy::copy_into(&Source::new(&v, &steps), view);
                assert_eq!(out[skip..], want[..], "{a} x {b}, {skip} in, {sizes:?}");
                assert!(out[..skip].iter().all(|&x| x == u32::MAX));

                let base = base.mapv(|x| x as u64);
                let v = base.view();
                let mut out = vec![u64::MAX; skip + a * b];
                let view = ArrayViewMutD::from_shape(IxDyn(&[b, a]), &mut out[skip..]).unwrap();
                copy::copy_into(&Source::new(&v, &steps), view);
                let got: Vec<u32> = out[skip..].iter().map(|&x| x as u32).collect();
                assert_eq!(got, want, "{a} x {b}, u64, {skip} in, {sizes:?}");
                assert!(out[..skip].iter().all(|&x| x == u64::MAX));
            }
        }
    }
    threads::set_thresholds(None);
}

#[test]
fn copies_of_every_width_equal_index_arithmetic() {
    let mut rng = Lcg(5);
    for _ in 0..ROUNDS {
        let nd = 1 + rng.below(3);
        let shape: Vec<usize> = (0..nd)
            .map(|_| 1 + rng.below(if cfg!(miri) { 5 } else { 9 }))
            .collect();
        let layout = Layout::random(&mut rng, nd);
        let steps = random_steps(&mut rng, &shape);
        let n: usize = steps.iter().map(|s| s.len).product();
        macro_rules! check {
            ($($t:ty),*) => {$(
                let base = stored(&shape, &layout, |i| i as $t);
                let v = layout.view(&base);
                let mut out = Vec::with_capacity(n);
                copy::copy(&Source::new(&v, &steps), &mut out);
                assert_eq!(out, naive(&v, &steps));
            )*};
        }
        check!(u8, i16, f32, u64);
        let base = stored(&shape, &layout, |i| i % 3 == 0);
        let v = layout.view(&base);
        let mut out = Vec::with_capacity(n);
        copy::copy(&Source::new(&v, &steps), &mut out);
        assert_eq!(out, naive(&v, &steps));
    }
}

#[test]
fn copy_into_any_output_layout() {
    let mut rng = Lcg(17);
    for _ in 0..ROUNDS {
        let nd = 1 + rng.below(3);
        let shape: Vec<usize> = (0..nd).map(|_| 1 + rng.below(5)).collect();
        let layout = Layout::random(&mut rng, nd);
        let steps = random_steps(&mut rng, &shape);
        let lens: Vec<usize> = steps.iter().map(|s| s.len).collect();
        let (out_shape, _) = random_groups(&mut rng, &lens);
        let out_layout = Layout::random(&mut rng, out_shape.len());
        // Strings: the old values are dropped as they are replaced.
        let base = stored(&shape, &layout, |i| i.to_string());
        let v = layout.view(&base);
        let mut out_base = stored(&out_shape, &out_layout, |_| String::from("old"));
        copy::copy_into(&Source::new(&v, &steps), out_layout.view_mut(&mut out_base));
        let got: Vec<String> = out_layout.view(&out_base).iter().cloned().collect();
        assert_eq!(got, naive(&v, &steps));
        // Words: the bit copies.
        let base = stored(&shape, &layout, |i| i as u32);
        let v = layout.view(&base);
        let mut out_base = stored(&out_shape, &out_layout, |_| u32::MAX);
        copy::copy_into(&Source::new(&v, &steps), out_layout.view_mut(&mut out_base));
        let got: Vec<u32> = out_layout.view(&out_base).iter().copied().collect();
        assert_eq!(got, naive(&v, &steps));
    }
}

// Not under Miri: rayon's pool (crossbeam-epoch) itself breaks Stacked
// Borrows' rules. The integration tests cover this path natively.
/// A `b c (h kh) (w kw) -> b c h w` case: the input's shape, a layout
/// (standard, or random), and the steps that read the input as
/// `b h w kh kw`.
fn pooling_case(rng: &mut Lcg, standard: bool) -> ([usize; 3], Layout, [Step; 5]) {
    let (h, w) = (1 + rng.below(3), 1 + rng.below(9));
    let (kh, kw) = (1 + rng.below(3), 1 + rng.below(3));
    let layout = if standard {
        Layout {
            perm: vec![0, 1, 2],
            flips: vec![false; 3],
            steps: vec![1; 3],
        }
    } else {
        Layout::random(rng, 3)
    };
    let steps = [
        Step::along(2, 0, 1),
        Step::along(h, 1, kh),
        Step::along(w, 2, kw),
        Step::along(kh, 1, 1),
        Step::along(kw, 2, 1),
    ];
    ([2, h * kh, w * kw], layout, steps)
}

#[test]
fn integer_pooling_equals_exact_sums() {
    // Sums of i32 and u8 windows, in random layouts and with values near
    // the types' limits: the pooling kernel gives the exact sums where
    // they all fit the type, and declines (appending nothing) where one
    // does not; it never averages integers.
    let mut rng = Lcg(23);
    let (mut pooled, mut overflowed) = (0, 0);
    for round in 0..ROUNDS * 2 {
        let (shape, layout, steps) = pooling_case(&mut rng, round % 2 == 0);
        let [_, h, w] = [shape[0], steps[1].len, steps[2].len];
        // Every third round has values large enough to overflow, above the
        // type's range or (rounds 6, 18, 30.., in standard layout) below it.
        let big = round % 3 == 0;
        let below = round % 4 == 2;
        macro_rules! check {
            ($t:ty, $value:expr) => {{
                let base = stored(&shape, &layout, $value);
                let v = layout.view(&base);
                let src = Source::new(&v, &steps);
                let mut acc = vec![0i64; 2 * h * w];
                pool::fold(&src, 3, &mut acc, |a, e| *a += *e as i64);
                let want: Option<Vec<$t>> = acc.iter().map(|&a| <$t>::try_from(a).ok()).collect();
                let mut got = Vec::with_capacity(acc.len());
                let done = pool::pool(&src, 3, false, &mut got);
                let mut into = vec![<$t>::default(); acc.len()];
                let done_into = pool::pool_into(&src, 3, false, &mut into);
                assert_eq!(done, done_into);
                match want {
                    Some(want) if done => {
                        pooled += 1;
                        assert_eq!(got, want, "{shape:?} {:?}", layout.perm);
                        assert_eq!(into, want);
                    }
                    Some(_) => assert!(got.is_empty()),
                    None => {
                        overflowed += 1;
                        assert!(!done && got.is_empty(), "an overflow was pooled");
                    }
                }
                let mut mean = Vec::with_capacity(acc.len());
                assert!(!pool::pool(&src, 3, true, &mut mean) && mean.is_empty());
            }};
        }
        check!(i32, |i| match (big, i % 3) {
            (true, 0) if below => i32::MIN + (i % 5) as i32,
            (true, _) if below => i32::MIN / 2 - (i % 3) as i32,
            (true, 0) => i32::MAX - (i % 5) as i32,
            (true, 1) => i32::MIN + (i % 7) as i32,
            (true, _) => i32::MAX / 2,
            (false, _) => (i % 11) as i32 - 5,
        });
        check!(u8, |i| if big {
            250 - (i % 4) as u8
        } else {
            (i % 60) as u8
        });
    }
    assert!(
        pooled > ROUNDS && overflowed > 0,
        "{pooled} pooled, {overflowed} overflowed"
    );
}

#[test]
#[cfg_attr(miri, ignore)]
fn copies_split_over_threads() {
    // With the thread threshold lowered, words go to the pool: a transpose
    // and a contiguous-run copy, each compared with index arithmetic.
    threads::set_thresholds(Some((0, usize::MAX)));
    let shape = if cfg!(miri) { [2, 9, 10] } else { [3, 40, 36] };
    let layout = Layout {
        perm: vec![0, 1, 2],
        flips: vec![false, true, false],
        steps: vec![1, 1, 1],
    };
    let base = stored(&shape, &layout, |i| i as u32);
    let v = layout.view(&base);
    let step = |d: usize| Step::along(shape[d], d, 1);
    let transpose = [step(0), step(2), step(1)];
    let runs = [step(1), step(0), step(2)];
    for steps in [&transpose[..], &runs[..]] {
        let mut out = Vec::with_capacity(shape.iter().product());
        copy::copy(&Source::new(&v, steps), &mut out);
        assert_eq!(out, naive(&v, steps));
    }
    threads::set_thresholds(None);
}

#[test]
#[should_panic(expected = "reaches past its input dimension")]
fn source_refuses_steps_past_the_end() {
    let base = ArrayD::from_elem(IxDyn(&[4]), String::from("x"));
    let steps = [Step::along(2, 0, 2), Step::along(3, 0, 1)];
    let _ = Source::new(&base.view(), &steps);
}

#[test]
#[should_panic(expected = "do not split the output")]
fn copy_into_refuses_a_wrong_output_shape() {
    let base = ArrayD::from_elem(IxDyn(&[2, 3]), 1u8);
    let mut out = ArrayD::from_elem(IxDyn(&[3, 2]), 0u8);
    copy::copy_into(
        &Source::new(&base.view(), &identity(&[2, 3])),
        out.view_mut(),
    );
}

#[test]
fn merged_views_read_the_same_elements() {
    let mut rng = Lcg(11);
    for _ in 0..ROUNDS {
        let nd = 1 + rng.below(3);
        let shape: Vec<usize> = (0..nd).map(|_| 1 + rng.below(4)).collect();
        let layout = Layout::random(&mut rng, nd);
        let base = stored(&shape, &layout, |i| i.to_string());
        let v = layout.view(&base);
        let steps = random_steps(&mut rng, &shape);
        let lens: Vec<usize> = steps.iter().map(|s| s.len).collect();
        let (out_shape, groups) = random_groups(&mut rng, &lens);
        let src = Source::new(&v, &steps);
        if let Some(w) = src.merged(&groups) {
            assert_eq!(w.shape(), &out_shape[..]);
            assert_eq!(w.iter().cloned().collect::<Vec<_>>(), naive(&v, &steps));
        }
        // Without merges a view always exists.
        let singles: Vec<(usize, usize)> = (0..lens.len()).map(|k| (k, k + 1)).collect();
        let w = src.merged(&singles).expect("no merge to refuse");
        assert_eq!(w.iter().cloned().collect::<Vec<_>>(), naive(&v, &steps));
    }
}

#[test]
fn fold_equals_index_arithmetic() {
    let mut rng = Lcg(13);
    for _ in 0..ROUNDS {
        let nd = 1 + rng.below(3);
        let shape: Vec<usize> = (0..nd).map(|_| 1 + rng.below(4)).collect();
        let layout = Layout::random(&mut rng, nd);
        let base = stored(&shape, &layout, |i| i.to_string());
        let v = layout.view(&base);
        let steps = random_steps(&mut rng, &shape);
        let kept = rng.below(steps.len() + 1);
        let n_out: usize = steps[..kept].iter().map(|s| s.len).product();
        let mut acc = vec![String::new(); n_out];
        pool::fold(&Source::new(&v, &steps), kept, &mut acc, |a, e| {
            a.push_str(e);
            a.push(',');
        });
        // Every element lands in the accumulator of its kept index; the
        // fold visits memory order, so compare as multisets.
        let per: usize = steps[kept..].iter().map(|s| s.len).product();
        let all = naive(&v, &steps);
        for (o, a) in acc.iter().enumerate() {
            let mut got: Vec<&str> = a.split_terminator(',').collect();
            let mut want: Vec<&str> = all[o * per..(o + 1) * per]
                .iter()
                .map(|s| s.as_str())
                .collect();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want);
        }
    }
}

#[test]
fn pooling_equals_the_fold() {
    // `b c (h kh) (w kw) -> b c h w` and friends, in random layouts: the
    // pooling kernel gives the fold's sums and means bit for bit. The
    // values mix magnitudes far apart and signed zeros, so that a sum in
    // another order, or from another start than 0, gives other bits.
    const VALUES: [f32; 8] = [1e30, -1e30, 1.0, 3e-8, -0.0, 0.1, 7.5e-20, -2.5];
    let mut rng = Lcg(19);
    // The values from a generator of their own: the cases stay those of
    // `rng`.
    let mut values = Lcg(29);
    let mut pooled = 0;
    for _ in 0..ROUNDS * 3 / 2 {
        let standard = rng.below(2) == 0;
        let (shape, layout, steps) = pooling_case(&mut rng, standard);
        let [h, w, kh, kw] = [1, 2, 3, 4].map(|k| steps[k].len);
        let all_zeros = values.below(4) == 0;
        let picks: Vec<usize> = (0..layout.base_shape(&shape).iter().product::<usize>())
            .map(|_| {
                if all_zeros {
                    4
                } else {
                    values.below(VALUES.len())
                }
            })
            .collect();
        let base = stored(&shape, &layout, |i| VALUES[picks[i]]);
        let v = layout.view(&base);
        let src = Source::new(&v, &steps);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for mean in [false, true] {
            let mut acc = vec![0.0f64; 2 * h * w];
            pool::fold(&src, 3, &mut acc, |a, e| *a += *e as f64);
            let count = (kh * kw) as f64;
            let want: Vec<f32> = acc
                .iter()
                .map(|&a| if mean { (a / count) as f32 } else { a as f32 })
                .collect();
            let mut got = Vec::with_capacity(want.len());
            if pool::pool(&src, 3, mean, &mut got) {
                pooled += 1;
                assert_eq!(bits(&got), bits(&want), "{shape:?} {:?}", layout.perm);
                let mut into = vec![f32::NAN; want.len()];
                assert!(pool::pool_into(&src, 3, mean, &mut into));
                assert_eq!(bits(&into), bits(&want));
            } else {
                assert!(got.is_empty());
            }
        }
    }
    assert!(pooled > ROUNDS, "the standard layouts all pool ({pooled})");
}

/// Two views whose elements interleave in one buffer, as ndarray's
/// `multi_slice_mut` makes them. A view checked only against its input's
/// lowest and highest addresses (the argument of the old `kernel::view`)
/// could reach the other view's elements; [`Source::try_new`] proves each
/// index an index of its own input, so it refuses such steps, and every
/// view it builds reads only its input's elements while the other view is
/// written (which Miri checks).
#[test]
fn checked_views_stay_inside_interleaved_inputs() {
    use crate::layout::Layout;
    use ndarray::{Array1, s};

    let mut base = Array1::from_iter((0..8).map(|i| i.to_string()));
    let (evens, mut odds) = base.multi_slice_mut((s![..;2], s![1..;2]));
    let evens = evens.into_dyn();
    let input = evens.view();
    // The old argument: stride 1 over 4 elements stays inside `evens`'
    // address range, offsets 0..=6, yet reads `odds`' elements 1 and 3.
    let range = Layout::new(input.shape(), input.strides())
        .extent()
        .unwrap();
    let stride_one = Layout::new(&[4], &[1]).extent().unwrap();
    assert!(range.0 <= stride_one.0 && stride_one.1 <= range.1);
    // Steps are indices of `evens`, never raw strides; those past its end
    // are refused.
    assert!(Source::try_new(&input, &[Step::along(7, 0, 1)]).is_none());
    assert!(Source::try_new(&input, &[Step::along(2, 0, 2), Step::along(3, 0, 1)]).is_none());
    let mut built = 0;
    for len in 1..6 {
        for mult in 0..4 {
            for outer in 1..4 {
                let steps = [Step::along(outer, 0, 2), Step::along(len, 0, mult)];
                let Some(src) = Source::try_new(&input, &steps) else {
                    continue;
                };
                let view = src.view().unwrap();
                // `odds` is borrowed mutably all along; write it now.
                odds.fill(String::from("odd"));
                for v in view.iter() {
                    let n: usize = v.parse().expect("an element of `evens`");
                    assert_eq!(n % 2, 0);
                }
                built += 1;
            }
        }
    }
    assert!(built > 10);
}

/// `c = a · b` by index arithmetic, in `f64`.
fn naive_product(a: &ndarray::ArrayView2<'_, f32>, b: &ndarray::ArrayView2<'_, f32>) -> Vec<f64> {
    let ((m, k), n) = (a.dim(), b.ncols());
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            out.push((0..k).map(|r| a[[i, r]] as f64 * b[[r, j]] as f64).sum());
        }
    }
    out
}

/// The product kernels' tiles to check: the scalar one everywhere (under
/// Miri, with the drivers' offsets), the AVX2 one too where the CPU has it.
fn product_tiles() -> Vec<super::gemm::Tile> {
    use super::gemm::Tile;
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    let avx2 =
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let avx2 = false;
    [Tile::Scalar]
        .into_iter()
        .chain(avx2.then_some(Tile::Avx2))
        .collect()
}

/// The `f32` product kernel against index arithmetic: ragged row panels
/// and column tiles, small column chunks, `a` in any layout (reversed,
/// transposed, stepped, standard), `b` and `c` rows inside wider arrays,
/// and the elements of `c` outside its view untouched. Under Miri the
/// scalar tile runs, with the driver's offsets; elsewhere the AVX2 tile
/// too.
#[test]
fn gemm_tiles_equal_index_arithmetic() {
    use super::gemm::multiply_in_chunks;
    use ndarray::{Array2, s};
    let mut rng = Lcg(17);
    let tiles = product_tiles();
    let most = if cfg!(miri) { 20 } else { 70 };
    for round in 0..ROUNDS {
        let (m, k, n) = (
            1 + rng.below(most / 2),
            rng.below(most / 2),
            1 + rng.below(most),
        );
        let value = |i: usize| ((i * 7919) % 23) as f32 - 11.0;
        let base_a = Array2::from_shape_fn((2 * k + 1, 2 * m + 1), |(r, c)| value(r * 31 + c));
        let mut a = base_a.slice(s![..;2, ..;2]).reversed_axes();
        a.slice_collapse(s![..m, ..k]);
        if round % 2 == 1 {
            a.invert_axis(ndarray::Axis(0));
        }
        // Every third round in standard layout, whose full panels are
        // packed from contiguous rows.
        let standard;
        if round % 3 == 2 {
            standard = a.as_standard_layout().into_owned();
            a = standard.view();
        }
        let base_b = Array2::from_shape_fn((k, n + 5), |(r, c)| value(r * 13 + c + 1));
        let b = base_b.slice(s![.., 3..3 + n]);
        let want = naive_product(&a, &b);
        for &tile in &tiles {
            let mut base_c = Array2::from_elem((m, n + 3), f32::NAN);
            let chunk = [16, 40, 1 << 20][rng.below(3)];
            multiply_in_chunks(&a, &b, &mut base_c.slice_mut(s![.., 1..1 + n]), tile, chunk);
            let got = base_c.slice(s![.., 1..1 + n]);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (*g as f64 - w).abs() <= 1e-3,
                    "{tile:?} {m}x{k}x{n}: {g} vs {w}"
                );
            }
            for col in [0, n + 1, n + 2] {
                assert!(
                    base_c.column(col).iter().all(|v| v.is_nan()),
                    "wrote outside c"
                );
            }
        }
    }
}

/// The `f32` matrix-vector kernel against index arithmetic: every count
/// of rows left after the four-row steps, rows longer and shorter than
/// whole runs of eight, `x` stepped, `y` reversed inside a wider array,
/// and the elements of `y`'s array outside the view untouched. Under Miri
/// the scalar sums run; elsewhere the AVX2 ones too.
#[test]
fn mat_vec_equals_index_arithmetic() {
    use super::gemm::mat_vec_f32;
    use ndarray::{Array1, Array2, s};
    let mut rng = Lcg(41);
    let tiles = product_tiles();
    let most = if cfg!(miri) { 24 } else { 90 };
    for round in 0..ROUNDS {
        let (m, k) = (rng.below(11), 1 + rng.below(most));
        let value = |i: usize| ((i * 7919) % 23) as f32 - 11.0;
        // Rows of `a` inside wider rows; `x` every other element.
        let base_a = Array2::from_shape_fn((m, k + 3), |(r, c)| value(r * 31 + c));
        let a = base_a.slice(s![.., 2..2 + k]);
        let base_x = Array1::from_shape_fn(2 * k, |i| value(i + 5));
        let x = base_x.slice(s![..;2]);
        let want: Vec<f64> = (0..m)
            .map(|i| (0..k).map(|r| a[[i, r]] as f64 * x[r] as f64).sum())
            .collect();
        for &tile in &tiles {
            let mut base_y = Array1::from_elem(m + 3, f32::NAN);
            let mut y = base_y.slice_mut(s![1..1 + m]);
            if round % 2 == 1 {
                y.invert_axis(ndarray::Axis(0));
            }
            mat_vec_f32(&a, &x, &mut y, tile);
            for (i, w) in want.iter().enumerate() {
                assert!(
                    (y[i] as f64 - w).abs() <= 1e-3,
                    "{tile:?} {m}x{k} row {i}: {} vs {w}",
                    y[i]
                );
            }
            for i in [0, m + 1, m + 2] {
                assert!(base_y[i].is_nan(), "wrote outside y");
            }
        }
    }
}

/// `gemm::mat_vec` takes only `f32` rows that are contiguous and long
/// enough, and refuses everything else untouched.
#[test]
fn mat_vec_declines_what_it_does_not_handle() {
    use super::gemm::mat_vec;
    use ndarray::{Array1, Array2, s};
    let a = Array2::<f64>::ones((5, 64));
    let x = Array1::<f64>::ones(64);
    let mut y = Array1::<f64>::zeros(5);
    assert!(!mat_vec(&a.view(), &x.view(), &mut y.view_mut()));
    assert!(y.iter().all(|&v| v == 0.0));
    let a = Array2::<f32>::ones((5, 128));
    let x = Array1::<f32>::ones(128);
    let mut y = Array1::<f32>::zeros(5);
    // Stepped rows, rows too short, and mismatched lengths.
    assert!(!mat_vec(
        &a.slice(s![.., ..;2]),
        &x.slice(s![..64]),
        &mut y.view_mut()
    ));
    assert!(!mat_vec(
        &a.slice(s![.., ..8]),
        &x.slice(s![..8]),
        &mut y.view_mut()
    ));
    assert!(!mat_vec(&a.view(), &x.slice(s![..64]), &mut y.view_mut()));
    assert!(y.iter().all(|&v| v == 0.0));
}

/// `gemm::product` takes only `f32` with unit column strides and refuses
/// everything else untouched.
#[test]
fn gemm_product_declines_what_it_does_not_handle() {
    use super::gemm::product;
    use ndarray::{Array2, s};
    let a = Array2::<f64>::ones((4, 3));
    let b = Array2::<f64>::ones((3, 200));
    let mut c = Array2::<f64>::zeros((4, 200));
    assert!(!product(&a.view(), &b.view(), &mut c.view_mut()));
    assert!(c.iter().all(|&v| v == 0.0));
    let a = Array2::<f32>::ones((4, 3));
    let b = Array2::<f32>::ones((3, 400));
    let mut c = Array2::<f32>::zeros((4, 200));
    // Stepped columns of `b`: not the kernel's.
    assert!(!product(
        &a.view(),
        &b.slice(s![.., ..;2]),
        &mut c.view_mut()
    ));
    // Too few columns.
    assert!(!product(
        &a.view(),
        &b.slice(s![.., ..100]),
        &mut c.slice_mut(s![.., ..100])
    ));
    assert!(c.iter().all(|&v| v == 0.0));
}

/// `split_mut` on views in random layouts (reversed, stepped, permuted)
/// writes, through every index of the split, exactly the element at the
/// corresponding row-major index of the original view, and nothing else
/// of the base array; dimensions it cannot split come back unchanged.
#[test]
fn split_views_write_the_elements_they_split() {
    use super::source::split_mut;
    let mut rng = Lcg(29);
    for _ in 0..ROUNDS {
        // Two dimensions, each split into two axes.
        let axes: Vec<usize> = (0..4).map(|_| 1 + rng.below(3)).collect();
        let shape = [axes[0] * axes[1], axes[2] * axes[3]];
        let layout = Layout::random(&mut rng, 2);
        let mut base = stored(&shape, &layout, |_| -1i64);
        let mut expected = base.clone();
        {
            let view = layout.view_mut(&mut base);
            let mut want = layout.view_mut(&mut expected);
            for (i, v) in want.iter_mut().enumerate() {
                *v = i as i64;
            }
            let mut split =
                split_mut(view, &axes).unwrap_or_else(|_| panic!("{axes:?} split {shape:?}"));
            assert_eq!(split.shape(), &axes[..]);
            for (i, v) in split.iter_mut().enumerate() {
                *v = i as i64;
            }
        }
        assert_eq!(base, expected, "{axes:?} {shape:?}");
        let view = layout.view_mut(&mut base);
        assert!(split_mut(view, &[shape[0] + 1, shape[1]]).is_err());
    }
}

/// Lines of bytes copied with streaming stores (the threshold lowered to
/// nothing), of every length up to two lines and past, into outputs at
/// every offset within 16 bytes: the head up to 16-byte alignment, whole
/// 64-byte steps and the tail each land where they should, and nothing
/// before the output is written.
#[test]
#[cfg_attr(miri, ignore)]
fn streamed_lines_equal_index_arithmetic() {
    threads::set_thresholds(Some((usize::MAX, 0)));
    for n in 1..140 {
        // Rows of `n` bytes from a wider array: one line per row.
        let base = ArrayD::from_shape_vec(
            IxDyn(&[4, n + 3]),
            (0..4 * (n + 3)).map(|i| (i * 7 + 3) as u8).collect(),
        )
        .unwrap();
        let v = base.slice_each_axis(|a| Slice::from(..if a.axis.index() == 1 { n } else { 4 }));
        let steps = [Step::along(4, 0, 1), Step::along(n, 1, 1)];
        let want = naive(&v, &steps);
        for skip in [0, 1, 5, 8, 15] {
            let mut out = vec![0xAAu8; skip + 4 * n];
            let view = ArrayViewMutD::from_shape(IxDyn(&[4, n]), &mut out[skip..]).unwrap();
            copy::copy_into(&Source::new(&v, &steps), view);
            assert_eq!(out[skip..], want[..], "{n} bytes a line, {skip} in");
            assert!(out[..skip].iter().all(|&x| x == 0xAA));
        }
    }
    threads::set_thresholds(None);
}
