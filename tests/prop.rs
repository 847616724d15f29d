//! Property tests: random valid rearrange patterns on random layouts.
//!
//! - the executor (view or copy path) equals the reference executor;
//! - rearranging by a pattern and then by its inverse gives the input back;
//! - a plan that says "view" really returns a view into the input.

use einplan::__private::reference_rearrange;
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};
use proptest::prelude::*;

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
    fn executor_equals_reference((c, l) in case().prop_flat_map(|c| {
        let nd = c.input.len();
        (Just(c), layout(nd))
    })) {
        let shape = c.input_shape();
        let (base, perm, flips, steps) = make(&shape, &l);
        let x = view(&base, &perm, &flips, &steps);
        prop_assert_eq!(x.shape(), &shape[..]);
        let pattern = c.pattern();
        let fast = einplan::rearrange(&x, &pattern, &c.lengths()).unwrap();
        let slow = reference_rearrange(&x, &pattern, &c.lengths()).unwrap();
        prop_assert_eq!(fast.view(), slow.view(), "{}", pattern);
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
