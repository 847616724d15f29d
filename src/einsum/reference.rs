//! Einsum by its definition, the oracle for the tests: for every
//! assignment of every axis, multiply one element of each operand and add
//! the product into one element of the output. Slow, and obviously right.

use ndarray::{ArrayD, ArrayViewD, IxDyn, LinalgScalar};

/// An einsum written with axis numbers instead of a pattern.
#[derive(Clone, Debug)]
pub(super) struct Problem {
    /// The length of every axis.
    pub(super) lens: Vec<usize>,
    /// Each operand's dimensions, each a group of axes (outermost first);
    /// an empty group is a unit dimension.
    pub(super) operands: Vec<Vec<Vec<usize>>>,
    /// The output's dimensions, the same way.
    pub(super) output: Vec<Vec<usize>>,
}

impl Problem {
    /// The shape of dimensions `dims`.
    pub(super) fn shape(&self, dims: &[Vec<usize>]) -> Vec<usize> {
        let len = |g: &Vec<usize>| g.iter().map(|&a| self.lens[a]).product();
        dims.iter().map(len).collect()
    }
}

/// The index along a dimension made of `group` when axis `a` is at `at[a]`.
fn index(group: &[usize], lens: &[usize], at: &[usize]) -> usize {
    group.iter().fold(0, |acc, &a| acc * lens[a] + at[a])
}

/// The einsum of `operands` (of the shapes `p` implies).
pub(super) fn einsum<A: LinalgScalar>(p: &Problem, operands: &[ArrayViewD<'_, A>]) -> ArrayD<A> {
    let mut out = ArrayD::zeros(IxDyn(&p.shape(&p.output)));
    if p.lens.contains(&0) {
        return out;
    }
    let mut at = vec![0; p.lens.len()];
    loop {
        let mut product = A::one();
        for (dims, x) in p.operands.iter().zip(operands) {
            let i: Vec<usize> = dims.iter().map(|g| index(g, &p.lens, &at)).collect();
            product = product * x[IxDyn(&i)];
        }
        let o: Vec<usize> = p.output.iter().map(|g| index(g, &p.lens, &at)).collect();
        let slot = &mut out[IxDyn(&o)];
        *slot = *slot + product;
        // Next assignment, last axis fastest.
        let mut axis = at.len();
        loop {
            if axis == 0 {
                return out;
            }
            axis -= 1;
            at[axis] += 1;
            if at[axis] < p.lens[axis] {
                break;
            }
            at[axis] = 0;
        }
    }
}
