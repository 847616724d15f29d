//! Structured inputs shared by the fuzz targets: small random patterns
//! (or raw pattern text) with small tensors in random layouts.

use arbitrary::{Arbitrary, Result, Unstructured};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};

const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

/// A pattern with the lengths it needs and a tensor to run it on.
#[derive(Debug)]
pub struct Case {
    pub pattern: String,
    pub lengths: Vec<(String, usize)>,
    /// The tensor's logical shape; its data is 0, 1, 2, ... in logical order.
    pub shape: Vec<usize>,
    /// Storage order of the axes, flipped axes, steps.
    pub perm: Vec<usize>,
    pub flips: Vec<bool>,
    pub steps: Vec<usize>,
}

fn groups(u: &mut Unstructured<'_>, order: Vec<usize>) -> Result<Vec<Vec<usize>>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for a in order {
        match out.last_mut() {
            Some(g) if u.arbitrary::<bool>()? => g.push(a),
            _ => out.push(vec![a]),
        }
    }
    Ok(out)
}

fn shuffled(u: &mut Unstructured<'_>, n: usize) -> Result<Vec<usize>> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = u.int_in_range(0..=i)?;
        v.swap(i, j);
    }
    Ok(v)
}

fn side(groups: &[Vec<usize>]) -> String {
    let terms: Vec<String> = groups
        .iter()
        .map(|g| match g.as_slice() {
            [one] => NAMES[*one].to_owned(),
            many => {
                let names: Vec<&str> = many.iter().map(|&a| NAMES[a]).collect();
                format!("({})", names.join(" "))
            }
        })
        .collect();
    terms.join(" ")
}

impl Case {
    /// A random rearrange-like case; with `drop_output` some input axes
    /// are missing from the output (for reduce).
    pub fn generate(u: &mut Unstructured<'_>, drop_output: bool) -> Result<Case> {
        let n = u.int_in_range(1..=5)?;
        let lens: Vec<usize> = (0..n)
            .map(|_| u.int_in_range(0..=4))
            .collect::<Result<_>>()?;
        let in_order = shuffled(u, n)?;
        let input = groups(u, in_order)?;
        let mut out_order = shuffled(u, n)?;
        if drop_output {
            out_order.retain(|_| u.arbitrary::<bool>().unwrap_or(false));
        }
        let output = groups(u, out_order)?;
        let mut lengths = Vec::new();
        for g in &input {
            for (i, &a) in g.iter().enumerate() {
                if g.len() > 1 && (i + 1 < g.len() || u.arbitrary::<bool>()?) {
                    lengths.push((NAMES[a].to_owned(), lens[a]));
                }
            }
        }
        let mut pattern = format!("{} -> {}", side(&input), side(&output));
        // Sometimes mutate the text to reach the parser's error paths.
        if u.ratio(1, 8)? {
            let mut bytes = pattern.into_bytes();
            let at = u
                .choose_index(bytes.len().max(1))?
                .min(bytes.len().saturating_sub(1));
            if let Some(b) = bytes.get_mut(at) {
                *b = *u.choose(b"()->.,_ 12*ab")?;
            }
            pattern = String::from_utf8_lossy(&bytes).into_owned();
        }
        let shape: Vec<usize> = input
            .iter()
            .map(|g| g.iter().map(|&a| lens[a]).product())
            .collect();
        Case::with_layout(u, pattern, lengths, shape)
    }

    /// Raw pattern text on a small random tensor.
    pub fn raw(u: &mut Unstructured<'_>) -> Result<Case> {
        let pattern = String::arbitrary(u)?;
        let ndim = u.int_in_range(0..=4)?;
        let shape: Vec<usize> = (0..ndim)
            .map(|_| u.int_in_range(0..=4))
            .collect::<Result<_>>()?;
        let mut lengths = Vec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            let name = NAMES[u.choose_index(NAMES.len())?].to_owned();
            lengths.push((name, u.int_in_range(0..=6)?));
        }
        Case::with_layout(u, pattern, lengths, shape)
    }

    pub fn with_layout(
        u: &mut Unstructured<'_>,
        pattern: String,
        lengths: Vec<(String, usize)>,
        shape: Vec<usize>,
    ) -> Result<Case> {
        let nd = shape.len();
        let perm = shuffled(u, nd)?;
        let flips = (0..nd).map(|_| u.arbitrary()).collect::<Result<_>>()?;
        let steps = (0..nd)
            .map(|_| u.int_in_range(1..=2))
            .collect::<Result<_>>()?;
        Ok(Case {
            pattern,
            lengths,
            shape,
            perm,
            flips,
            steps,
        })
    }

    pub fn lengths(&self) -> Vec<(&str, usize)> {
        self.lengths.iter().map(|(n, l)| (n.as_str(), *l)).collect()
    }

    /// The storage: the logical shape (times steps) in permuted order.
    pub fn storage(&self) -> ArrayD<i64> {
        let stored: Vec<usize> = self
            .perm
            .iter()
            .map(|&d| self.shape[d] * self.steps[d])
            .collect();
        let n: usize = stored.iter().product();
        ArrayD::from_shape_vec(IxDyn(&stored), (0..n as i64).collect()).expect("sized to fit")
    }

    /// The logical view into `storage()`: permuted back, stepped, flipped.
    pub fn view<'a>(&self, storage: &'a ArrayD<i64>) -> ArrayViewD<'a, i64> {
        let mut inverse = vec![0; self.perm.len()];
        for (i, &d) in self.perm.iter().enumerate() {
            inverse[d] = i;
        }
        let mut v = storage.view().permuted_axes(IxDyn(&inverse));
        for d in 0..self.perm.len() {
            v.slice_axis_inplace(Axis(d), Slice::new(0, None, self.steps[d] as isize));
            if self.flips[d] {
                v.invert_axis(Axis(d));
            }
        }
        v
    }
}

