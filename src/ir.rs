//! The resolved form of a pattern: axes with identities, no shapes yet.
//!
//! Invariants, kept by [`resolve`](crate::resolve), the only producer:
//! - every `AxisId` in `input` and `output` indexes `axes`;
//! - no axis appears twice on one side;
//! - `Item::Ellipsis` appears at most once per side, and on the input side
//!   only as a lone, unparenthesised term;
//! - the per-operation rules hold (rearrange: the same axes on both sides;
//!   reduce: output axes ⊆ input axes; repeat: input axes ⊆ output axes).

use smallvec::SmallVec;

use crate::span::Span;

/// An index into [`Ir::axes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct AxisId(pub(crate) usize);

/// The operation a pattern is resolved for; each has its own set rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Rearrange,
    Reduce,
    Repeat,
}

impl Op {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Rearrange => "rearrange",
            Op::Reduce => "reduce",
            Op::Repeat => "repeat",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AxisName {
    Named(String),
    /// An anonymous axis such as `2`; two `2`s are two different axes.
    Anon,
}

/// One elementary axis of a pattern.
#[derive(Clone, Debug)]
pub(crate) struct Axis {
    pub(crate) name: AxisName,
    /// Where the axis is first written (the input side when it is there).
    pub(crate) span: Span,
    /// Its length, when the pattern or the caller fixes it.
    pub(crate) len: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    Axis(AxisId),
    /// Stands for however many dimensions the ellipsis covers.
    Ellipsis,
}

/// One dimension as written (`b`, `(c1 c2)`, `()`, `1`), or `...`.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub(crate) items: SmallVec<[Item; 4]>,
    pub(crate) span: Span,
}

impl Group {
    /// A lone `...`, which stands for several dimensions, not one.
    pub(crate) fn is_bare_ellipsis(&self, parenthesised: bool) -> bool {
        !parenthesised && self.items.as_slice() == [Item::Ellipsis]
    }
}

/// A resolved pattern.
#[derive(Clone, Debug)]
pub(crate) struct Ir {
    pub(crate) pattern: String,
    pub(crate) op: Op,
    pub(crate) axes: Vec<Axis>,
    pub(crate) input: Vec<Group>,
    pub(crate) output: Vec<Group>,
    /// For each output group: whether it was written in parentheses (an
    /// ellipsis in parentheses merges into one dimension).
    pub(crate) output_parenthesised: Vec<bool>,
    pub(crate) input_span: Span,
    pub(crate) output_span: Span,
    /// The span of the input side's `...`, if it has one.
    pub(crate) input_ellipsis: Option<Span>,
}

impl Ir {
    pub(crate) fn find(&self, name: &str) -> Option<AxisId> {
        self.axes
            .iter()
            .position(|a| matches!(&a.name, AxisName::Named(n) if n == name))
            .map(AxisId)
    }

    pub(crate) fn whole(&self) -> Span {
        Span::new(0, self.pattern.len())
    }
}
