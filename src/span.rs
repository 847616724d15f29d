//! Byte ranges into a pattern, shared by errors, the AST and the IR.

use std::fmt;
use std::ops::Range;

/// A half-open byte range `start..end` into the pattern text.
///
/// Spans are byte offsets (not characters), so slicing the pattern with a
/// span always lands on the text the user wrote. The error renderer turns
/// them into columns when it draws carets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Span {
    pub(crate) const fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    pub(crate) fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}