/// A random einsum: operands and output as groups of axis numbers, with a
/// tensor per operand (values small, in a random layout).
#[derive(Debug)]
pub struct EinsumCase {
    pub lens: Vec<usize>,
    pub operands: Vec<Vec<Vec<usize>>>,
    pub output: Vec<Vec<usize>>,
    pub layouts: Vec<Case>,
}

impl EinsumCase {
    pub fn generate(u: &mut Unstructured<'_>) -> Result<EinsumCase> {
        let n = u.int_in_range(1..=4)?;
        let lens: Vec<usize> = (0..n).map(|_| u.int_in_range(0..=3)).collect::<Result<_>>()?;
        let mut operands = Vec::new();
        for _ in 0..u.int_in_range(1..=3)? {
            let mut axes: Vec<usize> = (0..n).filter(|_| u.arbitrary().unwrap_or(false)).collect();
            if !axes.is_empty() && u.ratio(1, 6)? {
                let again = axes[u.choose_index(axes.len())?];
                axes.push(again); // a diagonal
            }
            let order = shuffled(u, axes.len())?;
            operands.push(groups(u, order.into_iter().map(|i| axes[i]).collect())?);
        }
        let used: Vec<usize> = (0..n).filter(|a| operands.iter().flatten().flatten().any(|b| b == a)).collect();
        let mut out: Vec<usize> = used.into_iter().filter(|_| u.arbitrary().unwrap_or(false)).collect();
        let order = shuffled(u, out.len())?;
        out = order.into_iter().map(|i| out[i]).collect();
        let output = groups(u, out)?;
        let mut layouts = Vec::new();
        for op in &operands {
            let shape = op.iter().map(|g| g.iter().map(|&a| lens[a]).product()).collect();
            layouts.push(Case::with_layout(u, String::new(), Vec::new(), shape)?);
        }
        Ok(EinsumCase { lens, operands, output, layouts })
    }

    /// The pattern text, e.g. `a (b c), c -> (a b)`.
    pub fn pattern(&self) -> String {
        let inputs: Vec<String> = self.operands.iter().map(|o| side(o)).collect();
        format!("{} -> {}", inputs.join(", "), side(&self.output))
    }

    /// Lengths for every axis in a group of two or more.
    pub fn lengths(&self) -> Vec<(&'static str, usize)> {
        let mut given: Vec<usize> = self
            .operands
            .iter()
            .chain(std::iter::once(&self.output))
            .flatten()
            .filter(|g| g.len() > 1)
            .flatten()
            .copied()
            .collect();
        given.sort_unstable();
        given.dedup();
        given.into_iter().map(|a| (NAMES[a], self.lens[a])).collect()
    }

    /// Einsum by its definition: every assignment of every axis.
    pub fn reference(&self, xs: &[ArrayViewD<'_, i64>]) -> ArrayD<i64> {
        let index = |dims: &[Vec<usize>], at: &[usize]| -> Vec<usize> {
            dims.iter().map(|g| g.iter().fold(0, |acc, &a| acc * self.lens[a] + at[a])).collect()
        };
        let out_shape: Vec<usize> = self.output.iter().map(|g| g.iter().map(|&a| self.lens[a]).product()).collect();
        let mut out = ArrayD::<i64>::zeros(IxDyn(&out_shape));
        // Axes no operand has do not take part (their length is moot).
        let lens: Vec<usize> = (0..self.lens.len())
            .map(|a| {
                let used = self.operands.iter().flatten().flatten().any(|&b| b == a);
                if used { self.lens[a] } else { 1 }
            })
            .collect();
        let total: usize = lens.iter().product();
        let mut at = vec![0; self.lens.len()];
        for mut k in 0..total {
            for (slot, &len) in at.iter_mut().zip(&lens).rev() {
                *slot = k % len;
                k /= len;
            }
            let mut prod = 1i64;
            for (x, dims) in xs.iter().zip(&self.operands) {
                // A repeated axis takes one value: the diagonal.
                prod = prod.wrapping_mul(x[IxDyn(&index(dims, &at))]);
            }
            let o = index(&self.output, &at);
            out[IxDyn(&o)] = out[IxDyn(&o)].wrapping_add(prod);
        }
        out
    }
}
