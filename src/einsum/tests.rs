use std::ops::{Range, RangeInclusive};
use std::sync::Arc;

use ndarray::{Array, ArrayD, ArrayViewD, Axis, IxDyn, Slice, array};
use proptest::prelude::*;

use super::reference::{self, Problem};
use super::schedule::{Kind, Lowering, Schedule, schedule, schedule_with};
use super::spec::Spec;
use super::{Einsum, einsum};
use crate::error::{ErrorKind, Side};

/// `0, 1, 2, …` in standard layout, as `i64`.
fn iota(shape: &[usize]) -> ArrayD<i64> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n as i64).collect()).unwrap()
}

/// The einsum of standard-layout operands of `shapes` holding `iota`s.
fn on_iotas(pattern: &str, shapes: &[&[usize]]) -> ArrayD<i64> {
    let xs: Vec<ArrayD<i64>> = shapes.iter().map(|s| iota(s)).collect();
    let views: Vec<ArrayViewD<'_, i64>> = xs.iter().map(|x| x.view()).collect();
    einsum(pattern, &views).unwrap()
}

fn plan(pattern: &str, lengths: &[(&str, usize)], shapes: &[&[usize]]) -> Schedule {
    let mut spec = Spec::new(pattern).unwrap();
    for &(name, len) in lengths {
        spec.set_length(name, len).unwrap();
    }
    schedule(&spec, shapes).unwrap()
}

type Failure = (ErrorKind, Range<usize>, Option<Range<usize>>);

/// The error (kind, span, aux span) of `pattern` on zero operands of `shapes`.
fn fails(pattern: &str, lengths: &[(&str, usize)], shapes: &[&[usize]]) -> Failure {
    let xs: Vec<ArrayD<f64>> = shapes.iter().map(|s| ArrayD::zeros(IxDyn(s))).collect();
    let views: Vec<ArrayViewD<'_, f64>> = xs.iter().map(|x| x.view()).collect();
    let e = Einsum::new(pattern)
        .and_then(|op| lengths.iter().try_fold(op, |op, &(n, l)| op.with(n, l)))
        .and_then(|op| op.apply(&views))
        .unwrap_err();
    (e.kind().clone(), e.span(), e.aux_span())
}

fn kind(pattern: &str, shapes: &[&[usize]]) -> ErrorKind {
    fails(pattern, &[], shapes).0
}

#[test]
fn matrix_products_match_ndarray() {
    let a = iota(&[3, 4]).into_dimensionality::<ndarray::Ix2>().unwrap();
    let b = iota(&[4, 5]).into_dimensionality::<ndarray::Ix2>().unwrap();
    let ab = a.dot(&b).into_dyn();
    let (a, b) = (a.into_dyn(), b.into_dyn());
    assert_eq!(
        einsum("i j, j k -> i k", &[a.view(), b.view()]).unwrap(),
        ab
    );
    let abt = einsum("i j, j k -> k i", &[a.view(), b.view()]).unwrap();
    assert_eq!(abt, ab.t());
    // Transposed operands are strided views; the result is the same.
    let (at, bt) = (a.t(), b.t());
    assert_eq!(
        einsum("j i, k j -> i k", &[at.view(), bt.view()]).unwrap(),
        ab
    );
    // f32 and f64 go through matrixmultiply.
    let af = a.mapv(|v| v as f64);
    let bf = b.mapv(|v| v as f64);
    let abf = einsum("i j, j k -> i k", &[af.view(), bf.view()]).unwrap();
    assert_eq!(abf, ab.mapv(|v| v as f64));
    let a32 = a.mapv(|v| v as f32);
    let b32 = b.mapv(|v| v as f32);
    let ab32 = einsum("i j, j k -> i k", &[a32.view(), b32.view()]).unwrap();
    assert_eq!(ab32, ab.mapv(|v| v as f32));
}

/// Matrix-vector products in `f32` with rows long enough for the kernel
/// (`exec::gemm::mat_vec`): a matrix times a vector, a vector times a
/// transposed matrix (a linear layer on one sample), and a vector times
/// a matrix whose rows are not contiguous (ndarray's routine), all equal
/// the `i64` products.
#[test]
fn matrix_vector_products_in_f32() {
    let a = iota(&[7, 45]).mapv(|v| (v % 13) - 6);
    let x = iota(&[45]).mapv(|v| (v % 5) - 2);
    let w = einsum("i j, j -> i", &[a.view(), x.view()]).unwrap();
    let (a32, x32) = (a.mapv(|v| v as f32), x.mapv(|v| v as f32));
    let x_row = x32.clone().insert_axis(Axis(0));
    for (pattern, operands) in [
        ("i j, j -> i", [a32.view(), x32.view()]),
        ("j, i j -> i", [x32.view(), a32.view()]),
        ("j i, j -> i", [a32.t().into_dyn(), x32.view()]),
    ] {
        let got = einsum(pattern, &operands).unwrap();
        assert_eq!(got, w.mapv(|v| v as f32), "{pattern}");
    }
    let got = einsum("b j, i j -> b i", &[x_row.view(), a32.view()]).unwrap();
    assert_eq!(got, w.mapv(|v| v as f32).insert_axis(Axis(0)));
}

