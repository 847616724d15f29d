//! The plan as a recipe of primitive tensor ops, einops' portability
//! trick: any tensor library with reshape, permute, a reduction along
//! axes, unsqueeze and broadcast can run any pattern with its own ops.

use std::fmt;

use crate::plan::Plan;

/// One primitive tensor operation of a [`Recipe`]. Axes are numbered from
/// 0 in the tensor the operation receives.
///
/// # Examples
///
/// ```
/// use einplan::{Primitive, Rearrange};
///
/// let plan = Rearrange::new("b (g c) -> b (c g)")?.with("g", 2)?.plan(&[1, 6])?;
/// assert_eq!(
///     plan.recipe().steps(),
///     [
///         Primitive::Reshape(vec![1, 2, 3]),
///         Primitive::Permute(vec![0, 2, 1]),
///         Primitive::Reshape(vec![1, 6]),
///     ]
/// );
/// # Ok::<(), einplan::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Primitive {
    /// Reshape to this shape in row-major order (the element count does
    /// not change): numpy's `reshape`, candle's `reshape`, ndarray's
    /// `into_shape_with_order`.
    Reshape(Vec<usize>),
    /// Reorder the axes: axis `k` of the result is axis `order[k]` of the
    /// input (numpy's `transpose`, ndarray's `permuted_axes`).
    Permute(Vec<usize>),
    /// Reduce these axes away (they are the last ones, in increasing
    /// order) with the operation's reduction: the result has that many
    /// fewer dimensions.
    Reduce(Vec<usize>),
    /// Insert axes of length 1 so that they end up at these positions of
    /// the result (increasing): numpy's `expand_dims`, candle's
    /// `unsqueeze` one position after another.
    InsertAxes(Vec<usize>),
    /// Broadcast axes of length 1 to these lengths (the rank does not
    /// change): a view with stride 0 where the library allows.
    Broadcast(Vec<usize>),
}

/// A [`Plan`] as a sequence of primitive tensor operations, in the order
/// *reshape → permute → reduce → insert axes → broadcast → reshape*, each
/// present only when it changes something.
///
/// # Contract
///
/// For an input of the plan's input shape, applying the steps one after
/// another, each on the result of the one before, gives exactly the
/// plan's result, element for element: the first `Reshape` splits the
/// input's dimensions into the pattern's elementary axes (row-major), the
/// `Permute` puts the output's axes in output order followed by the
/// reduced axes, `Reduce` folds those trailing axes with the operation's
/// reduction (for `reduce` plans only), `InsertAxes` and `Broadcast` add
/// the new axes of `repeat`, and the last `Reshape` merges neighbouring
/// axes into the output's dimensions. Reshapes are row-major, so a
/// library whose reshape needs contiguous data makes the permuted tensor
/// contiguous first (that is the copy a plan's view avoids when it can).
/// An empty recipe means the result is the input.
///
/// # Examples
///
/// ```
/// use einplan::{Primitive, Reduce, Reduction};
///
/// let plan = Reduce::new("b c (h 2) (w 2) -> b (c h w)", Reduction::Max)?.plan(&[1, 3, 4, 4])?;
/// let recipe = plan.recipe();
/// assert_eq!(recipe.steps()[0], Primitive::Reshape(vec![1, 3, 2, 2, 2, 2]));
/// assert_eq!(
///     recipe.to_string(),
///     "reshape [1, 3, 2, 2, 2, 2] → permute [0, 1, 2, 4, 3, 5] → reduce [4, 5] → reshape [1, 12]"
/// );
/// # Ok::<(), einplan::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Recipe {
    steps: Vec<Primitive>,
}

impl Recipe {
    /// The primitive operations, in the order they apply.
    ///
    /// # Examples
    ///
    /// ```
    /// let plan = einplan::Rearrange::new("a b -> a b")?.plan(&[2, 3])?;
    /// assert!(plan.recipe().steps().is_empty()); // nothing to do
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn steps(&self) -> &[Primitive] {
        &self.steps
    }
}

impl fmt::Display for Primitive {
    /// `reshape [2, 3]`, `permute [1, 0]`, `reduce [2]`, `insert axes
    /// [0]`, `broadcast [4, 3]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Primitive::Reshape(s) => write!(f, "reshape {s:?}"),
            Primitive::Permute(o) => write!(f, "permute {o:?}"),
            Primitive::Reduce(a) => write!(f, "reduce {a:?}"),
            Primitive::InsertAxes(a) => write!(f, "insert axes {a:?}"),
            Primitive::Broadcast(s) => write!(f, "broadcast {s:?}"),
        }
    }
}

impl fmt::Display for Recipe {
    /// The steps joined by ` → `; `identity` when there are none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return f.write_str("identity");
        }
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(" → ")?;
            }
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

impl Plan {
    /// The plan as primitive tensor operations; see [`Recipe`] for the
    /// contract.
    ///
    /// # Examples
    ///
    /// ```
    /// let plan = einplan::Repeat::new("h w -> h w c")?.with("c", 3)?.plan(&[2, 2])?;
    /// assert_eq!(plan.recipe().to_string(), "insert axes [2] → broadcast [2, 2, 3]");
    /// # Ok::<(), einplan::Error>(())
    /// ```
    pub fn recipe(&self) -> Recipe {
        let mut steps = Vec::new();
        // Split: each input dimension into its elementary axes.
        let order: Vec<usize> = self.input_dims().iter().flatten().copied().collect();
        let elementary: Vec<usize> = order.iter().map(|&a| self.axis_len(a)).collect();
        if elementary != self.input_shape() {
            steps.push(Primitive::Reshape(elementary));
        }
        // Permute: the kept input axes in output order, then the reduced.
        let position = |id: &usize| order.iter().position(|a| a == id);
        let kept_from: Vec<usize> = self.kept().iter().filter_map(position).collect();
        let perm: Vec<usize> = kept_from
            .iter()
            .copied()
            .chain(self.reduced_axes().iter().filter_map(position))
            .collect();
        if perm.iter().enumerate().any(|(k, &p)| k != p) {
            steps.push(Primitive::Permute(perm));
        }
        if !self.reduced_axes().is_empty() {
            let k = kept_from.len();
            steps.push(Primitive::Reduce(
                (k..k + self.reduced_axes().len()).collect(),
            ));
        }
        // New axes (repeat): length 1 where they go, then broadcast.
        let new: Vec<usize> = (0..self.kept().len())
            .filter(|&k| position(&self.kept()[k]).is_none())
            .collect();
        let kept_lens: Vec<usize> = self.kept_lens().to_vec();
        if !new.is_empty() {
            steps.push(Primitive::InsertAxes(new.clone()));
            if new.iter().any(|&k| kept_lens[k] != 1) {
                steps.push(Primitive::Broadcast(kept_lens.clone()));
            }
        }
        // Merge: neighbouring axes into the output's dimensions.
        if kept_lens != self.output_shape() {
            steps.push(Primitive::Reshape(self.output_shape().to_vec()));
        }
        Recipe { steps }
    }
}
