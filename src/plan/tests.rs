//! The planner on its own: length inference, the split into steps, the
//! view-or-copy decision, and the `Display` that explains a plan.

use super::*;
use crate::compiled::Compiled;

/// The plan of `pattern` for `op` with `lengths`, on an input of `shape`.
fn plan_of(
    op: Op,
    pattern: &str,
    lengths: &[(&str, usize)],
    shape: &[usize],
) -> Result<Plan, Error> {
    let mut c = Compiled::new(pattern, op)?;
    for &(name, len) in lengths {
        c = c.with(name, len)?;
    }
    c.plan(shape).map(|p| (*p).clone())
}

fn rearrange(pattern: &str, lengths: &[(&str, usize)], shape: &[usize]) -> Plan {
    plan_of(Op::Rearrange, pattern, lengths, shape).unwrap()
}

/// Every elementary axis with its length, as `Display` lists them.
fn axes(plan: &Plan) -> Vec<(String, usize)> {
    (0..plan.axis_count())
        .map(|a| (plan.axis_label(a).to_owned(), plan.axis_len(a)))
        .collect()
}

#[test]
fn infers_the_one_unknown_length_of_a_group() {
    let plan = rearrange("(a b) c -> a b c", &[("b", 2)], &[6, 3]);
    let want = [("a", 3), ("b", 2), ("c", 3)].map(|(n, l)| (n.to_owned(), l));
    assert_eq!(axes(&plan), want);
    assert_eq!(plan.output_shape(), &[3, 2, 3]);
    // An anonymous axis is a known length too.
    let plan = plan_of(Op::Reduce, "(h 2) w -> h w", &[], &[8, 3]).unwrap();
    assert_eq!(plan.output_shape(), &[4, 3]);
    // The ellipsis' dimensions take the input's lengths.
    let plan = rearrange("a ... -> ... a", &[], &[2, 3, 4]);
    assert_eq!(plan.output_shape(), &[3, 4, 2]);
}

#[test]
fn inference_errors_name_what_is_wrong() {
    let kind = |p: &str, l: &[(&str, usize)], s: &[usize]| {
        plan_of(Op::Rearrange, p, l, s).unwrap_err().kind().clone()
    };
    assert!(matches!(
        kind("(a b) c -> a b c", &[("b", 4)], &[6, 3]),
        ErrorKind::NotDivisible {
            dim: 0,
            length: 6,
            ..
        }
    ));
    assert!(matches!(
        kind("(a b) c -> a b c", &[("a", 2), ("b", 2)], &[6, 3]),
        ErrorKind::LengthMismatch {
            dim: 0,
            length: 6,
            ..
        }
    ));
    assert!(matches!(
        kind("(a b) c -> a b c", &[], &[6, 3]),
        ErrorKind::Underdetermined { .. }
    ));
    assert!(matches!(
        kind("a b -> b a", &[], &[6]),
        ErrorKind::RankMismatch {
            expected: 2,
            found: 1,
            at_least: false
        }
    ));
    assert!(matches!(
        kind("a b ... -> b a ...", &[], &[6]),
        ErrorKind::RankMismatch {
            expected: 2,
            found: 1,
            at_least: true
        }
    ));
}

#[test]
fn refuses_shapes_that_ndarray_cannot_hold() {
    // Empty, but the other length is past `isize::MAX`: not an array.
    let err = plan_of(Op::Repeat, "a -> a r", &[("r", usize::MAX)], &[0]).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Overflow);
    let err = plan_of(
        Op::Repeat,
        "a -> a r s",
        &[("r", 1 << 40), ("s", 1 << 40)],
        &[2],
    );
    assert_eq!(err.unwrap_err().kind(), &ErrorKind::Overflow);
    // Empty and representable: a plan.
    let plan = plan_of(Op::Repeat, "a -> a r", &[("r", 1 << 40)], &[0]).unwrap();
    assert_eq!(plan.output_shape(), &[0, 1 << 40]);
    assert!(!plan.is_view());
}