#[test]
fn diagonals_and_traces() {
    let x = iota(&[3, 3]);
    assert_eq!(einsum("i i ->", &[x.view()]).unwrap()[[]], 12);
    assert_eq!(
        einsum("i i -> i", &[x.view()]).unwrap(),
        array![0, 4, 8].into_dyn()
    );
    let y = on_iotas("b i i -> b i", &[&[2, 2, 2]]);
    assert_eq!(y, array![[0, 3], [4, 7]].into_dyn());
    assert_eq!(
        on_iotas("i i i -> i", &[&[2, 2, 2]]),
        array![0, 7].into_dyn()
    );
    // The diagonal of a reversed operand.
    let mut r = iota(&[3, 3]);
    r.invert_axis(Axis(0));
    assert_eq!(
        einsum("i i -> i", &[r.view()]).unwrap(),
        array![6, 4, 2].into_dyn()
    );
    // A repeated axis inside a group is a diagonal too.
    let g = Einsum::new("(i i) -> i").unwrap().with("i", 2).unwrap();
    assert_eq!(
        g.apply(&[iota(&[4]).view()]).unwrap(),
        array![0, 3].into_dyn()
    );
}

#[test]
fn private_axes_are_summed_first() {
    // `b` only in the first operand, `c` only in the second.
    let y = on_iotas("a b, c -> a", &[&[2, 3], &[4]]);
    assert_eq!(y, array![3 * 6, 12 * 6].into_dyn());
    let s = plan("a b, c -> a", &[], &[&[2, 3], &[4]]);
    assert_eq!(s.operands[0].summed.as_slice(), [1]);
    assert_eq!(s.operands[1].summed.as_slice(), [0]);
}

#[test]
fn groups_on_both_sides() {
    // A grouped 1x1 convolution against a loop over groups.
    let (b, g, ci, co, h, w) = (2, 3, 2, 4, 2, 3);
    let x = iota(&[b, g * ci, h, w]);
    let k = iota(&[g, co, ci]).mapv(|v| v % 5 - 2);
    let op = Einsum::new("b (g ci) h w, g co ci -> b (g co) h w")
        .unwrap()
        .with("g", g)
        .unwrap();
    let y = op.apply(&[x.view(), k.view()]).unwrap();
    assert_eq!(y.shape(), &[b, g * co, h, w]);
    for ((bi, c, hi, wi), _) in Array::<u8, _>::zeros((b, g * co, h, w)).indexed_iter() {
        let (gi, o) = (c / co, c % co);
        let want: i64 = (0..ci)
            .map(|i| x[[bi, gi * ci + i, hi, wi]] * k[[gi, o, i]])
            .sum();
        assert_eq!(y[[bi, c, hi, wi]], want);
    }
    // `g` inferred from the weights, where it stands alone.
    let inferred = einsum(
        "b (g ci) h w, g co ci -> b (g co) h w",
        &[x.view(), k.view()],
    );
    assert_eq!(inferred.unwrap(), y);
}

#[test]
fn ellipses_align_right_and_sum_when_dropped() {
    // The second operand's `...` covers only the inner dimension.
    let y = on_iotas("... i, ... i -> ...", &[&[2, 3, 4], &[3, 4]]);
    let x = iota(&[2, 3, 4]);
    let z = iota(&[3, 4]);
    let want = ArrayD::from_shape_fn(IxDyn(&[2, 3]), |ix| {
        (0..4)
            .map(|i| x[[ix[0], ix[1], i]] * z[[ix[1], i]])
            .sum::<i64>()
    });
    assert_eq!(y, want);
    // No `...` in the output: its dimensions are summed.
    let s = on_iotas("... i -> i", &[&[2, 3, 4]]);
    assert_eq!(s, x.sum_axis(Axis(0)).sum_axis(Axis(0)));
    // `...` inside an output group merges its dimensions.
    let m = on_iotas("a ..., a ... -> (... a)", &[&[2, 3], &[2, 3]]);
    assert_eq!(m, array![0, 9, 1, 16, 4, 25].into_dyn());
}

