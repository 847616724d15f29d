//! The recipe contract: a plain interpreter of the primitive ops, written
//! with ndarray's own reshape, permute, sum, fold, insert_axis and
//! broadcast, gives the plan's result for random valid rearrange, reduce
//! and repeat patterns.

use einplan::{Primitive, Rearrange, Reduce, Reduction, Repeat};
use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;

const NAMES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];

#[derive(Clone, Copy, Debug)]
enum Op {
    Rearrange,
    Reduce(Reduction),
    Repeat,
}

/// A random pattern: input groups over axes `0..n`, output groups over
/// the kept axes plus new ones (`n..`), lengths of every axis.
#[derive(Clone, Debug)]
struct Case {
    op: Op,
    lens: Vec<usize>,
    input: Vec<Vec<usize>>,
    output: Vec<Vec<usize>>,
    given: Vec<usize>,
}

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

fn group(order: &[usize], cuts: &[bool]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, &a) in order.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if !cuts[i % cuts.len()] => g.push(a),
            _ => groups.push(vec![a]),
        }
    }
    groups
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=5, 0usize..5)
        .prop_flat_map(|(n, which)| {
            let new = if which == 4 { 1 + n % 2 } else { 0 };
            (
                Just(which),
                prop::collection::vec(0usize..=3, n + new),
                Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                Just((0..n + new).collect::<Vec<_>>()).prop_shuffle(),
                prop::collection::vec(any::<bool>(), n + new),
                prop::collection::vec(any::<bool>(), n + new),
                prop::collection::vec(any::<bool>(), n),
            )
        })
        .prop_map(|(which, lens, inp, out, cuts_in, cuts_out, drop)| {
            let n = inp.len();
            let op = match which {
                0 => Op::Rearrange,
                1 => Op::Reduce(Reduction::Sum),
                2 => Op::Reduce(Reduction::Max),
                3 => Op::Reduce(Reduction::Prod),
                _ => Op::Repeat,
            };
            let reducing = matches!(op, Op::Reduce(_));
            let kept: Vec<usize> = out
                .iter()
                .copied()
                .filter(|&a| !(reducing && a < n && drop[a]))
                .collect();
            // Max over zero elements has no value: keep reduced axes non-empty.
            let lens: Vec<usize> = lens
                .iter()
                .enumerate()
                .map(|(a, &l)| {
                    if reducing && a < n && drop[a] {
                        l.max(1)
                    } else {
                        l
                    }
                })
                .collect();
            let input = group(&inp, &cuts_in);
            let output = group(&kept, &cuts_out);
            let mut given: Vec<usize> = (n..lens.len()).collect();
            // Lengths of 0 leave nothing to infer from: give every axis of
            // a group.
            for g in input.iter().filter(|g| g.len() > 1) {
                given.extend(g.iter().copied());
            }
            Case {
                op,
                lens,
                input,
                output,
                given,
            }
        })
}

impl Case {
    fn pattern(&self) -> String {
        format!("{} -> {}", side(&self.input), side(&self.output))
    }

    fn input_shape(&self) -> Vec<usize> {
        self.input
            .iter()
            .map(|g| g.iter().map(|&a| self.lens[a]).product())
            .collect()
    }

    /// The plan and the result by einplan's own executors.
    fn run(&self, x: &ArrayD<i64>) -> (std::sync::Arc<einplan::Plan>, ArrayD<i64>) {
        let p = self.pattern();
        let given: Vec<(&str, usize)> = self
            .given
            .iter()
            .map(|&a| (NAMES[a], self.lens[a]))
            .collect();
        let shape = x.shape();
        match self.op {
            Op::Rearrange => {
                let op = given
                    .iter()
                    .try_fold(Rearrange::new(&p).unwrap(), |o, &(n, l)| o.with(n, l))
                    .unwrap();
                (op.plan(shape).unwrap(), op.apply(x).unwrap().into_owned())
            }
            Op::Repeat => {
                let op = given
                    .iter()
                    .try_fold(Repeat::new(&p).unwrap(), |o, &(n, l)| o.with(n, l))
                    .unwrap();
                (op.plan(shape).unwrap(), op.apply(x).unwrap().into_owned())
            }
            Op::Reduce(r) => {
                let op = given
                    .iter()
                    .try_fold(Reduce::new(&p, r).unwrap(), |o, &(n, l)| o.with(n, l))
                    .unwrap();
                (op.plan(shape).unwrap(), op.apply(x).unwrap())
            }
        }
    }
}

/// Runs a recipe with ndarray's own operations, one primitive at a time.
fn interpret(recipe: &[Primitive], x: &ArrayD<i64>, op: Op) -> ArrayD<i64> {
    let mut t = x.clone();
    for step in recipe {
        t = match step {
            Primitive::Reshape(shape) => t
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(shape))
                .expect("a reshape keeps the element count"),
            Primitive::Permute(order) => t.permuted_axes(IxDyn(order)),
            Primitive::Reduce(axes) => {
                for &a in axes.iter().rev() {
                    t = match op {
                        Op::Reduce(Reduction::Sum) => t.sum_axis(Axis(a)),
                        Op::Reduce(Reduction::Prod) => t.product_axis(Axis(a)),
                        Op::Reduce(Reduction::Max) => {
                            t.fold_axis(Axis(a), i64::MIN, |m, v| *m.max(v))
                        }
                        _ => unreachable!("only reduce plans reduce"),
                    };
                }
                t
            }
            Primitive::InsertAxes(at) => {
                for &p in at {
                    t.insert_axis_inplace(Axis(p));
                }
                t
            }
            Primitive::Broadcast(shape) => t
                .broadcast(IxDyn(shape))
                .expect("stretches length-1 axes")
                .to_owned(),
            other => panic!("unknown primitive {other}"),
        };
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn recipe_equals_plan(c in case()) {
        let shape = c.input_shape();
        let n: usize = shape.iter().product();
        // Values small enough that products of up to 3^5 elements fit.
        let x = ArrayD::from_shape_vec(IxDyn(&shape), (0..n as i64).map(|v| v % 3 - 1).collect()).unwrap();
        let (plan, want) = c.run(&x);
        let got = interpret(plan.recipe().steps(), &x, c.op);
        prop_assert_eq!(got, want, "{}\n{}", c.pattern(), plan);
    }
}

#[test]
fn recipes_of_known_patterns() {
    let shuffle = Rearrange::new("b (c1 c2) h w -> b (c2 c1) h w")
        .unwrap()
        .with("c1", 3)
        .unwrap();
    assert_eq!(
        shuffle.plan(&[2, 6, 4, 4]).unwrap().recipe().to_string(),
        "reshape [2, 3, 2, 4, 4] → permute [0, 2, 1, 3, 4] → reshape [2, 6, 4, 4]"
    );
    let tile = Repeat::new("h w -> (2 h) w 1").unwrap();
    assert_eq!(
        tile.plan(&[3, 4]).unwrap().recipe().to_string(),
        "insert axes [0] → broadcast [2, 3, 4] → reshape [6, 4, 1]"
    );
    let id = Rearrange::new("a b -> a b").unwrap();
    assert_eq!(id.plan(&[3, 4]).unwrap().recipe().to_string(), "identity");
}
