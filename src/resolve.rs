//! AST + operation → IR: the rules that need no shapes.
//!
//! Here a pattern is checked against what its operation means: duplicate
//! axes, axes on the wrong side, anonymous axes where they mean nothing,
//! ellipsis placement. Every error points into the pattern text.

use std::ops::Deref;
use std::sync::Arc;

use smallvec::SmallVec;

use crate::ast::{AtomKind, Expr, Pattern, Term};
use crate::error::{Error, ErrorKind, Side};
use crate::ir::{Axis, AxisId, AxisName, Group, Ir, Item, Op};
use crate::span::Span;

/// Resolves a parsed pattern for `op`.
pub(crate) fn resolve<N: Deref<Target = str>>(
    text: &str,
    ast: &Pattern<N>,
    op: Op,
) -> Result<Ir, Error> {
    let err = |kind, span| Error::new(text, kind, span);
    if let Some(second) = ast.inputs.get(1) {
        let what = "`,`";
        let kind = ErrorKind::Unsupported {
            what,
            op: op.name(),
        };
        let at = Span::new(ast.inputs[0].span.end, second.span.start);
        return Err(err(kind, at));
    }
    let lhs = &ast.inputs[0];
    let rhs = &ast.output;
    let input_ellipsis = check_side(text, lhs, Side::Input, op)?;
    let output_ellipsis = check_side(text, rhs, Side::Output, op)?;

    // A named axis' span is its name, so the names are `text[span]`:
    // looked up by a scan of the few axes, never copied.
    let atoms = lhs.atoms().count() + rhs.atoms().count();
    let mut axes: Vec<Axis> = Vec::with_capacity(atoms);
    let mut groups = Vec::with_capacity(lhs.terms.len() + rhs.terms.len());
    for term in &lhs.terms {
        // Filled in place: a group is too large to move cheaply.
        groups.push(Group {
            items: SmallVec::new(),
            span: term.span(),
            parenthesised: matches!(term, Term::Group { .. }),
        });
        let g = groups.len() - 1;
        let items = &mut groups[g].items;
        for atom in term.atoms() {
            match &atom.kind {
                AtomKind::Name(_) => {
                    items.push(Item::Axis(AxisId(axes.len())));
                    axes.push(Axis {
                        name: AxisName::Named,
                        span: atom.span,
                        len: None,
                    });
                }
                AtomKind::Number(1) => {}
                AtomKind::Number(n) => {
                    if op != Op::Reduce {
                        let kind = ErrorKind::AnonymousAxis {
                            op: op.name(),
                            len: *n,
                            side: Side::Input,
                        };
                        return Err(err(kind, atom.span));
                    }
                    items.push(Item::Axis(AxisId(axes.len())));
                    axes.push(Axis {
                        name: AxisName::Anon,
                        span: atom.span,
                        len: Some(*n),
                    });
                }
                AtomKind::Ellipsis => items.push(Item::Ellipsis),
                // Rejected by `check_side`.
                AtomKind::Star | AtomKind::Skip => {}
            }
        }
    }
    let inputs = groups.len();
    let input_axes = axes.len();
    // Which input axes the output names.
    let mut on_right: SmallVec<[bool; 16]> = SmallVec::from_elem(false, input_axes);

    for term in &rhs.terms {
        groups.push(Group {
            items: SmallVec::new(),
            span: term.span(),
            parenthesised: matches!(term, Term::Group { .. }),
        });
        let g = groups.len() - 1;
        let items = &mut groups[g].items;
        for atom in term.atoms() {
            match &atom.kind {
                AtomKind::Name(name) => {
                    let name = name.as_bytes();
                    let input = axes[..input_axes].iter().position(|a| {
                        a.name == AxisName::Named
                            && text
                                .as_bytes()
                                .get(a.span.range())
                                .is_some_and(|n| same_name(n, name))
                    });
                    if let Some(id) = input {
                        on_right[id] = true;
                        items.push(Item::Axis(AxisId(id)));
                        continue;
                    }
                    if op != Op::Repeat {
                        let kind = ErrorKind::OneSidedAxis {
                            name: text[atom.span.range()].to_owned(),
                            side: Side::Output,
                            op: op.name(),
                        };
                        return Err(err(kind, atom.span));
                    }
                    items.push(Item::Axis(AxisId(axes.len())));
                    axes.push(Axis {
                        name: AxisName::Named,
                        span: atom.span,
                        len: None,
                    });
                }
                AtomKind::Number(1) => {}
                AtomKind::Number(n) => {
                    if op != Op::Repeat {
                        let kind = ErrorKind::AnonymousAxis {
                            op: op.name(),
                            len: *n,
                            side: Side::Output,
                        };
                        return Err(err(kind, atom.span));
                    }
                    items.push(Item::Axis(AxisId(axes.len())));
                    axes.push(Axis {
                        name: AxisName::Anon,
                        span: atom.span,
                        len: Some(*n),
                    });
                }
                AtomKind::Ellipsis => items.push(Item::Ellipsis),
                // Rejected by `check_side`.
                AtomKind::Star | AtomKind::Skip => {}
            }
        }
    }

    // Input axes missing from the output: fine for reduce only. (An
    // anonymous input axis exists only for reduce.)
    if op != Op::Reduce
        && let Some(id) = on_right.iter().position(|&right| !right)
    {
        let span = axes[id].span;
        let kind = ErrorKind::OneSidedAxis {
            name: text[span.range()].to_owned(),
            side: Side::Input,
            op: op.name(),
        };
        return Err(err(kind, span));
    }

    match (input_ellipsis, output_ellipsis) {
        (None, Some(at)) => {
            let kind = ErrorKind::OneSidedEllipsis {
                side: Side::Output,
                op: op.name(),
            };
            return Err(err(kind, at));
        }
        (Some(at), None) if op != Op::Reduce => {
            let kind = ErrorKind::OneSidedEllipsis {
                side: Side::Input,
                op: op.name(),
            };
            return Err(err(kind, at));
        }
        _ => {}
    }

    Ok(Ir {
        pattern: Arc::from(text),
        op,
        axes,
        groups,
        inputs,
        input_span: lhs.span,
        output_span: rhs.span,
        input_ellipsis,
    })
}