#[test]
fn empty_and_scalar_operands() {
    let y = on_iotas("i j, j k -> i k", &[&[2, 0], &[0, 3]]);
    assert_eq!(y, ArrayD::<i64>::zeros(IxDyn(&[2, 3])));
    let y = on_iotas("i j -> i", &[&[0, 3]]);
    assert_eq!(y.shape(), &[0]);
    let two = ArrayD::from_elem(IxDyn(&[]), 2i64);
    assert_eq!(
        einsum("a, -> a", &[iota(&[3]).view(), two.view()]).unwrap(),
        array![0, 2, 4].into_dyn()
    );
    assert_eq!(einsum(" -> ", &[two.view()]).unwrap()[[]], 2);
    assert_eq!(einsum(", -> ", &[two.view(), two.view()]).unwrap()[[]], 4);
    // Units on both sides.
    let u = on_iotas("a 1 b, () b -> a () 1", &[&[2, 1, 3], &[1, 3]]);
    assert_eq!(
        u,
        array![5, 14]
            .into_dyn()
            .into_shape_with_order(vec![2, 1, 1])
            .unwrap()
    );
}

#[test]
fn three_operands_contract_smallest_first() {
    // (0, 1) gives a 2x2 intermediate, (1, 2) a 50x50 one.
    let shapes: &[&[usize]] = &[&[2, 50], &[50, 2], &[2, 50]];
    let s = plan("a b, b c, c d -> a d", &[], shapes);
    assert_eq!((s.steps[0].x, s.steps[0].y), (0, 1));
    let y = on_iotas("a b, b c, c d -> a d", shapes);
    let ab = on_iotas("a b, b c -> a c", &shapes[..2]);
    let cd = iota(shapes[2]);
    let want = einsum("a c, c d -> a d", &[ab.view(), cd.view()]).unwrap();
    assert_eq!(y, want);
}

#[test]
fn grouped_convolution_runs_on_views() {
    // No operand is copied: the rows are `(h w)`, the columns `co`, and
    // the loops `b` and `g`; the last step writes the output in place.
    let s = plan(
        "b (g ci) h w, g co ci -> b (g co) h w",
        &[("g", 3)],
        &[&[32, 240, 28, 28], &[3, 80, 80]],
    );
    assert_eq!(s.steps.len(), 1);
    let Kind::Gemm(g) = &s.steps[0].kind else {
        panic!("expected matrix products, got {:?}", s.steps[0].kind)
    };
    assert!(g.x.is_view() && g.y.is_view(), "{}\n{}", g.x, g.y);
    assert_eq!(g.loops.iter().map(|l| l.len).collect::<Vec<_>>(), [32, 3]);
    assert_eq!(g.out_dims.as_slice(), [32, 3, 80, 28 * 28]);
}

#[test]
fn small_or_elementwise_products_broadcast() {
    let s = plan("..., ... -> ...", &[], &[&[50, 40], &[50, 40]]);
    assert!(matches!(s.steps[0].kind, Kind::Broadcast { .. }));
    let s = plan("b i, b i -> b", &[], &[&[1000, 3], &[1000, 3]]);
    assert!(matches!(s.steps[0].kind, Kind::Broadcast { .. }));
    let s = plan("b i, b i -> b", &[], &[&[10, 300], &[10, 300]]);
    assert!(matches!(s.steps[0].kind, Kind::Gemm(_)));
    let s = plan("b i j, b j k -> b i k", &[], &[&[100, 4, 4], &[100, 4, 4]]);
    assert!(matches!(s.steps[0].kind, Kind::Broadcast { .. }));
    let s = plan("b i j, b j k -> b i k", &[], &[&[100, 8, 8], &[100, 8, 8]]);
    assert!(matches!(s.steps[0].kind, Kind::Gemm(_)));
    let y = on_iotas("b i, b i -> b", &[&[1000, 3], &[1000, 3]]);
    assert_eq!(y[[999]], (2997..3000).map(|v| v * v).sum::<i64>());
}

#[test]
fn operand_count_and_rank() {
    let (k, span, _) = fails("a b, b c -> a c", &[], &[&[2, 3]]);
    assert_eq!(
        k,
        ErrorKind::OperandCount {
            expected: 2,
            found: 1
        },
        "{k}"
    );
    assert_eq!(span, 0..8);
    let (k, span, _) = fails("a b, b c -> a c", &[], &[&[2, 3], &[3]]);
    assert_eq!(
        k,
        ErrorKind::RankMismatch {
            expected: 2,
            found: 1,
            at_least: false
        }
    );
    assert_eq!(span, 5..8);
    assert!(matches!(
        kind("a ... b -> a", &[&[2]]),
        ErrorKind::RankMismatch { at_least: true, .. }
    ));
}

