//! The crate's one error type and the caret renderer.

use std::fmt;
use std::ops::Range;

use crate::span::Span;

/// An error from compiling or applying a pattern.
///
/// Every error carries the pattern it came from and a byte span pointing at
/// the offending part, so its [`Display`](fmt::Display) output shows the
/// pattern with carets under that part, then the message:
///
/// ```
/// use ndarray::Array2;
///
/// let x = Array2::<f32>::zeros((2, 5));
/// let err = einplan::rearrange(&x, "a (b c) -> a b c", &[("b", 2)]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "a (b c) -> a b c\n  ^^^^^\n\
///      error: input axis 1 has length 5, which is not divisible by b = 2",
/// );
/// assert_eq!(err.span(), 2..7);
/// ```
///
/// Some errors also point at a second place, such as the first occurrence
/// of a duplicated axis. That place is marked with `-`:
///
/// ```
/// let err = einplan::Rearrange::new("b h h -> b h").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "b h h -> b h\n  - ^\n\
///      error: axis `h` appears twice on the input side\n\
///      note: `-` marks its first occurrence",
/// );
/// ```
///
/// The error is opaque apart from its accessors; match on [`Error::kind`]
/// to react to a particular failure.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    pattern: String,
    kind: ErrorKind,
    span: Span,
    aux: Option<Span>,
}

impl Error {
    pub(crate) fn new(pattern: &str, kind: ErrorKind, span: Span) -> Error {
        Error {
            inner: Box::new(Inner {
                pattern: pattern.to_owned(),
                kind,
                span,
                aux: None,
            }),
        }
    }

    pub(crate) fn with_aux(mut self, aux: Span) -> Error {
        self.inner.aux = Some(aux);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// The pattern the error points into.
    pub fn pattern(&self) -> &str {
        &self.inner.pattern
    }

    /// The byte range of the offending part of [`Error::pattern`].
    ///
    /// The range may be empty (for example "expected `->`" at the end of
    /// the pattern); it never extends past the pattern.
    pub fn span(&self) -> Range<usize> {
        self.inner.span.range()
    }

    /// A second byte range, when the error involves two places: the first
    /// occurrence of a duplicated axis, or the other operand that gives an
    /// axis a different length.
    pub fn aux_span(&self) -> Option<Range<usize>> {
        self.inner.aux.map(Span::range)
    }

    fn render(&self) -> String {
        let Inner {
            pattern,
            kind,
            span,
            aux,
        } = &*self.inner;
        // Errors about a layout alone have no pattern to point into.
        if pattern.is_empty() && kind.is_layout() {
            return format!("error: {kind}");
        }
        let line: String = pattern
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect();
        let mut marks: Vec<char> = vec![' '; line.chars().count() + 1];
        let mut mark = |span: Span, c: char| {
            let start = column(pattern, span.start);
            let width = column(pattern, span.end).saturating_sub(start).max(1);
            for slot in marks.iter_mut().skip(start).take(width) {
                *slot = c;
            }
        };
        if let Some(aux) = aux {
            mark(*aux, '-');
        }
        mark(*span, '^');
        let marks: String = marks.into_iter().collect();
        let mut out = format!("{}\n{}\nerror: {}", line, marks.trim_end(), kind);
        if let (Some(_), Some(note)) = (aux, kind.aux_note()) {
            out.push_str("\nnote: ");
            out.push_str(note);
        }
        out
    }
}

/// The column (in characters) of byte offset `at` in `pattern`.
fn column(pattern: &str, at: usize) -> usize {
    let at = at.min(pattern.len());
    pattern.char_indices().take_while(|&(i, _)| i < at).count()
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("pattern", &self.inner.pattern)
            .field("kind", &self.inner.kind)
            .field("span", &self.inner.span.range())
            .field("aux_span", &self.inner.aux.map(Span::range))
            .finish()
    }
}

/// Which side of a pattern something is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Side {
    /// The input side, left of `->`.
    Input,
    /// The output side, right of `->`.
    Output,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Input => "input",
            Side::Output => "output",
        })
    }
}

