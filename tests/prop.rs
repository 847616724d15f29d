//! Property tests against the independent oracle (`tests/oracle/`), which
//! shares no parser, resolver or planner with the crate:
//!
//! - rearrange, reduce and repeat of random valid patterns on random
//!   layouts (permuted, reversed, stepped) equal the oracle's results;
//! - random pattern text (valid and invalid), lengths and shapes: the
//!   crate accepts what the oracle accepts, and rejects the rest for the
//!   same class of reason (syntax, rule, lengths, shape, data);
//! - rearranging by a pattern and then by its inverse gives the input back;
//! - a plan that says "view" really returns a view into the input.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};
use proptest::prelude::*;

use crate::oracle::{self, compare};

/// A random rearrange: axes with lengths, input groups, output groups.
#[derive(Clone, Debug)]
struct Case {
    lens: Vec<usize>,
    input: Vec<Vec<usize>>,
    output: Vec<Vec<usize>>,
    /// Axes whose length is passed explicitly.
    given: Vec<usize>,
}

const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

fn side(groups: &[Vec<usize>]) -> String {
    let terms: Vec<String> = groups
        .iter()
        .map(|g| match g.as_slice() {
            [one] => NAMES[*one].to_owned(),
            many => {
                let names: Vec<&str> = many.iter().map(|&a| NAMES[a]).collect();
                format!("({})", names.join(" "))
            }
        })
        .collect();
    terms.join(" ")
}

impl Case {
    fn pattern(&self) -> String {
        format!("{} -> {}", side(&self.input), side(&self.output))
    }

    fn inverse(&self) -> String {
        format!("{} -> {}", side(&self.output), side(&self.input))
    }

    fn lengths(&self) -> Vec<(&'static str, usize)> {
        self.given
            .iter()
            .map(|&a| (NAMES[a], self.lens[a]))
            .collect()
    }

    fn all_lengths(&self) -> Vec<(&'static str, usize)> {
        (0..self.lens.len())
            .map(|a| (NAMES[a], self.lens[a]))
            .collect()
    }

    fn input_shape(&self) -> Vec<usize> {
        self.input
            .iter()
            .map(|g| g.iter().map(|&a| self.lens[a]).product())
            .collect()
    }
}

/// Splits `order` into consecutive groups with sizes from `cuts`.
fn group(order: Vec<usize>, cuts: Vec<bool>) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, a) in order.into_iter().enumerate() {
        match groups.last_mut() {
            Some(g) if i > 0 && !cuts[i] => g.push(a),
            _ => groups.push(vec![a]),
        }
    }
    groups
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=5)
        .prop_flat_map(|n| {
            (
                prop::collection::vec(1usize..=4, n),
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                prop::collection::vec(any::<bool>(), n),
                prop::collection::vec(any::<bool>(), n),
                prop::collection::vec(any::<bool>(), n),
            )
        })
        .prop_map(|(lens, inp, out, cut_in, cut_out, give)| {
            let input = group(inp, cut_in);
            let output = group(out, cut_out);
            // Every input group may leave one length unknown.
            let mut given = Vec::new();
            for g in &input {
                for (i, &a) in g.iter().enumerate() {
                    if g.len() > 1 && (i + 1 < g.len() || give[a]) {
                        given.push(a);
                    }
                }
            }
            Case {
                lens,
                input,
                output,
                given,
            }
        })
}

/// A random layout for an array of `shape`: a larger base, then a random
/// permutation, flips and steps, so strides are arbitrary (negative too).
#[derive(Clone, Debug)]
struct Layout {
    perm_seed: Vec<usize>,
    flips: Vec<bool>,
    steps: Vec<usize>,
}

fn layout(ndim: usize) -> impl Strategy<Value = Layout> {
    (
        Just((0..ndim).collect::<Vec<_>>()).prop_shuffle(),
        prop::collection::vec(any::<bool>(), ndim),
        prop::collection::vec(1usize..=2, ndim),
    )
        .prop_map(|(perm_seed, flips, steps)| Layout {
            perm_seed,
            flips,
            steps,
        })
}

/// Builds an array of `shape` with values 0.. in logical order, stored
/// with the given layout. Returns the owner and a view with that shape.
fn make(shape: &[usize], l: &Layout) -> (ArrayD<i64>, Vec<usize>, Vec<bool>, Vec<usize>) {
    // Storage shape: the logical shape (times steps) in permuted order.
    let stored: Vec<usize> = l.perm_seed.iter().map(|&d| shape[d] * l.steps[d]).collect();
    let n: usize = stored.iter().product();
    let base = ArrayD::from_shape_vec(IxDyn(&stored), (0..n as i64).collect()).unwrap();
    (base, l.perm_seed.clone(), l.flips.clone(), l.steps.clone())
}

