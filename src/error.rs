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
    ///
    /// # Examples
    ///
    /// ```
    /// use einplan::ErrorKind;
    ///
    /// let x = ndarray::Array2::<f32>::zeros((2, 3));
    /// let err = einplan::repeat(&x, "h w -> h w c", &[]).unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::MissingLength { name: "c".into() });
    /// ```
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// The pattern the error points into.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = einplan::Rearrange::new("a b -> a").unwrap_err();
    /// assert_eq!(err.pattern(), "a b -> a");
    /// ```
    pub fn pattern(&self) -> &str {
        &self.inner.pattern
    }

    /// The byte range of the offending part of [`Error::pattern`].
    ///
    /// The range may be empty (for example "expected `->`" at the end of
    /// the pattern); it never extends past the pattern.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = einplan::Rearrange::new("a b -> a").unwrap_err();
    /// // The axis missing from the output.
    /// assert_eq!(&err.pattern()[err.span()], "b");
    ///
    /// let err = einplan::Rearrange::new("a b").unwrap_err();
    /// // Where the `->` should be: the empty span at the end.
    /// assert_eq!(err.span(), 3..3);
    /// ```
    pub fn span(&self) -> Range<usize> {
        self.inner.span.range()
    }

    /// A second byte range, when the error involves two places: the first
    /// occurrence of a duplicated axis, or the other operand that gives an
    /// axis a different length.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = einplan::Rearrange::new("b h h -> b h").unwrap_err();
    /// assert_eq!(err.span(), 4..5); // the second `h`
    /// assert_eq!(err.aux_span(), Some(2..3)); // the first
    ///
    /// let err = einplan::Rearrange::new("a b -> a").unwrap_err();
    /// assert_eq!(err.aux_span(), None);
    /// ```
    pub fn aux_span(&self) -> Option<Range<usize>> {
        self.inner.aux.map(Span::range)
    }

    /// The pattern (or a window of it), a line of marks under the spans,
    /// and the message. Characters that would not show, or would reorder
    /// the line (controls, zero-width and bidirectional marks, combining
    /// marks), are written as `\u{…}` escapes; marks line up with what is
    /// shown, counting wide (CJK) characters as two columns.
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
        let shown = Shown::new(pattern);
        let (from, to) = shown.window(*span);
        let mut line = String::new();
        let mut marks: Vec<char> = Vec::new();
        if from > 0 {
            line.push('…');
            marks.push(' ');
        }
        let first = marks.len();
        for cell in &shown.cells[from..to] {
            line.push_str(&cell.text);
            marks.extend(std::iter::repeat_n(' ', cell.width));
        }
        if to < shown.cells.len() {
            line.push('…');
        }
        marks.push(' ');
        let mut mark = |span: Span, c: char| {
            let Some((start, end)) = shown.columns(span, from, to) else {
                return;
            };
            let end = end.max(start + 1);
            let range = (first + start).min(marks.len() - 1)..(first + end).min(marks.len());
            for slot in &mut marks[range] {
                *slot = c;
            }
        };
        if let Some(aux) = aux {
            mark(*aux, '-');
        }
        mark(*span, '^');
        let marks: String = marks.into_iter().collect();
        let message = escape_invisible(&kind.to_string());
        let mut out = format!("{}\n{}\nerror: {}", line, marks.trim_end(), message);
        if let (Some(_), Some(note)) = (aux, kind.aux_note()) {
            out.push_str("\nnote: ");
            out.push_str(note);
        }
        out
    }
}

/// The widest window of a long pattern shown in an error, in columns.
const WINDOW: usize = 80;
/// How many columns a window shows before the span.
const LEAD: usize = 24;

/// One character of the pattern as shown: its text, its width in
/// columns, and its byte offset in the pattern.
struct Cell {
    text: String,
    width: usize,
    at: usize,
}

/// A pattern as shown in an error: one cell per character.
struct Shown {
    cells: Vec<Cell>,
    len: usize,
}

impl Shown {
    fn new(pattern: &str) -> Shown {
        let cells = pattern
            .char_indices()
            .map(|(at, c)| {
                let (text, width) = if c.is_whitespace() {
                    (" ".to_owned(), 1)
                } else if is_invisible(c) {
                    let text = c.escape_unicode().to_string();
                    let width = text.len();
                    (text, width)
                } else {
                    (c.to_string(), char_width(c))
                };
                Cell { text, width, at }
            })
            .collect();
        Shown {
            cells,
            len: pattern.len(),
        }
    }

