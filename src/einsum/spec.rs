//! Syntax → [`Spec`]: an einsum pattern's axes with identities, checked
//! against the rules that need no shapes.
//!
//! Einsum's rules differ from rearrange's: an axis may appear in several
//! operands and more than once in one operand (a diagonal), input axes may
//! be missing from the output (they are summed), but every output axis must
//! come from an input and appear there once. `_` is a name like any other,
//! and a `...` in the output when no operand has one stands for no axes,
//! as in einops.

use rustc_hash::FxHashMap as HashMap;

use smallvec::SmallVec;

use crate::ast::{AtomKind, Expr, Term};
use crate::error::{Error, ErrorKind, Side};
use crate::parse::parse_pattern;
use crate::span::Span;

/// The operation name used in error messages.
const OP: &str = "einsum";

/// The most operands a pattern may have (numpy's limit too). Choosing the
/// contraction order takes time cubic in this.
pub(super) const MAX_OPERANDS: usize = 64;

/// A checked einsum pattern, not yet tied to any shapes.
#[derive(Clone, Debug)]
pub(super) struct Spec {
    pub(super) pattern: String,
    /// Every named axis, in order of first appearance in the inputs.
    pub(super) axes: Vec<NamedAxis>,
    pub(super) operands: Vec<Operand>,
    pub(super) output: Vec<Dim>,
    /// From the first operand's start to the last operand's end.
    pub(super) inputs_span: Span,
    pub(super) output_span: Span,
}

#[derive(Clone, Debug)]
pub(super) struct NamedAxis {
    pub(super) name: String,
    /// Its first occurrence.
    pub(super) span: Span,
    /// Its length, when the caller gives it.
    pub(super) len: Option<usize>,
}

/// One input operand as written.
#[derive(Clone, Debug)]
pub(super) struct Operand {
    pub(super) dims: Vec<Dim>,
    pub(super) span: Span,
    /// The span of its `...`, if it has one.
    pub(super) ellipsis: Option<Span>,
}