fn view<'a>(
    base: &'a ArrayD<i64>,
    perm: &[usize],
    flips: &[bool],
    steps: &[usize],
) -> ArrayViewD<'a, i64> {
    // Undo the permutation so axis d of the view is logical axis d.
    let mut inverse = vec![0; perm.len()];
    for (i, &d) in perm.iter().enumerate() {
        inverse[d] = i;
    }
    let mut v = base.view().permuted_axes(IxDyn(&inverse));
    for d in 0..perm.len() {
        v.slice_axis_inplace(Axis(d), Slice::new(0, None, steps[d] as isize));
        if flips[d] {
            v.invert_axis(Axis(d));
        }
    }
    v
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn rearrange_equals_oracle((c, l) in case().prop_flat_map(|c| {
        let nd = c.input.len();
        (Just(c), layout(nd))
    })) {
        let shape = c.input_shape();
        let (base, perm, flips, steps) = make(&shape, &l);
        let x = view(&base, &perm, &flips, &steps);
        prop_assert_eq!(x.shape(), &shape[..]);
        let pattern = c.pattern();
        let fast = einplan::rearrange(&x, &pattern, &c.lengths()).unwrap();
        let slow = oracle::rearrange(&compare::tensor(&x), &pattern, &c.lengths()).unwrap();
        prop_assert!(compare::same_values(&fast, &slow), "{}", pattern);
    }

    #[test]
    fn inverse_pattern_round_trips((c, l) in case().prop_flat_map(|c| {
        let nd = c.input.len();
        (Just(c), layout(nd))
    })) {
        let shape = c.input_shape();
        let (base, perm, flips, steps) = make(&shape, &l);
        let x = view(&base, &perm, &flips, &steps);
        let y = einplan::rearrange(&x, &c.pattern(), &c.lengths()).unwrap();
        let back = einplan::rearrange(&y, &c.inverse(), &c.all_lengths()).unwrap();
        prop_assert_eq!(back.view(), x.view());
    }

    #[test]
    fn view_plans_are_views(c in case()) {
        let shape = c.input_shape();
        let n: usize = shape.iter().product();
        let x = ArrayD::from_shape_vec(IxDyn(&shape), (0..n as i64).collect()).unwrap();
        let op = c.lengths().into_iter().try_fold(
            einplan::Rearrange::new(&c.pattern()).unwrap(),
            |op, (name, len)| op.with(name, len),
        ).unwrap();
        let plan = op.plan(&shape).unwrap();
        let y = op.apply(&x).unwrap();
        prop_assert_eq!(plan.is_view(), y.is_view(), "{}", &plan);
        if y.is_view() {
            // Every element of the result lives inside the input's buffer.
            let range = x.as_slice().unwrap().as_ptr_range();
            for e in y.iter() {
                prop_assert!(range.contains(&(e as *const i64)));
            }
        }
    }
}

#[test]
fn transposed_input_can_make_a_merge_free() {
    // `(b a)` over a standard [a, b] array needs a copy; over the
    // transpose of a standard [b, a] array it is a plain view.
    let x = ArrayD::from_shape_vec(IxDyn(&[3, 2]), (0..6).collect::<Vec<i64>>()).unwrap();
    assert!(
        !einplan::rearrange(&x, "a b -> (b a)", &[])
            .unwrap()
            .is_view()
    );
    let t = x.t();
    let y = einplan::rearrange(&t, "b a -> (a b)", &[]).unwrap();
    assert!(y.is_view());
    assert_eq!(y.iter().copied().collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5]);
}

/// Drops the axes with `drop[a]` from `groups` (and groups left empty).
fn without(groups: &[Vec<usize>], drop: &[bool]) -> Vec<Vec<usize>> {
    groups
        .iter()
        .map(|g| g.iter().copied().filter(|&a| !drop[a]).collect::<Vec<_>>())
        .filter(|g| !g.is_empty())
        .collect()
}