#[test]
fn splits_each_dimension_into_steps() {
    let plan = rearrange("(h h2) w -> h w h2", &[("h2", 2)], &[8, 3]);
    assert_eq!(
        plan.kept_steps(),
        &[
            Step::along(4, 0, 2),
            Step::along(3, 1, 1),
            Step::along(2, 0, 1)
        ]
    );
    assert_eq!(plan.output_groups(), &[(0, 1), (1, 2), (2, 3)]);
    // A new axis repeats: it reads no input dimension.
    let plan = plan_of(Op::Repeat, "h -> h c", &[("c", 3)], &[2]).unwrap();
    assert_eq!(
        plan.kept_steps(),
        &[Step::along(2, 0, 1), Step::broadcast(3)]
    );
    // Reduced axes follow the kept ones.
    let plan = plan_of(Op::Reduce, "b (h 2) -> b h", &[], &[3, 8]).unwrap();
    assert_eq!(plan.all_steps().len(), 3);
    assert_eq!(plan.all_steps()[2], Step::along(2, 1, 1));
}

#[test]
fn a_result_is_a_view_when_its_merges_are_free() {
    let view =
        |op, p: &str, l: &[(&str, usize)], s: &[usize]| plan_of(op, p, l, s).unwrap().is_view();
    use Op::{Rearrange as R, Reduce, Repeat};
    assert!(view(R, "b c h w -> b h w c", &[], &[2, 3, 4, 5]));
    assert!(view(R, "a b -> (a b)", &[], &[2, 3]));
    assert!(view(R, "(a b) -> a b", &[("a", 2)], &[6]));
    assert!(!view(R, "a b -> (b a)", &[], &[2, 3]));
    assert!(!view(R, "b (c1 c2) -> b (c2 c1)", &[("c1", 3)], &[2, 6]));
    // Unit axes never stand in a merge's way.
    assert!(view(R, "a b -> (b a)", &[], &[1, 3]));
    assert!(view(Repeat, "h w -> h w c", &[("c", 3)], &[2, 2]));
    assert!(!view(Repeat, "h w -> h (w 2)", &[], &[2, 2]));
    assert!(!view(Repeat, "h w -> h (2 w)", &[], &[1, 2]));
    assert!(!view(Reduce, "a b -> a", &[], &[2, 3]));
    // An empty result is always a fresh array.
    assert!(!view(R, "a b -> b a", &[], &[0, 3]));
}

#[test]
fn display_explains_the_plan() {
    let plan = rearrange(
        "b (c1 c2) h w -> b (c2 c1) h w",
        &[("c1", 3)],
        &[2, 6, 4, 4],
    );
    assert_eq!(
        plan.to_string(),
        "rearrange `b (c1 c2) h w -> b (c2 c1) h w` on input [2, 6, 4, 4]\n\
         \x20 axes:    b=2 c1=3 c2=2 h=4 w=4\n\
         \x20 split:   (b) (c1 c2) (h) (w)\n\
         \x20 permute: b c2 c1 h w\n\
         \x20 merge:   (b) (c2 c1) (h) (w) -> [2, 6, 4, 4]\n\
         \x20 recipe:  reshape [2, 3, 2, 4, 4] → permute [0, 2, 1, 3, 4] → reshape [2, 6, 4, 4]\n\
         \x20 result:  copy"
    );
    let plan = plan_of(Op::Reduce, "b (h 2) ... -> b h", &[], &[2, 4, 3]).unwrap();
    assert_eq!(
        plan.to_string(),
        "reduce `b (h 2) ... -> b h` on input [2, 4, 3]\n\
         \x20 axes:    b=2 h=2 2=2 ...0=3\n\
         \x20 split:   (b) (h 2) (...0)\n\
         \x20 permute: b h\n\
         \x20 reduce:  2 ...0\n\
         \x20 merge:   (b) (h) -> [2, 2]\n\
         \x20 recipe:  reshape [2, 2, 2, 3] → reduce [2, 3]\n\
         \x20 result:  copy"
    );
}