/// One dimension as written, or a bare `...` standing for several.
#[derive(Clone, Debug)]
pub(super) enum Dim {
    Ellipsis,
    /// A lone axis, a parenthesised group, or a unit (`1`, `()`), whose
    /// items are then empty.
    Group {
        items: SmallVec<[Item; 4]>,
        span: Span,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Item {
    /// An index into [`Spec::axes`], and where it is written.
    Axis(usize, Span),
    /// `...` inside an output group: all the ellipsis axes, merged.
    Ellipsis,
}

impl Operand {
    /// How many dimensions the operand has besides its `...`.
    pub(super) fn fixed_dims(&self) -> usize {
        self.dims.len() - usize::from(self.ellipsis.is_some())
    }
}

impl Spec {
    /// Parses and checks `pattern`.
    pub(super) fn new(pattern: &str) -> Result<Spec, Error> {
        let ast = parse_pattern(pattern)?;
        let err = |kind, span| Error::new(pattern, kind, span);
        if ast.inputs.len() > MAX_OPERANDS {
            let kind = ErrorKind::TooManyOperands {
                found: ast.inputs.len(),
                limit: MAX_OPERANDS,
            };
            let at = Span::new(ast.inputs[MAX_OPERANDS].span.start, ast.arrow.start);
            return Err(err(kind, at));
        }
        for expr in &ast.inputs {
            check_side(pattern, expr, Side::Input)?;
        }
        check_side(pattern, &ast.output, Side::Output)?;

        let mut axes: Vec<NamedAxis> = Vec::new();
        let mut by_name: HashMap<&str, usize> = HashMap::default();
        let mut operands = Vec::with_capacity(ast.inputs.len());
        for expr in &ast.inputs {
            let mut dims = Vec::with_capacity(expr.terms.len());
            let mut ellipsis = None;
            for term in &expr.terms {
                if let Term::Atom(atom) = term
                    && atom.kind == AtomKind::Ellipsis
                {
                    ellipsis = Some(atom.span);
                    dims.push(Dim::Ellipsis);
                    continue;
                }
                let mut items = SmallVec::new();
                for atom in term.atoms() {
                    if let Some(name) = axis_name(&atom.kind) {
                        let id = *by_name.entry(name).or_insert_with(|| {
                            axes.push(NamedAxis {
                                name: name.to_owned(),
                                span: atom.span,
                                len: None,
                            });
                            axes.len() - 1
                        });
                        items.push(Item::Axis(id, atom.span));
                    }
                }
                dims.push(Dim::Group {
                    items,
                    span: term.span(),
                });
            }
            operands.push(Operand {
                dims,
                span: expr.span,
                ellipsis,
            });
        }

        let mut output = Vec::with_capacity(ast.output.terms.len());
        for term in &ast.output.terms {
            let mut items = SmallVec::new();
            for atom in term.atoms() {
                match &atom.kind {
                    AtomKind::Name(_) | AtomKind::Skip => {
                        let name = axis_name(&atom.kind).unwrap_or_default();
                        let Some(&id) = by_name.get(name) else {
                            let kind = ErrorKind::OneSidedAxis {
                                name: name.to_owned(),
                                side: Side::Output,
                                op: OP,
                            };
                            return Err(err(kind, atom.span));
                        };
                        items.push(Item::Axis(id, atom.span));
                    }
                    // With no `...` in any operand, it stands for no axes
                    // (as in einops and numpy).
                    AtomKind::Ellipsis if matches!(term, Term::Atom(_)) => {}
                    AtomKind::Ellipsis => items.push(Item::Ellipsis),
                    // Units; the rest is rejected by `check_side`.
                    _ => {}
                }
            }
            output.push(match term {
                Term::Atom(atom) if atom.kind == AtomKind::Ellipsis => Dim::Ellipsis,
                _ => Dim::Group {
                    items,
                    span: term.span(),
                },
            });
        }

        let first = ast.inputs.first().map_or(Span::default(), |e| e.span);
        let last = ast.inputs.last().map_or(first, |e| e.span);
        Ok(Spec {
            pattern: pattern.to_owned(),
            axes,
            operands,
            output,
            inputs_span: Span::new(first.start, last.end),
            output_span: ast.output.span,
        })
    }

    /// Fixes the length of the axis called `name`.
    pub(super) fn set_length(&mut self, name: &str, len: usize) -> Result<(), Error> {
        let Some(axis) = self.axes.iter_mut().find(|a| a.name == name) else {
            let kind = ErrorKind::UnusedLength {
                name: name.to_owned(),
            };
            let whole = Span::new(0, self.pattern.len());
            return Err(Error::new(&self.pattern, kind, whole));
        };
        if axis.len.is_some() {
            let kind = ErrorKind::DuplicateLength {
                name: name.to_owned(),
            };
            return Err(Error::new(&self.pattern, kind, axis.span));
        }
        axis.len = Some(len);
        Ok(())
    }
}

/// Rules local to one operand or the output: constructs einsum does not
/// accept, ellipsis count and placement, and (output only) duplicates.
fn check_side(text: &str, expr: &Expr, side: Side) -> Result<(), Error> {
    let err = |kind, span| Error::new(text, kind, span);
    let mut seen: HashMap<&str, Span> = HashMap::default();
    let mut ellipsis: Option<Span> = None;
    for term in &expr.terms {
        let in_group = matches!(term, Term::Group { .. });
        for atom in term.atoms() {
            match &atom.kind {
                AtomKind::Star => {
                    let kind = ErrorKind::Unsupported {
                        what: "`*`",
                        op: OP,
                    };
                    return Err(err(kind, atom.span));
                }
                AtomKind::Number(1) => {}
                &AtomKind::Number(len) => {
                    let kind = ErrorKind::AnonymousAxis { op: OP, len, side };
                    return Err(err(kind, atom.span));
                }
                // Repeating an axis in one operand takes a diagonal.
                AtomKind::Name(_) | AtomKind::Skip if side == Side::Input => {}
                AtomKind::Name(_) | AtomKind::Skip => {
                    let name = axis_name(&atom.kind).unwrap_or_default();
                    if let Some(&first) = seen.get(name) {
                        let kind = ErrorKind::DuplicateAxis {
                            name: name.to_owned(),
                            side,
                        };
                        return Err(err(kind, atom.span).with_aux(first));
                    }
                    seen.insert(name, atom.span);
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
            }
        }
    }
    Ok(())
}

/// The name of an axis atom. In einsum, as in einops' einsum, `_` is an
/// ordinary axis name (elsewhere it means "skip this axis").
fn axis_name(kind: &AtomKind) -> Option<&str> {
    match kind {
        AtomKind::Name(name) => Some(name),
        AtomKind::Skip => Some("_"),
        _ => None,
    }
}