fn with_drops() -> impl Strategy<Value = (Case, Vec<bool>, Layout)> {
    case()
        .prop_flat_map(|c| {
            let n = c.lens.len();
            (Just(c), prop::collection::vec(any::<bool>(), n))
        })
        .prop_flat_map(|(c, drop)| {
            let nd = without(&c.input, &drop).len();
            let nd_full = c.input.len();
            (Just(c), Just(drop), layout(nd.max(nd_full)))
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reduce_equals_oracle((c, drop, l) in with_drops()) {
        let output = without(&c.output, &drop);
        let pattern = format!("{} -> {}", side(&c.input), side(&output));
        let shape = c.input_shape();
        let (base, perm, flips, steps) = make(&shape, &Layout {
            perm_seed: l.perm_seed.iter().copied().filter(|&d| d < shape.len()).collect(),
            flips: l.flips[..shape.len()].to_vec(),
            steps: l.steps[..shape.len()].to_vec(),
        });
        let x = view(&base, &perm, &flips, &steps);
        // Integers: a product may not fit i64, and both must refuse it
        // alike then.
        let t = compare::tensor(&x);
        for (r, o) in REDUCTIONS {
            if r == einplan::Reduction::Mean {
                continue;
            }
            let slow = oracle::reduce(&t, &pattern, o, &c.lengths());
            if compare::skip(&slow) {
                continue;
            }
            let fast = einplan::reduce(&x, &pattern, r, &c.lengths());
            let verdict = compare::verdict(&fast, &slow, compare::same_values);
            prop_assert!(verdict.is_ok(), "{} {:?}: {:?}", pattern, r, verdict);
        }
        // Floats, every reduction.
        let xf = x.mapv(|v| v as f64);
        let tf = compare::tensor(&xf);
        for (r, o) in REDUCTIONS {
            let fast = einplan::reduce(&xf, &pattern, r, &c.lengths()).unwrap();
            let slow = oracle::reduce(&tf, &pattern, o, &c.lengths()).unwrap();
            // A float product that leaves the finite range depends on the
            // order of its factors (inf * 0 is NaN, 0 * inf too, but a
            // zero met first keeps it 0): such results are not compared.
            let finite = fast.iter().chain(&slow.data).all(|v| v.is_finite());
            if r == einplan::Reduction::Prod && !finite {
                continue;
            }
            prop_assert!(compare::same_values(&fast, &slow), "{} {:?} f64", pattern, r);
        }
    }

    #[test]
    fn repeat_equals_oracle((c, drop, l) in with_drops()) {
        // The dropped axes are new in the output: their lengths are given.
        let input = without(&c.input, &drop);
        let pattern = format!("{} -> {}", side(&input), side(&c.output));
        let shape: Vec<usize> = input.iter().map(|g| g.iter().map(|&a| c.lens[a]).product()).collect();
        let mut lengths: Vec<(&str, usize)> = c.given.iter().copied()
            .filter(|&a| !drop[a] && input.iter().any(|g| g.len() > 1 && g.contains(&a)))
            .map(|a| (NAMES[a], c.lens[a])).collect();
        lengths.extend((0..c.lens.len()).filter(|&a| drop[a]).map(|a| (NAMES[a], c.lens[a])));
        let nd = shape.len();
        let mut perm_seed: Vec<usize> = l.perm_seed.iter().copied().filter(|&d| d < nd).collect();
        if perm_seed.len() != nd { perm_seed = (0..nd).collect(); }
        let (base, perm, flips, steps) = make(&shape, &Layout {
            perm_seed, flips: l.flips[..nd].to_vec(), steps: l.steps[..nd].to_vec(),
        });
        let x = view(&base, &perm, &flips, &steps);
        // Groups with two unknowns cannot be planned: both must say so.
        let fast = einplan::repeat(&x, &pattern, &lengths);
        let slow = oracle::repeat(&compare::tensor(&x), &pattern, &lengths);
        let verdict = compare::verdict(&fast, &slow, compare::same_values);
        prop_assert!(verdict.is_ok(), "{}: {:?}", pattern, verdict);
    }
}

const REDUCTIONS: [(einplan::Reduction, oracle::Reduction); 5] = [
    (einplan::Reduction::Sum, oracle::Reduction::Sum),
    (einplan::Reduction::Prod, oracle::Reduction::Prod),
    (einplan::Reduction::Min, oracle::Reduction::Min),
    (einplan::Reduction::Max, oracle::Reduction::Max),
    (einplan::Reduction::Mean, oracle::Reduction::Mean),
];

/// Pattern text from pieces that make valid and invalid patterns alike.
fn text() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "a", "b", "c", "a", "b", " ", " ", " -> ", " -> ", "(", ")", "...", "1", "2", "()", "_",
        "*", ",", "..", "b_", "\u{3b1}", "\t",
    ];
    prop::collection::vec(prop::sample::select(PIECES), 0..10).prop_map(|v| v.concat())
}