    /// The index of the cell holding byte `at` (or the end).
    fn cell(&self, at: usize) -> usize {
        self.cells.partition_point(|c| c.at < at.min(self.len))
    }

    /// The cells to show: all of them if they fit in [`WINDOW`] columns,
    /// else a window that starts up to [`LEAD`] columns before `span`.
    fn window(&self, span: Span) -> (usize, usize) {
        let total: usize = self.cells.iter().map(|c| c.width).sum();
        if total <= WINDOW {
            return (0, self.cells.len());
        }
        let start = self.cell(span.start).min(self.cells.len());
        let mut from = start;
        let mut lead = 0;
        while from > 0 && lead + self.cells[from - 1].width <= LEAD {
            from -= 1;
            lead += self.cells[from].width;
        }
        let mut to = from;
        let mut width = 0;
        while to < self.cells.len() && width + self.cells[to].width <= WINDOW {
            width += self.cells[to].width;
            to += 1;
        }
        (from, to)
    }

    /// The columns of `span` counted from the start of cell `from`,
    /// clipped to the cells `from..to` that are shown; `None` if none of
    /// it is shown.
    fn columns(&self, span: Span, from: usize, to: usize) -> Option<(usize, usize)> {
        let (start, end) = (self.cell(span.start), self.cell(span.end));
        if (from > 0 && end.max(start + 1) <= from) || (to < self.cells.len() && start >= to) {
            return None;
        }
        let column = |cell: usize| -> usize {
            self.cells[from..cell.clamp(from, to)]
                .iter()
                .map(|c| c.width)
                .sum()
        };
        Some((column(start), column(end)))
    }
}

/// Whether `c` would not show, or would change how the rest of the line
/// shows: controls, format characters (zero-width and bidirectional marks,
/// the byte-order mark), combining marks, variation selectors, fillers,
/// private-use and unassigned planes.
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x0000..=0x001F
        | 0x007F..=0x009F
        | 0x00AD
        | 0x0300..=0x036F
        | 0x061C
        | 0x115F..=0x1160
        | 0x17B4..=0x17B5
        | 0x180B..=0x180F
        | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF
        | 0x200B..=0x200F
        | 0x2028..=0x202E
        | 0x2060..=0x206F
        | 0x20D0..=0x20FF
        | 0x3164
        | 0xE000..=0xF8FF
        | 0xFE00..=0xFE0F
        | 0xFE20..=0xFE2F
        | 0xFEFF
        | 0xFFF0..=0xFFFB
        | 0xE0000..=0x10FFFF)
}

/// `text` with every invisible character escaped (see [`is_invisible`]),
/// line breaks aside.
fn escape_invisible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_invisible(c) && c != '\n' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// The columns a visible character takes in a terminal: 2 for the wide
/// East Asian ranges (CJK ideographs, kana, hangul, full-width forms,
/// most emoji), 1 otherwise. A small table rather than a dependency: it
/// covers the scripts axis names are written in, and errors only need
/// their carets to line up.
fn char_width(c: char) -> usize {
    let wide = matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xA960..=0xA97F
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x2FFFD
        | 0x30000..=0x3FFFD);
    if wide { 2 } else { 1 }
}

/// The known lengths of a group of axes in an error: the axes (named, or
/// anonymous by their number) and the product of their lengths. Shown as
/// `b = 2` or `b * c = 6`, or as the bare number when no named axis is
/// known.
///
/// # Examples
///
/// ```
/// use einplan::ErrorKind;
///
/// let x = ndarray::Array2::<f32>::zeros((2, 5));
/// let err = einplan::rearrange(&x, "a (b c) -> a b c", &[("b", 2)]).unwrap_err();
/// let ErrorKind::NotDivisible { divisor, .. } = err.kind() else { panic!("{err}") };
/// assert_eq!((divisor.axes.as_slice(), divisor.product), (&["b".to_owned()][..], 2));
/// assert_eq!(divisor.to_string(), "b = 2");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownLengths {
    /// The axes of known length, in pattern order.
    pub axes: Vec<String>,
    /// The product of their lengths (1 for none).
    pub product: usize,
}