/// Rules local to one side: constructs the operation does not accept,
/// duplicate names, ellipsis count and placement. Returns the span of the
/// side's ellipsis, if it has one.
fn check_side<N: Deref<Target = str>>(
    text: &str,
    expr: &Expr<N>,
    side: Side,
    op: Op,
) -> Result<Option<Span>, Error> {
    let err = |kind, span| Error::new(text, kind, span);
    // The names seen so far: a pattern has a handful, so a scan beats
    // hashing.
    let mut seen: SmallVec<[(&str, Span); 16]> = SmallVec::new();
    let mut ellipsis: Option<Span> = None;
    for term in &expr.terms {
        let in_group = matches!(term, Term::Group { .. });
        for atom in term.atoms() {
            match &atom.kind {
                AtomKind::Star => {
                    let kind = ErrorKind::Unsupported {
                        what: "`*`",
                        op: op.name(),
                    };
                    return Err(err(kind, atom.span));
                }
                AtomKind::Skip => {
                    let kind = ErrorKind::Unsupported {
                        what: "`_`",
                        op: op.name(),
                    };
                    return Err(err(kind, atom.span));
                }
                AtomKind::Name(name) => {
                    let name: &str = name;
                    if let Some(&(_, first)) = seen
                        .iter()
                        .find(|&&(n, _)| same_name(n.as_bytes(), name.as_bytes()))
                    {
                        let kind = ErrorKind::DuplicateAxis {
                            name: name.to_owned(),
                            side,
                        };
                        return Err(err(kind, atom.span).with_aux(first));
                    }
                    seen.push((name, atom.span));
                }
                AtomKind::Ellipsis => {
                    if let Some(first) = ellipsis {
                        return Err(err(ErrorKind::DuplicateEllipsis, atom.span).with_aux(first));
                    }
                    if in_group && side == Side::Input {
                        return Err(err(ErrorKind::EllipsisInInputGroup, atom.span));
                    }
                    ellipsis = Some(atom.span);
                }
                AtomKind::Number(_) => {}
            }
        }
    }
    Ok(ellipsis)
}

/// `a == b`, byte by byte: for names of a few bytes, faster than the
/// `memcmp` call that string equality makes.
fn same_name(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Records the use of axis `name` at `span`, or reports it as a duplicate
/// pointing at both uses.
pub(crate) fn first_use<'a, S: std::hash::BuildHasher>(
    text: &str,
    seen: &mut std::collections::HashMap<&'a str, Span, S>,
    name: &'a str,
    span: Span,
    side: Side,
) -> Result<(), Error> {
    if let Some(&first) = seen.get(name) {
        let kind = ErrorKind::DuplicateAxis {
            name: name.to_owned(),
            side,
        };
        return Err(Error::new(text, kind, span).with_aux(first));
    }
    seen.insert(name, span);
    Ok(())
}