/// A length: small, or (rarely) extreme.
fn length() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 0usize..=4,
        1 => Just(usize::MAX),
        1 => (1u32..63).prop_map(|k| (1usize << k) + 1),
    ]
}

/// Random text, lengths and a small shape for any operation.
fn any_case() -> impl Strategy<Value = (String, Vec<(&'static str, usize)>, Vec<usize>)> {
    (
        text(),
        prop::collection::vec((prop::sample::select(&NAMES[..3]), length()), 0..3),
        prop::collection::vec(0usize..=3, 0..4),
    )
}

/// The crate and the oracle agree on one outcome, unless the oracle puts
/// it in a family of known bugs being fixed elsewhere.
fn agree<T, U>(
    fast: impl FnOnce() -> Result<T, einplan::Error>,
    slow: &Result<U, oracle::Reject>,
    same: impl FnOnce(&T, &U) -> bool,
) -> Result<(), String> {
    if compare::skip(slow) || compare::would_fill_memory::<i64, _>(slow) {
        return Ok(());
    }
    compare::verdict(&fast(), slow, same)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn accept_and_reject_as_the_oracle((pattern, lengths, shape) in any_case()) {
        let n: usize = shape.iter().product();
        let x = ArrayD::from_shape_vec(IxDyn(&shape), (0..n as i64).collect()).unwrap();
        let t = compare::tensor(&x);
        let same = |a: &ndarray::CowArray<'_, i64, IxDyn>, b: &oracle::Tensor<i64>| compare::same_values(a, b);
        let r = agree(|| einplan::rearrange(&x, &pattern, &lengths), &oracle::rearrange(&t, &pattern, &lengths), same);
        prop_assert!(r.is_ok(), "rearrange {:?} {:?} {:?}: {:?}", pattern, lengths, shape, r);
        let r = agree(|| einplan::repeat(&x, &pattern, &lengths), &oracle::repeat(&t, &pattern, &lengths), same);
        prop_assert!(r.is_ok(), "repeat {:?} {:?} {:?}: {:?}", pattern, lengths, shape, r);
        for (fr, or) in REDUCTIONS {
            let slow = oracle::reduce(&t, &pattern, or, &lengths);
            let r = agree(|| einplan::reduce(&x, &pattern, fr, &lengths), &slow, compare::same_values);
            prop_assert!(r.is_ok(), "reduce {:?} {:?} {:?} {:?}: {:?}", fr, pattern, lengths, shape, r);
        }
        let slow = oracle::parse_shape(&shape, &pattern);
        let r = agree(|| einplan::parse_shape(&x, &pattern), &slow, |a, b| {
            a.len() == b.len() && b.iter().all(|(k, v)| a.get(k) == Some(v))
        });
        prop_assert!(r.is_ok(), "parse_shape {:?} {:?}: {:?}", pattern, shape, r);
        let slow = oracle::pack(&[t.clone(), t.clone()], &pattern);
        let r = agree(|| einplan::pack(&[x.view(), x.view()], &pattern), &slow, |(a, sa), (b, sb)| {
            compare::same_values(a, b) && sa == sb
        });
        prop_assert!(r.is_ok(), "pack {:?} {:?}: {:?}", pattern, shape, r);
    }

    #[test]
    fn einsum_accepts_and_rejects_as_the_oracle(
        (pattern, lengths, shape) in any_case(),
        second in prop::collection::vec(0usize..=3, 0..3),
    ) {
        // `->` and `,` are frequent in the text; operands of two shapes.
        let make = |s: &[usize]| {
            let n: usize = s.iter().product();
            ArrayD::from_shape_vec(IxDyn(s), (0..n as i64).map(|v| v % 5 - 2).collect()).unwrap()
        };
        let (a, b) = (make(&shape), make(&second));
        for operands in [vec![a.view()], vec![a.view(), b.view()]] {
            let tensors: Vec<_> = operands.iter().map(compare::tensor).collect();
            let slow = oracle::einsum(&pattern, &tensors, &lengths);
            let fast = || {
                einplan::Einsum::new(&pattern)
                    .and_then(|op| lengths.iter().try_fold(op, |op, &(n, l)| op.with(n, l)))
                    .and_then(|op| op.apply(&operands))
            };
            let r = agree(fast, &slow, compare::same_values);
            prop_assert!(r.is_ok(), "einsum {:?} {:?} {:?}: {:?}", pattern, lengths, operands.len(), r);
        }
    }
}

/// Integer reductions whose exact result does not fit the element type
/// must be errors. Fails until checked integer arithmetic lands (issue 13,
/// on the branch that owns `exec/reduce.rs` and `einsum/run.rs`); the
/// properties above skip that family meanwhile (`compare::SKIP_KNOWN`).
#[test]
fn integer_overflow_is_an_error_as_in_the_oracle() {
    let x = ndarray::arr1(&[200u8, 200, 200]);
    let slow = oracle::reduce(&compare::tensor(&x), "a ->", oracle::Reduction::Sum, &[]);
    let fast = einplan::reduce(&x, "a ->", einplan::Reduction::Sum, &[]);
    compare::verdict(&fast, &slow, compare::same_values).unwrap();
    let y = ndarray::arr2(&[[i64::MAX, 1]]).into_dyn();
    let slow = oracle::einsum("a b -> a", &[compare::tensor(&y)], &[]);
    let fast =
        std::panic::catch_unwind(|| einplan::einsum("a b -> a", &[y.view()])).expect("no panic");
    compare::verdict(&fast, &slow, compare::same_values).unwrap();
    let z = ndarray::arr1(&[i32::MAX, 2, -1]);
    for (r, o) in [
        (einplan::Reduction::Sum, oracle::Reduction::Sum),
        (einplan::Reduction::Prod, oracle::Reduction::Prod),
    ] {
        let slow = oracle::reduce(&compare::tensor(&z), "a ->", o, &[]);
        let fast = einplan::reduce(&z, "a ->", r, &[]);
        compare::verdict(&fast, &slow, compare::same_values).unwrap();
    }
}

/// A zero-length axis beside lengths whose product overflows: no array
/// can have the shape, so it must be an error, never a panic. Fails until
/// the planner refuses such shapes (issue 13, the branch that owns
/// `plan.rs` and `exec/`).
#[test]
fn zero_length_overflow_is_an_error_as_in_the_oracle() {
    let z = ndarray::ArrayD::<f32>::zeros(IxDyn(&[0]));
    // (repeat?, pattern, lengths)
    type Case<'a> = (bool, &'a str, &'a [(&'a str, usize)]);
    let cases: &[Case] = &[
        (true, "a -> a r", &[("r", usize::MAX)]),
        (true, "a -> a r s", &[("r", 1 << 40), ("s", 1 << 40)]),
        (false, "(a b) -> a b", &[("a", usize::MAX)]),
    ];
    let t = compare::tensor(&z);
    for &(repeat, pattern, lengths) in cases {
        let slow = if repeat {
            oracle::repeat(&t, pattern, lengths)
        } else {
            oracle::rearrange(&t, pattern, lengths)
        };
        assert!(compare::zero_overflow(&slow), "{pattern}: {slow:?}");
        let fast = std::panic::catch_unwind(|| {
            if repeat {
                einplan::repeat(&z, pattern, lengths).map(|_| ())
            } else {
                einplan::rearrange(&z, pattern, lengths).map(|_| ())
            }
        });
        assert!(matches!(fast, Ok(Err(_))), "{pattern}: {fast:?}");
    }
}