#[test]
fn length_conflicts_point_at_both() {
    let f = fails("i j, j k -> i k", &[], &[&[2, 3], &[4, 2]]);
    assert!(
        matches!(
            f.0,
            ErrorKind::AxisLengths {
                here: 4,
                there: 3,
                ..
            }
        ),
        "{}",
        f.0
    );
    assert_eq!((f.1, f.2), (5..6, Some(2..3)));
    let f = fails("i i -> i", &[], &[&[2, 3]]);
    assert_eq!((f.1, f.2), (2..3, Some(0..1)));
    let f = fails("... a, ... a -> ...", &[], &[&[2, 3], &[4, 3]]);
    assert_eq!(f.0, ErrorKind::EllipsisLengths { here: 4, there: 2 });
    assert_eq!((f.1, f.2), (7..10, Some(0..3)));
    // Lone axes are fixed first; then the group does not fit them.
    let f = fails("(a b), b -> a", &[("a", 2)], &[&[6], &[4]]);
    assert!(matches!(
        f.0,
        ErrorKind::LengthMismatch {
            dim: 0,
            length: 6,
            ..
        }
    ));
    assert_eq!((f.1, f.2), (0..5, None));
    // A given length is not a place in the pattern.
    let f = fails("b i, i j -> b j", &[("i", 4)], &[&[2, 3], &[3, 2]]);
    assert!(matches!(
        f.0,
        ErrorKind::LengthMismatch {
            dim: 1,
            length: 3,
            ..
        }
    ));
    assert_eq!((f.1, f.2), (2..3, None));
}

#[test]
fn rendered_mismatch() {
    let x = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
    let y = ArrayD::<f32>::zeros(IxDyn(&[4, 2]));
    let e = einsum("i j, j k -> i k", &[x.view(), y.view()]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "i j, j k -> i k\n  -  ^\n\
         error: axis `j` has length 4 here, but 3 at the other place\n\
         note: `-` marks the other place"
    );
}

#[test]
fn group_lengths() {
    let f = fails("(a b) -> a b", &[("a", 4)], &[&[6]]);
    assert!(matches!(
        f.0,
        ErrorKind::NotDivisible {
            dim: 0,
            length: 6,
            ..
        }
    ));
    assert_eq!(f.1, 0..5);
    let f = fails("(a b) c -> a c", &[("a", 2), ("b", 2)], &[&[6, 2]]);
    assert!(matches!(f.0, ErrorKind::LengthMismatch { .. }));
    let f = fails("(a b) c, c d -> a b d", &[], &[&[6, 2], &[2, 3]]);
    assert_eq!(
        f.0,
        ErrorKind::Underdetermined {
            names: vec!["a".into(), "b".into()]
        }
    );
    assert_eq!(f.1, 0..5);
    assert!(matches!(
        kind("a () -> a", &[&[2, 3]]),
        ErrorKind::LengthMismatch { .. }
    ));
    // Lengths inferred in a chain: `b` from the second operand, then `a`.
    let y = on_iotas("(a b), b -> a", &[&[6], &[3]]);
    assert_eq!(y, array![5, 14].into_dyn());
}

#[test]
fn pattern_rules() {
    let k = |p: &str| Einsum::new(p).unwrap_err();
    let e = k("a b -> c");
    assert!(matches!(
        e.kind(),
        ErrorKind::OneSidedAxis {
            side: Side::Output,
            ..
        }
    ));
    assert_eq!(e.span(), 7..8);
    let e = k("a b -> a a");
    assert!(matches!(
        e.kind(),
        ErrorKind::DuplicateAxis {
            side: Side::Output,
            ..
        }
    ));
    assert_eq!((e.span(), e.aux_span()), (9..10, Some(7..8)));
    assert!(matches!(
        k("a * -> a").kind(),
        ErrorKind::Unsupported { what: "`*`", .. }
    ));
    // As in einops, `_` is an ordinary axis name in einsum.
    assert!(Einsum::new("a _ -> _ a").is_ok());
    assert!(matches!(
        k("a 2 -> a").kind(),
        ErrorKind::AnonymousAxis { len: 2, .. }
    ));
    assert!(matches!(
        k("a -> (a 3)").kind(),
        ErrorKind::AnonymousAxis { len: 3, .. }
    ));
    // With no `...` in the operands, an output `...` stands for no axes.
    assert!(Einsum::new("a -> a ...").is_ok());
    assert_eq!(k("(a ...) -> a").kind(), &ErrorKind::EllipsisInInputGroup);
    let e = k("... a ..., a -> a");
    assert_eq!(e.kind(), &ErrorKind::DuplicateEllipsis);
    assert_eq!((e.span(), e.aux_span()), (6..9, Some(0..3)));
    assert!(matches!(k("a b, b c").kind(), ErrorKind::MissingArrow));
    let e = Einsum::new("a b -> a").unwrap().with("z", 2).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::UnusedLength { .. }));
    let e = Einsum::new("(a b) -> a")
        .unwrap()
        .with("a", 2)
        .unwrap()
        .with("a", 2)
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::DuplicateLength { .. }));
    assert_eq!(e.span(), 1..2);
}