/// Fixes the length of the axis called `name`.
pub(crate) fn set_length(ir: &mut Ir, name: &str, len: usize) -> Result<(), Error> {
    let Some(id) = ir.find(name) else {
        let kind = ErrorKind::UnusedLength {
            name: name.to_owned(),
        };
        return Err(Error::new(&ir.pattern, kind, ir.whole()));
    };
    let axis = &mut ir.axes[id.0];
    if axis.len.is_some() {
        let kind = ErrorKind::DuplicateLength {
            name: name.to_owned(),
        };
        return Err(Error::new(&ir.pattern, kind, axis.span));
    }
    axis.len = Some(len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_pattern;

    fn r(text: &str, op: Op) -> Result<Ir, (ErrorKind, std::ops::Range<usize>)> {
        let ast = parse_pattern(text).map_err(|e| (e.kind().clone(), e.span()))?;
        resolve(text, &ast, op).map_err(|e| (e.kind().clone(), e.span()))
    }

    fn kind(text: &str, op: Op) -> ErrorKind {
        r(text, op).unwrap_err().0
    }

    #[test]
    fn rearrange_ok() {
        let ir = r("b (c1 c2) h w -> b (c2 c1) h w", Op::Rearrange).unwrap();
        assert_eq!(ir.axes.len(), 5);
        assert_eq!(ir.input().len(), 4);
        assert_eq!(
            ir.output()[1].items.as_slice(),
            [Item::Axis(AxisId(2)), Item::Axis(AxisId(1))]
        );
    }

    #[test]
    fn unit_axes_are_empty_groups() {
        let ir = r("a () 1 (b 1) -> a b", Op::Rearrange).unwrap();
        assert!(ir.input()[1].items.is_empty());
        assert!(ir.input()[2].items.is_empty());
        assert_eq!(ir.input()[3].items.len(), 1);
    }

    #[test]
    fn duplicates_point_at_both() {
        let (k, span) = r("b h h -> b h", Op::Rearrange).unwrap_err();
        assert!(matches!(
            k,
            ErrorKind::DuplicateAxis {
                side: Side::Input,
                ..
            }
        ));
        assert_eq!(span, 4..5);
        let ast = parse_pattern("a -> a a").unwrap();
        let e = resolve("a -> a a", &ast, Op::Rearrange).unwrap_err();
        assert_eq!((e.span(), e.aux_span()), (7..8, Some(5..6)));
    }

    #[test]
    fn one_sided_axes() {
        assert_eq!(r("a b -> a", Op::Rearrange).unwrap_err().1, 2..3);
        assert_eq!(r("a -> a b", Op::Rearrange).unwrap_err().1, 7..8);
        assert!(r("a b -> a", Op::Reduce).is_ok());
        assert!(matches!(
            kind("a -> a b", Op::Reduce),
            ErrorKind::OneSidedAxis { .. }
        ));
        assert!(r("a -> a b", Op::Repeat).is_ok());
        assert!(matches!(
            kind("a b -> a", Op::Repeat),
            ErrorKind::OneSidedAxis { .. }
        ));
    }

    #[test]
    fn anonymous_axes_per_op() {
        assert!(matches!(
            kind("a 2 -> a", Op::Rearrange),
            ErrorKind::AnonymousAxis { len: 2, .. }
        ));
        assert!(matches!(
            kind("a -> a 2", Op::Rearrange),
            ErrorKind::AnonymousAxis { .. }
        ));
        assert!(r("(a 2) -> a", Op::Reduce).is_ok());
        assert!(matches!(
            kind("a -> (a 2)", Op::Reduce),
            ErrorKind::AnonymousAxis { .. }
        ));
        assert!(r("a -> (a 2)", Op::Repeat).is_ok());
        assert!(matches!(
            kind("(a 2) -> a", Op::Repeat),
            ErrorKind::AnonymousAxis { .. }
        ));
    }

    #[test]
    fn two_twos_are_different_axes() {
        let ir = r("(a 2) (b 2) -> a b", Op::Reduce).unwrap();
        assert_eq!(ir.axes.len(), 4);
    }

    #[test]
    fn ellipsis_rules() {
        assert!(r("... a -> a ...", Op::Rearrange).is_ok());
        assert!(r("a ... -> (a ...)", Op::Rearrange).is_ok());
        assert_eq!(
            kind("(a ...) -> a ...", Op::Rearrange),
            ErrorKind::EllipsisInInputGroup
        );
        assert!(matches!(
            kind("a ... -> a", Op::Rearrange),
            ErrorKind::OneSidedEllipsis {
                side: Side::Input,
                ..
            }
        ));
        assert!(r("a ... -> a", Op::Reduce).is_ok());
        assert!(matches!(
            kind("a -> a ...", Op::Reduce),
            ErrorKind::OneSidedEllipsis {
                side: Side::Output,
                ..
            }
        ));
        assert_eq!(
            r("... a ... -> a", Op::Reduce).unwrap_err(),
            (ErrorKind::DuplicateEllipsis, 6..9)
        );
    }

    #[test]
    fn foreign_constructs() {
        assert!(matches!(
            kind("a * -> a", Op::Rearrange),
            ErrorKind::Unsupported { what: "`*`", .. }
        ));
        assert!(matches!(
            kind("a _ -> a", Op::Reduce),
            ErrorKind::Unsupported { what: "`_`", .. }
        ));
        assert!(matches!(
            kind("a, b -> a b", Op::Rearrange),
            ErrorKind::Unsupported { what: "`,`", .. }
        ));
    }

    #[test]
    fn lengths() {
        let mut ir = r("(a b) -> a b", Op::Rearrange).unwrap();
        set_length(&mut ir, "a", 2).unwrap();
        let e = set_length(&mut ir, "a", 3).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::DuplicateLength { .. }));
        assert_eq!(e.span(), 1..2);
        let e = set_length(&mut ir, "z", 3).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::UnusedLength { .. }));
    }
}