#[test]
fn f32_sums_keep_precision() {
    // 2^24 + many small values: a plain f32 accumulator would stall at 2^24.
    let n = 1 << 22;
    let x = ndarray::Array1::from_elem(n, 0.1f32);
    let sum = einplan::reduce(&x, "n ->", einplan::Reduction::Sum, &[]).unwrap();
    let exact: f64 = x.iter().map(|&v| v as f64).sum();
    assert!(
        (sum[[]] as f64 - exact).abs() <= exact * 1e-7,
        "{} vs {exact}",
        sum[[]]
    );
    let naive: f32 = x.iter().sum();
    assert!(
        (naive as f64 - exact).abs() > exact * 1e-4,
        "the naive sum should be visibly off"
    );
    let mean = einplan::reduce(&x, "n ->", einplan::Reduction::Mean, &[]).unwrap();
    assert!((mean[[]] as f64 - 0.1).abs() < 1e-7);
}

#[test]
fn reductions_by_type() {
    use einplan::{ErrorKind, Reduction};
    let ints = ndarray::arr2(&[[1i32, 2], [3, 4]]);
    let e = einplan::reduce(&ints, "a b -> a", Reduction::Mean, &[]).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::UnsupportedReduction {
                reduction: Reduction::Mean,
                ..
            }
        ),
        "{e}"
    );
    let bools = ndarray::arr2(&[[true, false], [true, true]]);
    let any = einplan::reduce(&bools, "a b -> a", Reduction::Any, &[]).unwrap();
    let all = einplan::reduce(&bools, "a b -> a", Reduction::All, &[]).unwrap();
    assert_eq!(
        (any.to_vec_lossless(), all.to_vec_lossless()),
        (vec![true, true], vec![false, true])
    );
    assert!(einplan::reduce(&bools, "a b -> a", Reduction::Sum, &[]).is_err());
    let empty = ndarray::Array2::<f32>::zeros((2, 0));
    let e = einplan::reduce(&empty, "a b -> a", Reduction::Max, &[]).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::EmptyReduction { .. }));
    let s = einplan::reduce(&empty, "a b -> a", Reduction::Sum, &[]).unwrap();
    assert_eq!(s.to_vec_lossless(), vec![0.0, 0.0]);
}