#[test]
fn limits() {
    let many = vec!["a"; 65].join(", ") + " -> a";
    let e = Einsum::new(&many).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::TooManyOperands {
                found: 65,
                limit: 64
            }
        ),
        "{e}"
    );
    let x = ArrayD::<f32>::zeros(IxDyn(&[1; 65]));
    assert!(matches!(
        kind("... -> ...", &[x.shape()]),
        ErrorKind::TooManyDimensions {
            found: 65,
            limit: 64
        }
    ));
    // Huge operands as stride-0 broadcasts: the output overflows, or is too
    // large to allocate. Neither aborts.
    let one = ArrayD::<f64>::zeros(IxDyn(&[1]));
    let huge = one.broadcast(IxDyn(&[1 << 40])).unwrap();
    let e = einsum("a, b -> a b", &[huge.view(), huge.view()]).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Overflow);
    let big = one.broadcast(IxDyn(&[1 << 31])).unwrap();
    let e = einsum("a, b -> a b", &[big.view(), big.view()]).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::TooLarge {
                element_size: 8,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn compiled_op_caches_and_clones() {
    let op = Einsum::new("i j, j k -> i k").unwrap();
    assert_eq!(format!("{op:?}"), r#"Einsum("i j, j k -> i k")"#);
    for n in 1..80 {
        let a = iota(&[2, n]);
        let b = iota(&[n, 3]);
        let y = op.apply(&[a.view(), b.view()]).unwrap();
        let want = reference::einsum(
            &Problem {
                lens: vec![2, n, 3],
                operands: vec![vec![vec![0], vec![1]], vec![vec![1], vec![2]]],
                output: vec![vec![0], vec![2]],
            },
            &[a.view(), b.view()],
        );
        assert_eq!(y, want);
    }
    let copy = op.clone();
    assert_eq!(copy.pattern(), op.pattern());
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Einsum>();
}

#[test]
fn one_einsum_many_threads() {
    let op = Arc::new(
        Einsum::new("b (g ci), g co ci -> b (g co)")
            .unwrap()
            .with("g", 2)
            .unwrap(),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let op = Arc::clone(&op);
            std::thread::spawn(move || {
                for i in 0..100usize {
                    // More shapes than the cache holds, so schedules are
                    // evicted and re-made under contention.
                    let (b, ci, co) = (1 + (t + i) % 3, 1 + i % 5, 1 + i % 17);
                    let x = iota(&[b, 2 * ci]);
                    let w = iota(&[2, co, ci]);
                    let y = op.apply(&[x.view(), w.view()]).unwrap();
                    let p = Problem {
                        lens: vec![b, 2, ci, co],
                        operands: vec![vec![vec![0], vec![1, 2]], vec![vec![1], vec![3], vec![2]]],
                        output: vec![vec![0], vec![1, 3]],
                    };
                    let want = reference::einsum(&p, &[x.view(), w.view()]);
                    assert_eq!(y, want, "thread {t} shapes b={b} ci={ci} co={co}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

// Property test: random einsums on random layouts equal the reference.

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// One operand as drawn: named axes (repeats allowed), where groups end,
/// and optionally a `...` (position, how many of the `...` axes it covers)
/// and a unit dimension (position).
#[derive(Clone, Debug)]
struct RawOperand {
    axes: Vec<usize>,
    cuts: Vec<bool>,
    ellipsis: Option<(usize, usize)>,
    unit: Option<usize>,
}

#[derive(Clone, Debug)]
struct RawCase {
    lens: Vec<usize>,
    named: usize,
    ellipsis: usize,
    operands: Vec<RawOperand>,
    out_order: Vec<usize>,
    out_count: usize,
    out_cuts: Vec<bool>,
    /// 0: no `...` in the output, 1: bare, 2: inside the first group.
    out_ellipsis: (u8, usize),
    give: Vec<bool>,
}

/// One side's dimension: a group of named axes, `...`, or a unit.
#[derive(Clone, Debug)]
enum Term {
    Group(Vec<usize>),
    Ellipsis,
    Unit,
}

#[derive(Clone, Debug)]
struct Case {
    pattern: String,
    problem: Problem,
    lengths: Vec<(&'static str, usize)>,
}

/// An operand's draw; `distinct` draws each named axis at most once (no
/// diagonals).
fn raw_operand(distinct: bool) -> impl Strategy<Value = RawOperand> {
    let axes = if distinct {
        (Just(vec![0usize, 1, 2, 3]).prop_shuffle(), 0usize..=4)
            .prop_map(|(order, n)| order[..n].to_vec())
            .boxed()
    } else {
        prop::collection::vec(0usize..4, 0..=4).boxed()
    };
    (
        axes,
        prop::collection::vec(any::<bool>(), 4),
        prop::option::weighted(0.3, (0usize..=4, 0usize..=2)),
        prop::option::weighted(0.1, 0usize..=4),
    )
        .prop_map(|(axes, cuts, ellipsis, unit)| RawOperand {
            axes,
            cuts,
            ellipsis,
            unit,
        })
}

/// A case's draw: axis lengths from `lens`, `named` named axes and
/// `operands` operands.
fn raw_case(
    lens: impl Strategy<Value = usize> + Clone + 'static,
    named: RangeInclusive<usize>,
    operands: RangeInclusive<usize>,
    distinct: bool,
) -> impl Strategy<Value = RawCase> {
    (
        prop::collection::vec(lens, 6),
        named,
        0usize..=2,
        prop::collection::vec(raw_operand(distinct), operands),
        Just((0..4).collect::<Vec<usize>>()).prop_shuffle(),
        0usize..=4,
        prop::collection::vec(any::<bool>(), 5),
        (0u8..3, 0usize..=4),
        prop::collection::vec(any::<bool>(), 4),
    )
        .prop_map(
            |(
                lens,
                named,
                ellipsis,
                operands,
                out_order,
                out_count,
                out_cuts,
                out_ellipsis,
                give,
            )| {
                RawCase {
                    lens,
                    named,
                    ellipsis,
                    operands,
                    out_order,
                    out_count,
                    out_cuts,
                    out_ellipsis,
                    give,
                }
            },
        )
}

/// Splits `axes` into groups, starting a new one where `cuts` says.
fn grouped(axes: &[usize], cuts: &[bool]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, &a) in axes.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if !cuts[i % cuts.len()] => g.push(a),
            _ => groups.push(vec![a]),
        }
    }
    groups
}

fn side(terms: &[Term]) -> String {
    let terms: Vec<String> = terms
        .iter()
        .map(|t| match t {
            Term::Group(g) if g.len() == 1 => NAMES[g[0]].to_owned(),
            Term::Group(g) => {
                let names: Vec<&str> = g.iter().map(|&a| NAMES[a]).collect();
                format!("({})", names.join(" "))
            }
            Term::Ellipsis => "...".to_owned(),
            Term::Unit => "1".to_owned(),
        })
        .collect();
    terms.join(" ")
}

impl RawCase {
    /// Interprets the draw as a valid einsum: pattern, reference problem
    /// and the lengths to give so that every group can be solved.
    fn build(&self) -> Case {
        let named = self.named;
        // Axis numbers: named `0..named`, then the `...` axes (numbered
        // 4.. in the draw, so their lengths do not depend on `named`).
        let covers: Vec<usize> = self
            .operands
            .iter()
            .filter_map(|o| o.ellipsis.map(|(_, c)| c.min(self.ellipsis)))
            .collect();
        let has_ellipsis = !covers.is_empty();
        let e = covers.iter().copied().max().unwrap_or(0);
        let mut lens: Vec<usize> = self.lens[..named].to_vec();
        lens.extend_from_slice(&self.lens[4..4 + e]);
        let ell_axes: Vec<usize> = (named..named + e).collect();

        let mut sides = Vec::new();
        let mut problem_ops = Vec::new();
        let mut lone: Vec<bool> = vec![false; named];
        let mut multi: Vec<Vec<usize>> = Vec::new();
        for o in &self.operands {
            let axes: Vec<usize> = o.axes.iter().copied().filter(|&a| a < named).collect();
            let mut terms: Vec<Term> = grouped(&axes, &o.cuts)
                .into_iter()
                .map(Term::Group)
                .collect();
            if let Some(at) = o.unit {
                terms.insert(at.min(terms.len()), Term::Unit);
            }
            if let Some((at, _)) = o.ellipsis {
                terms.insert(at.min(terms.len()), Term::Ellipsis);
            }
            let cover = o.ellipsis.map_or(0, |(_, c)| c.min(self.ellipsis));
            let mut dims = Vec::new();
            for t in &terms {
                match t {
                    Term::Group(g) => {
                        if let [a] = g.as_slice() {
                            lone[*a] = true;
                        } else {
                            multi.push(g.clone());
                        }
                        dims.push(g.clone());
                    }
                    Term::Unit => dims.push(Vec::new()),
                    Term::Ellipsis => {
                        dims.extend(ell_axes[e - cover..].iter().map(|&a| vec![a]));
                    }
                }
            }
            sides.push(side(&terms));
            problem_ops.push(dims);
        }

        // The output: some of the used named axes, and maybe `...`.
        let used: Vec<usize> = self
            .out_order
            .iter()
            .copied()
            .filter(|&a| a < named && problem_ops.iter().flatten().flatten().any(|&b| b == a))
            .collect();
        let chosen = &used[..self.out_count.min(used.len())];
        let mut terms: Vec<Term> = grouped(chosen, &self.out_cuts)
            .into_iter()
            .map(Term::Group)
            .collect();
        let (mode, at) = self.out_ellipsis;
        let mut out_dims: Vec<Vec<usize>> = Vec::new();
        let mut text_terms: Vec<String> = Vec::new();
        match mode {
            1 if has_ellipsis => terms.insert(at.min(terms.len()), Term::Ellipsis),
            _ => {}
        }
        for (i, t) in terms.iter().enumerate() {
            match t {
                Term::Group(g) if mode == 2 && has_ellipsis && i == 0 => {
                    let names: Vec<&str> = g.iter().map(|&a| NAMES[a]).collect();
                    text_terms.push(format!("(... {})", names.join(" ")));
                    out_dims.push(ell_axes.iter().chain(g).copied().collect());
                }
                Term::Group(g) => {
                    text_terms.push(side(std::slice::from_ref(t)));
                    out_dims.push(g.clone());
                }
                Term::Ellipsis => {
                    text_terms.push("...".to_owned());
                    out_dims.extend(ell_axes.iter().map(|&a| vec![a]));
                }
                Term::Unit => {}
            }
        }
        let pattern = format!("{} -> {}", sides.join(", "), text_terms.join(" "));
        // A drawn axis that no operand uses is not part of the einsum.
        for (a, len) in lens.iter_mut().enumerate().take(named) {
            if !problem_ops.iter().flatten().flatten().any(|&b| b == a) {
                *len = 1;
            }
        }

        // Lengths to give: the drawn ones, or every axis of a group when
        // the groups could not be solved with those (or a length is 0,
        // which divides nothing).
        let in_group = |a: usize| multi.iter().any(|g| g.contains(&a));
        let mut given: Vec<bool> = (0..named).map(|a| self.give[a] && in_group(a)).collect();
        if !solvable(&lone, &given, &multi) || lens.contains(&0) {
            given = (0..named).map(in_group).collect();
        }
        let lengths = (0..named)
            .filter(|&a| given[a])
            .map(|a| (NAMES[a], lens[a]))
            .collect();
        Case {
            pattern,
            problem: Problem {
                lens,
                operands: problem_ops,
                output: out_dims,
            },
            lengths,
        }
    }
}

/// Whether every axis of every group gets a length: given, alone in some
/// dimension, or the one unknown of a group.
fn solvable(lone: &[bool], given: &[bool], groups: &[Vec<usize>]) -> bool {
    let mut known: Vec<bool> = lone.iter().zip(given).map(|(l, g)| *l || *g).collect();
    loop {
        let mut progress = false;
        for g in groups {
            let unknown: Vec<usize> = g.iter().copied().filter(|&a| !known[a]).collect();
            if unknown.len() == 1 {
                known[unknown[0]] = true;
                progress = true;
            }
        }
        if !progress {
            return groups.iter().flatten().all(|&a| known[a]);
        }
    }
}

/// A layout: the order of the axes in memory, reversed axes, and steps.
#[derive(Clone, Debug)]
struct Layout {
    perm: Vec<usize>,
    flips: Vec<bool>,
    steps: Vec<usize>,
}

fn layout(ndim: usize) -> impl Strategy<Value = Layout> {
    (
        Just((0..ndim).collect::<Vec<_>>()).prop_shuffle(),
        prop::collection::vec(any::<bool>(), ndim),
        prop::collection::vec(1usize..=2, ndim),
    )
        .prop_map(|(perm, flips, steps)| Layout { perm, flips, steps })
}

/// A base array holding small values, stored in `l`'s axis order with
/// room for its steps.
fn stored(shape: &[usize], l: &Layout) -> ArrayD<i64> {
    let dims: Vec<usize> = l.perm.iter().map(|&d| shape[d] * l.steps[d]).collect();
    let n: usize = dims.iter().product();
    let values = (0..n as i64).map(|i| (i * 5 + 2) % 7 - 3).collect();
    ArrayD::from_shape_vec(IxDyn(&dims), values).unwrap()
}

/// The view of `base` with the logical shape: axes put back in order,
/// stepped and flipped.
fn strided<'a, A>(base: &'a ArrayD<A>, l: &Layout) -> ArrayViewD<'a, A> {
    let mut inverse = vec![0; l.perm.len()];
    for (i, &d) in l.perm.iter().enumerate() {
        inverse[d] = i;
    }
    let mut v = base.view().permuted_axes(IxDyn(&inverse));
    for d in 0..l.perm.len() {
        v.slice_axis_inplace(Axis(d), Slice::new(0, None, l.steps[d] as isize));
        if l.flips[d] {
            v.invert_axis(Axis(d));
        }
    }
    v
}

/// A case drawn by `raw` and a random layout for each operand.
fn with_layouts(raw: impl Strategy<Value = RawCase>) -> impl Strategy<Value = (Case, Vec<Layout>)> {
    raw.prop_flat_map(|raw| {
        let case = raw.build();
        let layouts: Vec<_> = case
            .problem
            .operands
            .iter()
            .map(|dims| layout(dims.len()))
            .collect();
        (Just(case), layouts)
    })
}

/// Checks einsum against the reference on `case` with `layouts`, for
/// `i64` (ndarray's generic matrix product) and `f64` (matrixmultiply),
/// and both ways of lowering looped products. The values are small, so
/// every result is exact.
fn check(case: &Case, layouts: &[Layout]) -> Result<(), TestCaseError> {
    let p = &case.problem;
    let bases: Vec<ArrayD<i64>> = p
        .operands
        .iter()
        .zip(layouts)
        .map(|(dims, l)| stored(&p.shape(dims), l))
        .collect();
    let views: Vec<ArrayViewD<'_, i64>> = bases
        .iter()
        .zip(layouts)
        .map(|(b, l)| strided(b, l))
        .collect();
    let want = reference::einsum(p, &views);
    let op = Einsum::new(&case.pattern).and_then(|op| {
        case.lengths
            .iter()
            .try_fold(op, |op, &(n, l)| op.with(n, l))
    });
    prop_assert!(op.is_ok(), "{}: {}", case.pattern, op.unwrap_err());
    let op = op.unwrap();
    let got = op.apply(&views);
    prop_assert!(got.is_ok(), "{}: {}", case.pattern, got.unwrap_err());
    prop_assert_eq!(got.unwrap(), want.clone(), "{}", case.pattern);
    // Floats on the same layouts: convert the stored arrays, not the views.
    let float_bases: Vec<ArrayD<f64>> = bases.iter().map(|b| b.mapv(|x| x as f64)).collect();
    let floats: Vec<ArrayViewD<'_, f64>> = float_bases
        .iter()
        .zip(layouts)
        .map(|(b, l)| strided(b, l))
        .collect();
    let got = op.apply(&floats).unwrap();
    prop_assert_eq!(got, want.mapv(|x| x as f64), "{}", case.pattern);
    if case.lengths.is_empty() {
        prop_assert_eq!(
            einsum(&case.pattern, &views).unwrap(),
            want.clone(),
            "{}",
            case.pattern
        );
    }
    // Every contraction as matrix products, and every one as broadcasts.
    let shapes: Vec<&[usize]> = views.iter().map(|v| v.shape()).collect();
    for lowering in [Lowering::Products, Lowering::Broadcast] {
        let s = schedule_with(&op.spec, &shapes, lowering).unwrap();
        let got = super::run::run(&op.spec, &s, &views).unwrap();
        prop_assert_eq!(&got, &want, "{} ({:?})", case.pattern, lowering);
        let got = super::run::run(&op.spec, &s, &floats).unwrap();
        prop_assert_eq!(
            got,
            want.mapv(|x| x as f64),
            "{} ({:?})",
            case.pattern,
            lowering
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Everything at once, lengths 0 to 3: diagonals, units, `...`,
    /// groups, private sums, empty axes.
    #[test]
    fn einsum_equals_reference((case, layouts) in with_layouts(
        raw_case(prop_oneof![1 => Just(0usize), 15 => 1usize..=3], 1..=4, 1..=3, false)
    )) {
        check(&case, &layouts)?;
    }

    /// Contractions large enough for matrix products, with loops around
    /// them and operands that are views or need copies.
    #[test]
    fn contractions_equal_reference((case, layouts) in with_layouts(
        raw_case(2usize..=5, 3..=4, 2..=3, true)
    )) {
        check(&case, &layouts)?;
    }
}
