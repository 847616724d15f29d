//! The syntax of a pattern as written, with a byte span on every node.
//!
//! The AST knows nothing about operations or shapes: `a b -> a` parses
//! fine here and is rejected for rearrange later, in `resolve`. Printing an
//! AST with `Display` gives text that parses back to the same tree.
//!
//! A name is held as `N`: an owned `String` by default, or the `&str` it
//! is in the pattern when the AST does not outlive the text (compiling an
//! operation, which then copies no name).

use std::fmt;

use smallvec::SmallVec;

use crate::span::Span;

/// A whole pattern: one or more comma-separated inputs, `->`, one output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pattern<N = String> {
    /// Inline for one input (every operation but einsum).
    pub(crate) inputs: SmallVec<[Expr<N>; 1]>,
    pub(crate) arrow: Span,
    pub(crate) output: Expr<N>,
}

/// One side of a pattern (or one einsum operand): `b (c1 c2) h w`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expr<N = String> {
    pub(crate) terms: Vec<Term<N>>,
    pub(crate) span: Span,
}

/// One dimension as written: a lone atom, or a parenthesised group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Term<N = String> {
    Atom(Atom<N>),
    Group { atoms: Vec<Atom<N>>, span: Span },
}

/// The smallest unit of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Atom<N = String> {
    pub(crate) kind: AtomKind<N>,
    pub(crate) span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AtomKind<N = String> {
    /// A named axis: `b`, `c1`, `α`.
    Name(N),
    /// An anonymous axis of a given length: `2`, or `1` for a unit axis.
    Number(usize),
    /// `...`
    Ellipsis,
    /// `*` (pack and unpack only).
    Star,
    /// `_`, an axis to skip (parse_shape only).
    Skip,
}

impl<N> Term<N> {
    pub(crate) fn span(&self) -> Span {
        match self {
            Term::Atom(atom) => atom.span,
            Term::Group { span, .. } => *span,
        }
    }

    /// The atoms of this term, whether it is a group or not.
    pub(crate) fn atoms(&self) -> &[Atom<N>] {
        match self {
            Term::Atom(atom) => std::slice::from_ref(atom),
            Term::Group { atoms, .. } => atoms,
        }
    }
}

impl<N> Expr<N> {
    /// Every atom on this side, in order, looking inside groups.
    pub(crate) fn atoms(&self) -> impl Iterator<Item = &Atom<N>> {
        self.terms.iter().flat_map(Term::atoms)
    }
}

impl<N: Clone> Pattern<N> {
    /// This pattern with every span zeroed, to compare syntax alone.
    pub(crate) fn without_spans(&self) -> Pattern<N> {
        Pattern {
            inputs: self.inputs.iter().map(Expr::without_spans).collect(),
            arrow: Span::default(),
            output: self.output.without_spans(),
        }
    }
}

impl<N: Clone> Expr<N> {
    /// This expression with every span zeroed, to compare syntax alone.
    pub(crate) fn without_spans(&self) -> Expr<N> {
        let atom = |a: &Atom<N>| Atom {
            kind: a.kind.clone(),
            span: Span::default(),
        };
        let terms = self
            .terms
            .iter()
            .map(|t| match t {
                Term::Atom(a) => Term::Atom(atom(a)),
                Term::Group { atoms, .. } => Term::Group {
                    atoms: atoms.iter().map(atom).collect(),
                    span: Span::default(),
                },
            })
            .collect();
        Expr {
            terms,
            span: Span::default(),
        }
    }
}

impl<N: AsRef<str>> fmt::Display for Pattern<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, input) in self.inputs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{input}")?;
        }
        write!(f, " -> {}", self.output)
    }
}

impl<N: AsRef<str>> fmt::Display for Expr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, term) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{term}")?;
        }
        Ok(())
    }
}

impl<N: AsRef<str>> fmt::Display for Term<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Atom(atom) => write!(f, "{atom}"),
            Term::Group { atoms, .. } => {
                f.write_str("(")?;
                for (i, atom) in atoms.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{atom}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl<N: AsRef<str>> fmt::Display for Atom<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            AtomKind::Name(name) => f.write_str(name.as_ref()),
            AtomKind::Number(n) => write!(f, "{n}"),
            AtomKind::Ellipsis => f.write_str("..."),
            AtomKind::Star => f.write_str("*"),
            AtomKind::Skip => f.write_str("_"),
        }
    }
}