trait ToVec<A> {
    fn to_vec_lossless(&self) -> Vec<A>;
}
impl<A: Clone> ToVec<A> for ndarray::ArrayD<A> {
    fn to_vec_lossless(&self) -> Vec<A> {
        self.iter().cloned().collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// `f32` matrix products wide enough for einplan's own kernel (at
    /// least 128 columns), in both orientations and through groups
    /// (patterns 0, 1 and 3; 2 and 4 have no contiguous rows to read and
    /// go to matrixmultiply), with operands in any layout, equal the
    /// oracle's. Small integers keep
    /// every sum exact, so the comparison is exact too.
    #[test]
    fn f32_products_equal_the_oracle(
        which in 0usize..5,
        (m, k) in (1usize..14, 1usize..20),
        n in 120usize..200,
        g in 1usize..4,
        flips in prop::collection::vec(any::<bool>(), 4),
        seed in 0u64..1000,
    ) {
        let (pattern, a_shape, b_shape): (&str, Vec<usize>, Vec<usize>) = match which {
            0 => ("i k, k j -> i j", vec![m, k], vec![k, n]),
            1 => ("k i, k j -> j i", vec![k, m], vec![k, n]),
            2 => ("j k, i k -> i j", vec![n, k], vec![m, k]),
            3 => ("(g ci) n, g co ci -> (g co) n", vec![g * k, n], vec![g, m, k]),
            _ => ("b c, o c -> b o", vec![n, k], vec![m, k]),
        };
        let make = |shape: &[usize], salt: u64| {
            let len: usize = shape.iter().product();
            let data = (0..len as u64).map(|i| ((i * 7919 + salt * 104729 + seed) % 9) as f32 - 4.0);
            ArrayD::from_shape_vec(IxDyn(shape), data.collect()).unwrap()
        };
        let (mut a, mut b) = (make(&a_shape, 1), make(&b_shape, 2));
        // Reversed axes: another layout (of other values, which the
        // oracle reads from the views too).
        let (mut a_view, mut b_view) = (a.view_mut(), b.view_mut());
        for (axis, &flip) in flips.iter().take(2).enumerate() {
            if flip && axis < a_view.ndim() {
                a_view.invert_axis(Axis(axis));
            }
        }
        for (axis, &flip) in flips.iter().skip(2).enumerate() {
            if flip && axis < b_view.ndim() {
                b_view.invert_axis(Axis(axis));
            }
        }
        let (ta, tb) = (compare::tensor(&a_view), compare::tensor(&b_view));
        let lengths = [("g", g)];
        let lengths: &[(&str, usize)] = if which == 3 { &lengths } else { &[] };
        let slow = oracle::einsum(pattern, &[ta, tb], lengths).unwrap();
        let op = lengths.iter().try_fold(einplan::Einsum::new(pattern).unwrap(), |op, &(n, l)| op.with(n, l)).unwrap();
        let fast: ArrayD<f32> = op.apply((&a_view.view(), &b_view.view())).unwrap();
        prop_assert!(compare::same_values(&fast, &slow), "{} {:?}", pattern, (m, k, n, g));
        // And into an output of any layout.
        let mut out = ArrayD::<f32>::from_elem(IxDyn(fast.shape()), f32::NAN);
        let mut view = out.view_mut();
        if flips[0] {
            view.invert_axis(Axis(0));
        }
        op.apply_into((&a_view.view(), &b_view.view()), &mut view).unwrap();
        prop_assert!(compare::same_values(&view, &slow), "{} into", pattern);
    }
}
