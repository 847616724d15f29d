//! The resolved form of a pattern: axes with identities, no shapes yet.
//!
//! Invariants, kept by [`resolve`](crate::resolve), the only producer:
//! - every `AxisId` in `input` and `output` indexes `axes`;
//! - no axis appears twice on one side;
//! - `Item::Ellipsis` appears at most once per side, and on the input side
//!   only as a lone, unparenthesised term;
//! - the per-operation rules hold (rearrange: the same axes on both sides;
//!   reduce: output axes ⊆ input axes; repeat: input axes ⊆ output axes).

use std::sync::Arc;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AxisName {
    /// A named axis; its name is the pattern's text at the axis' span.
    Named,
    /// An anonymous axis such as `2`; two `2`s are two different axes.
    Anon,
}

/// One elementary axis of a pattern.
#[derive(Clone, Debug)]
pub(crate) struct Axis {
    pub(crate) name: AxisName,
    /// Where the axis is first written (the input side when it is there);
    /// for a named axis, exactly its name.
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
    /// Whether it was written in parentheses (an ellipsis in parentheses
    /// merges into one dimension).
    pub(crate) parenthesised: bool,
}

impl Group {
    /// A lone `...`, which stands for several dimensions, not one.
    pub(crate) fn is_bare_ellipsis(&self) -> bool {
        !self.parenthesised && self.items.as_slice() == [Item::Ellipsis]
    }
}

/// A resolved pattern.
#[derive(Clone, Debug)]
pub(crate) struct Ir {
    /// The pattern text, shared with the plans made from it.
    pub(crate) pattern: Arc<str>,
    pub(crate) op: Op,
    pub(crate) axes: Vec<Axis>,
    /// The input's groups, then the output's.
    pub(crate) groups: Vec<Group>,
    /// How many of `groups` are the input's.
    pub(crate) inputs: usize,
    pub(crate) input_span: Span,
    pub(crate) output_span: Span,
    /// The span of the input side's `...`, if it has one.
    pub(crate) input_ellipsis: Option<Span>,
}

impl Ir {
    /// The input side's groups.
    pub(crate) fn input(&self) -> &[Group] {
        &self.groups[..self.inputs]
    }

    /// The output side's groups.
    pub(crate) fn output(&self) -> &[Group] {
        &self.groups[self.inputs..]
    }

    /// The name of axis `id`, or `None` for an anonymous axis.
    pub(crate) fn name(&self, id: usize) -> Option<&str> {
        let axis = &self.axes[id];
        match axis.name {
            AxisName::Named => self.pattern.get(axis.span.range()),
            AxisName::Anon => None,
        }
    }

    pub(crate) fn find(&self, name: &str) -> Option<AxisId> {
        (0..self.axes.len())
            .find(|&id| self.name(id) == Some(name))
            .map(AxisId)
    }

    pub(crate) fn whole(&self) -> Span {
        Span::new(0, self.pattern.len())
    }
}