/// The kind of an [`Error`].
///
/// Each variant's documentation shows an input that triggers it. New
/// variants may be added in minor releases.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The pattern has no `->`: `"a b"`.
    #[error("expected `->` between the input and the output")]
    MissingArrow,
    /// The pattern has a second `->`: `"a -> b -> c"`.
    #[error("a pattern has only one `->`")]
    ExtraArrow,
    /// A `->` in a pattern that describes one side only, such as the
    /// pattern of `pack` or `parse_shape`: `"a * -> b"`.
    #[error("this pattern describes one side and takes no `->`")]
    UnexpectedArrow,
    /// A character that has no place in a pattern: `"a + b -> a b"`.
    #[error("unexpected character `{0}`")]
    UnexpectedChar(char),
    /// A `(` without its `)`: `"(a b -> a b"`.
    #[error("this `(` is never closed")]
    UnclosedGroup,
    /// A `)` without its `(`: `"a b) -> a b"`.
    #[error("this `)` has no matching `(`")]
    UnopenedGroup,
    /// A group inside a group: `"(a (b c)) -> a b c"`.
    #[error("groups cannot be nested")]
    NestedGroup,
    /// A malformed axis name: `"_a -> _a"`, `"2a -> 2a"`.
    #[error("invalid axis name `{name}`: {reason}")]
    InvalidName {
        /// The name as written.
        name: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// Dots other than an ellipsis: `"a .. -> a"`.
    #[error("dots are only allowed as an ellipsis `...`")]
    StrayDot,
    /// An anonymous axis of length zero: `"a -> a 0"`.
    #[error("an anonymous axis must have a positive length")]
    ZeroAnonymousAxis,
    /// A number too large for `usize`: `"a -> a 99999999999999999999999"`.
    #[error("the number `{0}` is too large")]
    NumberTooLarge(String),
    /// Two ellipses on one side: `"... a ... -> a"`.
    #[error("only one `...` is allowed on each side")]
    DuplicateEllipsis,
    /// An ellipsis in a group on the input side: `"(a ...) -> a ..."`.
    #[error("`...` cannot be inside a group on the input side")]
    EllipsisInInputGroup,
    /// A construct this operation does not accept: a `,` outside einsum,
    /// `*` outside pack, `_` outside parse_shape.
    #[error("{what} is not allowed in {op} patterns")]
    Unsupported {
        /// The construct, such as "`*`".
        what: &'static str,
        /// The operation, such as "rearrange".
        op: &'static str,
    },
    /// An axis named twice on one side: `"b h h -> b h"`.
    #[error("axis `{name}` appears twice on the {side} side")]
    DuplicateAxis {
        /// The axis name.
        name: String,
        /// The side it is repeated on.
        side: Side,
    },
    /// An axis on only one side where the operation needs it on both (or
    /// on the wrong side for reduce and repeat): `"a b -> a"` in rearrange.
    #[error("axis `{name}` appears only on the {side} side{hint}")]
    OneSidedAxis {
        /// The axis name.
        name: String,
        /// The side it appears on.
        side: Side,
        /// Extra explanation for the operation at hand.
        hint: &'static str,
    },
    /// An ellipsis on only one side: `"... a -> a"` in rearrange.
    #[error("`...` appears only on the {side} side{hint}")]
    OneSidedEllipsis {
        /// The side it appears on.
        side: Side,
        /// Extra explanation for the operation at hand.
        hint: &'static str,
    },
    /// An anonymous axis the operation cannot give a meaning to:
    /// `"a b -> a b 2"` in rearrange.
    #[error("{op} does not accept the anonymous axis `{len}`{hint}")]
    AnonymousAxis {
        /// The operation.
        op: &'static str,
        /// The axis length as written.
        len: usize,
        /// Extra explanation.
        hint: &'static str,
    },
    /// A length was given for an axis the pattern does not name:
    /// `rearrange(x, "a b -> b a", &[("c", 2)])`.
    #[error("a length is given for axis `{name}`, which the pattern does not use")]
    UnusedLength {
        /// The axis name.
        name: String,
    },
    /// The same axis length was given twice.
    #[error("the length of axis `{name}` is given twice")]
    DuplicateLength {
        /// The axis name.
        name: String,
    },
    /// A group with more than one axis of unknown length:
    /// `"(a b) -> a b"` with no lengths given.
    #[error("cannot infer the lengths of {names} from one dimension: give all but one")]
    Underdetermined {
        /// The axes of unknown length, formatted as "`a` and `b`".
        names: String,
    },
    /// An axis that only appears on the output side has no length:
    /// `repeat(x, "h w -> h w c", &[])`.
    #[error("axis `{name}` is new in the output, so its length must be given")]
    MissingLength {
        /// The axis name.
        name: String,
    },
    /// The input has the wrong number of dimensions.
    #[error("the pattern expects {}{expected} input dimensions, the input has {found}", if *.at_least { "at least " } else { "" })]
    RankMismatch {
        /// How many dimensions the pattern describes.
        expected: usize,
        /// How many the input has.
        found: usize,
        /// Whether the pattern has an ellipsis (so more are allowed).
        at_least: bool,
    },
    /// A dimension is not divisible by the known lengths of its group:
    /// shape `[2, 5]` with `"a (b c) -> a b c"` and `b = 2`.
    #[error("input axis {dim} has length {length}, which is not divisible by {divisor}")]
    NotDivisible {
        /// The input dimension.
        dim: usize,
        /// Its length.
        length: usize,
        /// The known part, such as "b = 2" or "b * c = 6".
        divisor: String,
    },
    /// A dimension does not match the lengths the pattern gives it:
    /// shape `[2, 5]` with `"a (b c) -> a b c"`, `b = 2`, `c = 3`.
    #[error("input axis {dim} has length {length}, but the pattern says {expected}")]
    LengthMismatch {
        /// The input dimension.
        dim: usize,
        /// Its length.
        length: usize,
        /// What the pattern implies, such as "b * c = 6".
        expected: String,
    },
    /// A product of lengths overflows `usize`, or an array would be larger
    /// than `isize::MAX` bytes.
    #[error("the lengths multiply to more than an array can hold")]
    Overflow,
    /// A reduction the element type does not support: `Mean` on an
    /// integer array, `Sum` on `bool`.
    #[error("`{reduction}` is not defined for `{element}` elements{hint}")]
    UnsupportedReduction {
        /// The reduction.
        reduction: crate::Reduction,
        /// The element type's name.
        element: &'static str,
        /// Extra explanation.
        hint: &'static str,
    },
    /// `Min` or `Max` over zero elements, which has no value.
    #[error("cannot take the {reduction} of zero elements: the reduced axes have length 0")]
    EmptyReduction {
        /// The reduction.
        reduction: crate::Reduction,
    },
    /// A resource limit was exceeded (see the crate docs, *Input safety*).
    #[error("{0}")]
    Limit(String),
    /// The inputs in a list, or the operands of one call, disagree.
    #[error("{0}")]
    Mismatch(String),
    /// A [`Layout`](crate::Layout) whose shape and strides have different
    /// numbers of dimensions, or more than einplan accepts:
    /// `Layout::new(&[2, 3], &[1], 0, 6)`.
    #[error(
        "a layout needs one stride per dimension (at most 64): the shape has {shape}, the strides {strides}"
    )]
    LayoutRank {
        /// The number of lengths.
        shape: usize,
        /// The number of strides.
        strides: usize,
    },
    /// A layout that reaches outside its buffer, or whose offsets overflow:
    /// `Layout::new(&[2, 3], &[3, 1], 1, 6)` (its last element would be
    /// element 6 of a buffer of 6).
    #[error(
        "a layout of shape {shape:?}, strides {strides:?} and offset {offset} does not fit a buffer of {buffer_len} elements"
    )]
    LayoutOutOfBounds {
        /// The layout's shape.
        shape: Vec<usize>,
        /// Its strides, in elements.
        strides: Vec<isize>,
        /// Its offset, in elements.
        offset: usize,
        /// The length of the buffer.
        buffer_len: usize,
    },
    /// A layout whose shape is not the shape the plan reads or writes:
    /// a plan for input `[2, 3]` given a layout of shape `[3, 2]`.
    #[error("the {side} layout has shape {found:?}, but the plan's {side} has shape {expected:?}")]
    LayoutShape {
        /// Which side of the plan.
        side: Side,
        /// The plan's shape.
        expected: Vec<usize>,
        /// The layout's shape.
        found: Vec<usize>,
    },
    /// An output layout in which two indices may name the same element, so
    /// a copy would write it twice: strides `[1, 1]` for shape `[2, 2]`,
    /// or a stride 0.
    #[error(
        "the output layout of shape {shape:?} and strides {strides:?} writes some elements more than once"
    )]
    OverlappingOutput {
        /// The layout's shape.
        shape: Vec<usize>,
        /// Its strides, in elements.
        strides: Vec<isize>,
    },
    /// A result that is not a view of its input, asked for as one: the
    /// merge of output dimension `dim` needs axes that do not lie one after
    /// another in memory, such as `(c2 c1)` in `b (c1 c2) h w -> b (c2 c1)
    /// h w`.
    #[error(
        "output axis {dim} merges `{axes}`, which do not lie one after another in memory: the result needs a copy"
    )]
    NeedsCopy {
        /// The output dimension.
        dim: usize,
        /// The elementary axes it merges, such as "c2 c1".
        axes: String,
    },
    /// A copy asked of a plan that reduces axes: use
    /// [`Plan::reduce_into`](crate::Plan::reduce_into).
    #[error("the plan reduces `{axes}`, which a copy or a view cannot do")]
    ReducesAxes {
        /// The reduced elementary axes, such as "h w".
        axes: String,
    },
    /// candle failed while running a pattern on a tensor (the `candle`
    /// feature); candle's own error is inside.
    #[cfg(feature = "candle")]
    #[error("candle: {0}")]
    Candle(#[source] crate::candle::CandleError),
}

impl ErrorKind {
    /// What the `-` marks, for errors with a second span.
    fn aux_note(&self) -> Option<&'static str> {
        match self {
            ErrorKind::DuplicateAxis { .. } | ErrorKind::DuplicateEllipsis => {
                Some("`-` marks its first occurrence")
            }
            ErrorKind::Mismatch(_) => Some("`-` marks the other place"),
            _ => None,
        }
    }
}

impl ErrorKind {
    /// Whether the error is about a [`Layout`](crate::Layout) as such,
    /// which may come with no pattern.
    fn is_layout(&self) -> bool {
        matches!(
            self,
            ErrorKind::LayoutRank { .. } | ErrorKind::LayoutOutOfBounds { .. }
        )
    }
}