impl fmt::Display for KnownLengths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let anonymous = self.axes.len() == 1 && self.axes[0] == self.product.to_string();
        if self.axes.is_empty() || anonymous {
            write!(f, "{}", self.product)
        } else {
            write!(f, "{} = {}", self.axes.join(" * "), self.product)
        }
    }
}

/// "`a`", "`a` and `b`", "`a`, `b` and `c`" style: "`a` and `b` and `c`".
fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(" and ")
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
///
/// # Examples
///
/// ```
/// use einplan::{ErrorKind, Side};
///
/// // `w` is on the input side only: rearrange cannot drop it.
/// let err = einplan::Rearrange::new("b h w -> b h").unwrap_err();
/// let ErrorKind::OneSidedAxis { name, side, .. } = err.kind() else {
///     panic!("unexpected error: {err}");
/// };
/// assert_eq!((name.as_str(), *side), ("w", Side::Input));
/// assert_eq!(side.to_string(), "input");
/// ```
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
/// variants may be added in minor releases, so a `match` needs a `_` arm.
///
/// Match on it through [`Error::kind`] to react to one failure and pass on
/// the rest:
///
/// ```
/// use einplan::ErrorKind;
/// use ndarray::{Array2, ArrayD};
///
/// /// Splits `x`'s features into `heads` attention heads, or `None` if
/// /// they do not divide evenly.
/// fn split_heads(x: &Array2<f32>, heads: usize) -> Result<Option<ArrayD<f32>>, einplan::Error> {
///     match einplan::rearrange(x, "t (h d) -> h t d", &[("h", heads)]) {
///         Ok(y) => Ok(Some(y.into_owned())),
///         Err(e) if matches!(e.kind(), ErrorKind::NotDivisible { .. }) => Ok(None),
///         Err(e) => Err(e),
///     }
/// }
///
/// let x = Array2::<f32>::zeros((5, 12)); // 5 tokens, 12 features
/// assert_eq!(split_heads(&x, 3)?.unwrap().shape(), &[3, 5, 4]);
/// assert_eq!(split_heads(&x, 5)?, None);
///
/// // The fields say what did not fit.
/// let err = einplan::rearrange(&x, "t (h d) -> h t d", &[("h", 5)]).unwrap_err();
/// let ErrorKind::NotDivisible { dim, length, divisor } = err.kind() else {
///     panic!("unexpected error: {err}");
/// };
/// assert_eq!((*dim, *length, divisor.product), (1, 12, 5));
/// assert_eq!(divisor.to_string(), "h = 5");
///
/// // Another kind a caller may match on: the wrong number of dimensions.
/// let cube = ndarray::Array3::<f32>::zeros((2, 5, 12));
/// let err = einplan::rearrange(&cube, "t (h d) -> h t d", &[("h", 3)]).unwrap_err();
/// assert_eq!(
///     err.kind(),
///     &ErrorKind::RankMismatch { expected: 2, found: 3, at_least: false },
/// );
/// assert_eq!(err.kind().to_string(), "the pattern expects 2 input dimensions, the input has 3");
/// # Ok::<(), einplan::Error>(())
/// ```
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
    #[error("axis `{name}` appears only on the {side} side{}", one_sided_hint(op, *side))]
    OneSidedAxis {
        /// The axis name.
        name: String,
        /// The side it appears on.
        side: Side,
        /// The operation, such as "rearrange".
        op: &'static str,
    },
    /// An ellipsis on only one side: `"... a -> a"` in rearrange.
    #[error("`...` appears only on the {side} side{}", match (*op, side) { ("EinMix", _) => ": EinMix needs it on both sides or neither", (_, Side::Input) => one_sided_hint(op, *side), _ => "" })]
    OneSidedEllipsis {
        /// The side it appears on.
        side: Side,
        /// The operation, such as "rearrange".
        op: &'static str,
    },
    /// An anonymous axis the operation cannot give a meaning to:
    /// `"a b -> a b 2"` in rearrange.
    #[error("{op} does not accept the anonymous axis `{len}`{}", match (*op, side) { ("repeat", Side::Input) | ("reduce", Side::Output) => one_sided_hint(op, *side), ("an EinMix weight", _) => ": every weight axis is named", ("an EinMix bias", _) => ": every bias axis is a named output axis", _ => ": only `1` is allowed, for a unit axis" })]
    AnonymousAxis {
        /// The operation.
        op: &'static str,
        /// The axis length as written.
        len: usize,
        /// The side it is on.
        side: Side,
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
    #[error(
        "cannot infer the lengths of {} from one dimension: give all but one",
        quoted_list(names)
    )]
    Underdetermined {
        /// The axes of unknown length.
        names: Vec<String>,
    },
    /// An axis that only appears on the output side has no length:
    /// `repeat(x, "h w -> h w c", &[])`.
    #[error("axis `{name}` is new in the output, so its length must be given")]
    MissingLength {
        /// The axis name.
        name: String,
    },
    /// The input has the wrong number of dimensions.
    #[error("the pattern expects {}{expected} input {}, the input has {found}", if *.at_least { "at least " } else { "" }, if *expected == 1 { "dimension" } else { "dimensions" })]
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
        /// The known lengths of its group, shown as `b = 2` or `b * c = 6`.
        divisor: KnownLengths,
    },
    /// A dimension does not match the lengths the pattern gives it:
    /// shape `[2, 5]` with `"a (b c) -> a b c"`, `b = 2`, `c = 3`.
    #[error("input axis {dim} has length {length}, but the pattern says {expected}")]
    LengthMismatch {
        /// The input dimension.
        dim: usize,
        /// Its length.
        length: usize,
        /// What the pattern implies, shown as `b * c = 6` or a number.
        expected: KnownLengths,
    },
    /// The known lengths of a group multiply to 0, so the one unknown
    /// length cannot be inferred: shape `[6, 3]` with `"(a b) c -> a b c"`
    /// and `a = 0`.
    #[error(
        "cannot infer `{name}` from input axis {dim} of length {length}: the other lengths in its group multiply to 0 ({zero})"
    )]
    ZeroInGroup {
        /// The axis whose length is unknown.
        name: String,
        /// The input dimension.
        dim: usize,
        /// Its length.
        length: usize,
        /// The known lengths of its group, shown as `a = 0`.
        zero: KnownLengths,
    },
    /// A product of lengths overflows `usize`, or the result's shape is
    /// one no array can have (its non-zero lengths multiply past
    /// `isize::MAX`, even beside a length of 0).
    #[error("the lengths multiply to more than an array can hold")]
    Overflow,
    /// The result would need more memory than can be allocated: more than
    /// `isize::MAX` bytes, or more than the allocator gives.
    #[error(
        "the result needs {elements} elements of {element_size} bytes each, more than can be allocated"
    )]
    TooLarge {
        /// How many elements the result has.
        elements: usize,
        /// The size of one element in bytes.
        element_size: usize,
    },
    /// A pattern longer than the limit (see the crate docs, *Input
    /// safety*).
    #[error("the pattern is {len} bytes long; the limit is {limit}")]
    PatternTooLong {
        /// The pattern's length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// An input (or einsum operand) with more dimensions than the limit.
    #[error("the input has {found} dimensions; the limit is {limit}")]
    TooManyDimensions {
        /// How many dimensions it has.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// An einsum pattern with more operands than the limit.
    #[error("the pattern has {found} operands; the limit is {limit}")]
    TooManyOperands {
        /// How many operands it has.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// A number of operands other than the einsum pattern's.
    #[error("the pattern has {expected} operand{}, but {found} {} given", if *expected == 1 { "" } else { "s" }, if *found == 1 { "was" } else { "were" })]
    OperandCount {
        /// How many the pattern has.
        expected: usize,
        /// How many were given.
        found: usize,
    },
    /// One einsum axis with two lengths in two places (the other place is
    /// the second span).
    #[error("axis `{name}` has length {here} here, but {there} at the other place")]
    AxisLengths {
        /// The axis name.
        name: String,
        /// Its length here.
        here: usize,
        /// Its length at the other place.
        there: usize,
    },
    /// The dimensions an einsum `...` stands for differ between operands
    /// (the other place is the second span).
    #[error(
        "the dimensions `...` stands for differ: length {here} here, {there} at the other place"
    )]
    EllipsisLengths {
        /// The length here.
        here: usize,
        /// The length at the other place.
        there: usize,
    },
    /// The array given to `apply_into` does not have the result's shape.
    #[error("the output array has shape {found:?}, but the result has shape {expected:?}")]
    OutputShape {
        /// The result's shape.
        expected: Vec<usize>,
        /// The output array's shape.
        found: Vec<usize>,
    },
    /// The result has another number of dimensions than the rank type an
    /// op was given with `rank` (such as [`Rearrange::rank`]).
    ///
    /// [`Rearrange::rank`]: crate::Rearrange::rank
    #[error("the output has {found} {}, but the result type has {expected}", if *found == 1 { "dimension" } else { "dimensions" })]
    OutputRank {
        /// The rank type's number of dimensions.
        expected: usize,
        /// The output's.
        found: usize,
    },
    /// An empty list of inputs (the list variants, `pack`).
    #[error("{}", if *op == "pack" { "pack needs at least one input" } else { "the list of inputs is empty" })]
    NoInputs {
        /// The operation.
        op: &'static str,
    },
    /// An input of a list whose shape differs from the first one's.
    #[error("input {index} of the list has shape {shape:?}, input 0 has {first:?}")]
    ListShapes {
        /// The input's position in the list.
        index: usize,
        /// Its shape.
        shape: Vec<usize>,
        /// The first input's shape.
        first: Vec<usize>,
    },
    /// An input of `pack` whose axes outside `*` differ from the first's.
    #[error(
        "input {index} has shape {shape:?}, which disagrees with input 0's {first:?} outside `*`"
    )]
    PackShapes {
        /// The input's position.
        index: usize,
        /// Its shape.
        shape: Vec<usize>,
        /// The first input's shape.
        first: Vec<usize>,
    },
    /// A `pack` or `unpack` pattern without a `*`: `"a b"`, `""`.
    #[error("{op} needs one `*` in its pattern")]
    MissingStar {
        /// The operation.
        op: &'static str,
    },
    /// A second `*` in a `pack` or `unpack` pattern: `"* a *"` (the first
    /// is the second span).
    #[error("{op} takes exactly one `*`")]
    ExtraStar {
        /// The operation.
        op: &'static str,
    },
    /// `unpack`'s shapes do not add up to the packed axis.
    #[error("the packed shapes hold {total} elements along `*`, but the axis has length {length}")]
    UnpackSizes {
        /// The elements the shapes hold.
        total: usize,
        /// The packed axis' length.
        length: usize,
    },
    /// An `unpack` length below `-1`: `unpack(x, &[vec![-2]], "*")`.
    #[error("a packed length is {length}; the only negative length is -1, to infer")]
    NegativePackedLength {
        /// The length given.
        length: i64,
    },
    /// More than one `-1` among `unpack`'s packed shapes.
    #[error("only one packed length may be -1")]
    SeveralInferred,
    /// `unpack`'s `-1` cannot be inferred: the rest of the packed axis is
    /// not a multiple of the other lengths in its shape.
    #[error(
        "cannot infer the -1: the other packed shapes hold {total} elements along `*`, the axis has length {length}, and the rest must be a multiple of {multiple}"
    )]
    UnpackInfer {
        /// The elements the other shapes hold.
        total: usize,
        /// The packed axis' length.
        length: usize,
        /// The product of the known lengths in the shape with `-1`.
        multiple: usize,
    },
    /// A reduction the element type does not support: `Mean` on an
    /// integer array, `Sum` on `bool`.
    #[error("`{reduction}` is not defined for `{element}` elements{}", match reduction { crate::Reduction::Mean => ": convert the array to a float type first", crate::Reduction::Any | crate::Reduction::All => ": use an array of bool", _ => "" })]
    UnsupportedReduction {
        /// The reduction.
        reduction: crate::Reduction,
        /// The element type's name.
        element: &'static str,
    },
    /// `Min` or `Max` over zero elements, which has no value.
    #[error("cannot take the {reduction} of zero elements: the reduced axes have length 0")]
    EmptyReduction {
        /// The reduction.
        reduction: crate::Reduction,
    },
    /// An integer sum or product (of `reduce` or `einsum`) that does not
    /// fit the element type. einplan keeps the element type and refuses,
    /// where numpy would widen.
    #[error("the {operation} overflows `{element}`{}", match wider { Some(w) => format!(": convert the array to a wider type such as `{w}` first"), None => String::new() })]
    IntegerOverflow {
        /// "sum", "product" or "einsum".
        operation: &'static str,
        /// The element type's name.
        element: &'static str,
        /// A wider type that would hold more, if there is one.
        wider: Option<&'static str>,
    },
    /// An [`EinMix`](crate::EinMix) weight axis without a length:
    /// weight shape `"i o"` with only `i` given.
    #[error("the length of weight axis `{name}` must be given")]
    WeightLength {
        /// The axis name.
        name: String,
    },
    /// An [`EinMix`](crate::EinMix) weight axis on neither side of the
    /// pattern: `"b i -> b o"` with weight shape `"i o k"`.
    #[error("weight axis `{name}` is on neither side of the pattern")]
    WeightAxisUnused {
        /// The axis name.
        name: String,
    },
    /// An [`EinMix`](crate::EinMix) bias axis that is not an output axis:
    /// `"b i -> b o"` with bias shape `"i"`.
    #[error("bias axis `{name}` is not an output axis")]
    BiasAxisNotInOutput {
        /// The axis name.
        name: String,
    },
    /// An [`EinMix`](crate::EinMix) bias axis without a length.
    #[error("the length of bias axis `{name}` must be given")]
    BiasLength {
        /// The axis name.
        name: String,
    },
    /// An [`EinMix`](crate::EinMix) bias axis before the output's `...`:
    /// `"... i -> o ..."` with bias shape `"o"`.
    #[error("every bias axis must come after `...` in the output")]
    BiasBeforeEllipsis,
    /// An [`EinMix`](crate::EinMix) whose weight mixes no input elements
    /// (a weight axis of length 0 that the output lacks), so its initial
    /// range `1/sqrt(fan_in)` is undefined.
    #[error(
        "the weight mixes zero input elements into each output element (fan_in = 0), so its initial range is undefined"
    )]
    ZeroFanIn,
    /// [`EinMix::set_bias`](crate::EinMix::set_bias) on a layer built
    /// without a bias shape.
    #[error("this EinMix has no bias (its bias shape is None)")]
    NoBias,
    /// An [`EinMix`](crate::EinMix) weight or bias of the wrong shape.
    #[error("the {parameter} has shape {found:?}, but its shape pattern gives {expected:?}")]
    ParameterShape {
        /// "weight" or "bias".
        parameter: &'static str,
        /// The shape the pattern gives.
        expected: Vec<usize>,
        /// The array's shape.
        found: Vec<usize>,
    },
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
    /// Operands of different element types where one type is needed: an
    /// einsum of an `f32` and an `f64` candle tensor.
    #[error("the operands have different element types")]
    MixedElementTypes,
    /// An element type the operation does not take: einsum on `f16`
    /// candle tensors.
    #[error("{op} does not take `{element}` elements")]
    UnsupportedElementType {
        /// The operation.
        op: &'static str,
        /// The element type's name.
        element: &'static str,
    },
    /// candle failed while running a pattern on a tensor (the `candle`
    /// feature); candle's own error is inside.
    #[cfg(feature = "candle")]
    #[error("candle: {0}")]
    Candle(#[source] crate::candle::CandleError),
}

/// The hint for an axis or `...` on one side only, by operation and side.
fn one_sided_hint(op: &str, side: Side) -> &'static str {
    match (op, side) {
        ("reduce", Side::Output) => ": reduce cannot create axes",
        ("repeat", Side::Input) => ": repeat cannot remove axes",
        ("rearrange", Side::Input) => " (use reduce to remove axes)",
        ("rearrange", Side::Output) => " (use repeat to add axes)",
        ("einsum", Side::Output) => ": einsum cannot create axes",
        ("EinMix", Side::Output) => {
            " and not in the weight shape: EinMix output axes come from the input or the weight"
        }
        _ => "",
    }
}

impl ErrorKind {
    /// What the `-` marks, for errors with a second span.
    fn aux_note(&self) -> Option<&'static str> {
        match self {
            ErrorKind::DuplicateAxis { .. } | ErrorKind::DuplicateEllipsis => {
                Some("`-` marks its first occurrence")
            }
            ErrorKind::AxisLengths { .. }
            | ErrorKind::EllipsisLengths { .. }
            | ErrorKind::ExtraStar { .. } => Some("`-` marks the other place"),
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
