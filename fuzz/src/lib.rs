//! Structured inputs shared by the fuzz targets, and the independent oracle
//! they check the crate against (`tests/oracle/`, shared with the tests).
//!
//! Generators cover what hand-written tests miss: lengths 0, 1, 2^k ± 1,
//! `isize::MAX` and `usize::MAX` beside zero-length dimensions; element
//! types that overflow (`u8`, `i32`); layouts with permuted, reversed,
//! stepped and broadcast (stride 0) axes.

#[path = "../../tests/oracle/mod.rs"]
pub mod oracle;

use arbitrary::{Arbitrary, Result, Unstructured};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};

pub const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

/// The most elements a generated input may hold.
const MAX_INPUT: usize = 4096;

/// A length: usually small, sometimes extreme (2^k ± 1, `isize::MAX`,
/// `usize::MAX`), so that products overflow beside zero-length axes.
pub fn length(u: &mut Unstructured<'_>) -> Result<usize> {
    if u.ratio(7, 8)? {
        return u.int_in_range(0..=4);
    }
    let k = u.int_in_range(1..=63u32)?;
    Ok(match u.int_in_range(0..=4)? {
        0 => (1usize << k) - 1,
        1 => (1usize << k) + 1,
        2 => 1usize << k,
        3 => isize::MAX as usize,
        _ => usize::MAX,
    })
}

/// The number of elements of `shape` if an array of it is small enough
/// to build (zero-length shapes may have huge other lengths).
pub fn buildable(shape: &[usize]) -> bool {
    if shape.contains(&0) {
        let mut rest = shape.iter().filter(|&&n| n != 0);
        return rest
            .try_fold(1usize, |a, &n| a.checked_mul(n))
            .is_some_and(|n| n <= isize::MAX as usize / 16);
    }
    shape
        .iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .is_some_and(|n| n <= MAX_INPUT)
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

pub fn side(groups: &[Vec<usize>]) -> String {
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

/// Sometimes changes one byte of `pattern`, to reach the error paths.
fn mutate(u: &mut Unstructured<'_>, pattern: String) -> Result<String> {
    if !u.ratio(1, 8)? {
        return Ok(pattern);
    }
    let mut bytes = pattern.into_bytes();
    let at = u.choose_index(bytes.len().max(1))?;
    if let Some(b) = bytes.get_mut(at) {
        *b = *u.choose(b"()->.,_ 12*ab")?;
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// How an input is stored: the storage order of its axes, flips, steps,
/// and axes broadcast from length 1 (stride 0).
#[derive(Debug)]
pub struct Layout {
    pub shape: Vec<usize>,
    pub perm: Vec<usize>,
    pub flips: Vec<bool>,
    pub steps: Vec<usize>,
    pub broadcast: Vec<bool>,
}

impl Layout {
    pub fn generate(u: &mut Unstructured<'_>, shape: Vec<usize>) -> Result<Layout> {
        let nd = shape.len();
        Ok(Layout {
            perm: shuffled(u, nd)?,
            flips: (0..nd).map(|_| u.arbitrary()).collect::<Result<_>>()?,
            steps: (0..nd)
                .map(|_| u.int_in_range(1..=2))
                .collect::<Result<_>>()?,
            broadcast: (0..nd).map(|_| u.ratio(1, 6)).collect::<Result<_>>()?,
            shape,
        })
    }

    fn stored(&self, d: usize) -> usize {
        if self.broadcast[d] && self.shape[d] > 0 {
            1
        } else {
            self.shape[d] * self.steps[d]
        }
    }

    /// The storage: its elements are `value(0)`, `value(1)`, ...
    pub fn storage<T>(&self, value: impl Fn(usize) -> T) -> ArrayD<T> {
        let stored: Vec<usize> = self.perm.iter().map(|&d| self.stored(d)).collect();
        let n = if stored.contains(&0) {
            0
        } else {
            stored.iter().product()
        };
        ArrayD::from_shape_vec(IxDyn(&stored), (0..n).map(value).collect()).expect("sized to fit")
    }

    /// The logical view into `storage()`: permuted back, stepped, flipped;
    /// pass it to [`Layout::broadcast`] for the input itself.
    pub fn view<'a, T>(&self, storage: &'a ArrayD<T>) -> ArrayViewD<'a, T> {
        let mut inverse = vec![0; self.perm.len()];
        for (i, &d) in self.perm.iter().enumerate() {
            inverse[d] = i;
        }
        let mut v = storage.view().permuted_axes(IxDyn(&inverse));
        for d in 0..self.perm.len() {
            if self.stored(d) == self.shape[d] * self.steps[d] {
                v.slice_axis_inplace(Axis(d), Slice::new(0, None, self.steps[d] as isize));
            }
            if self.flips[d] {
                v.invert_axis(Axis(d));
            }
        }
        v
    }

    /// The input: `view()` with its broadcast axes stretched (stride 0).
    pub fn broadcast<'b, T>(&self, view: &'b ArrayViewD<'_, T>) -> ArrayViewD<'b, T> {
        view.broadcast(IxDyn(&self.shape))
            .expect("broadcast axes have length 1")
    }
}

/// Element values: small, or near the type's limits (to overflow sums and
/// products), chosen per input.
#[derive(Clone, Copy, Debug, Arbitrary)]
pub enum Values {
    Small,
    Large,
}

macro_rules! values {
    ($name:ident, $t:ty) => {
        pub fn $name(self) -> impl Fn(usize) -> $t + Copy {
            move |i| match self {
                Values::Small => ((i % 7) as i64 - 3) as $t,
                Values::Large if i % 3 == 0 => <$t>::MAX,
                Values::Large if i % 3 == 1 => <$t>::MIN.wrapping_add(i as $t),
                Values::Large => (i % 5) as $t,
            }
        }
    };
}

impl Values {
    values!(i64, i64);
    values!(i32, i32);
    values!(u8, u8);

    pub fn f64(self) -> impl Fn(usize) -> f64 + Copy {
        move |i| match self {
            Values::Small => (i % 7) as f64 - 3.0,
            // Large but exact: sums and products of a few stay integers
            // below 2^53, so the order of summation does not matter.
            Values::Large => (i % 11) as f64 * 1024.0 - 5000.0,
        }
    }
}

/// A pattern with the lengths it needs, and the shape of the input it
/// was made for.
#[derive(Debug)]
pub struct Case {
    pub pattern: String,
    pub lengths: Vec<(String, usize)>,
    pub layout: Layout,
}

impl Case {
    /// A random rearrange-like case. With `drop_output` some input axes
    /// are missing from the output (reduce); with `add_output` some output
    /// axes are missing from the input, their lengths given (repeat).
    pub fn generate(u: &mut Unstructured<'_>, drop_output: bool, add_output: bool) -> Result<Case> {
        let n = u.int_in_range(1..=5)?;
        let lens: Vec<usize> = (0..n).map(|_| length(u)).collect::<Result<_>>()?;
        let mut in_order = shuffled(u, n)?;
        let mut out_order = shuffled(u, n)?;
        let mut lengths = Vec::new();
        if drop_output {
            out_order.retain(|_| u.arbitrary::<bool>().unwrap_or(false));
        }
        if add_output {
            in_order.retain(|&a| {
                let keep = u.arbitrary::<bool>().unwrap_or(true);
                if !keep {
                    lengths.push((NAMES[a].to_owned(), lens[a]));
                }
                keep
            });
        }
        let input = groups(u, in_order)?;
        let output = groups(u, out_order)?;
        for g in &input {
            for (i, &a) in g.iter().enumerate() {
                if g.len() > 1 && (i + 1 < g.len() || u.arbitrary::<bool>()?) {
                    lengths.push((NAMES[a].to_owned(), lens[a]));
                }
            }
        }
        let pattern = mutate(u, format!("{} -> {}", side(&input), side(&output)))?;
        let shape: Vec<usize> = input
            .iter()
            .map(|g| oracle_product(g.iter().map(|&a| lens[a])))
            .collect::<Option<_>>()
            .ok_or(arbitrary::Error::IncorrectFormat)?;
        if !buildable(&shape) {
            return Err(arbitrary::Error::IncorrectFormat);
        }
        Ok(Case {
            pattern,
            lengths,
            layout: Layout::generate(u, shape)?,
        })
    }

    /// Raw pattern text and lengths on a small random tensor.
    pub fn raw(u: &mut Unstructured<'_>) -> Result<Case> {
        let pattern = String::arbitrary(u)?;
        let ndim = u.int_in_range(0..=4)?;
        let shape: Vec<usize> = (0..ndim)
            .map(|_| u.int_in_range(0..=4))
            .collect::<Result<_>>()?;
        let mut lengths = Vec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            let name = NAMES[u.choose_index(NAMES.len())?].to_owned();
            lengths.push((name, length(u)?));
        }
        Ok(Case {
            pattern,
            lengths,
            layout: Layout::generate(u, shape)?,
        })
    }

    /// Structured, or (one time in four) raw.
    pub fn any(u: &mut Unstructured<'_>, drop_output: bool, add_output: bool) -> Result<Case> {
        if u.ratio(1, 4)? {
            Case::raw(u)
        } else {
            Case::generate(u, drop_output, add_output)
        }
    }

    pub fn lengths(&self) -> Vec<(&str, usize)> {
        self.lengths.iter().map(|(n, l)| (n.as_str(), *l)).collect()
    }
}

/// A product that is 0 when a factor is, `None` when it overflows.
fn oracle_product(lens: impl Iterator<Item = usize>) -> Option<usize> {
    let lens: Vec<usize> = lens.collect();
    if lens.contains(&0) {
        return Some(0);
    }
    lens.iter().try_fold(1usize, |a, &n| a.checked_mul(n))
}

/// A random einsum: operands and output as groups of axis numbers, with a
/// layout per operand.
#[derive(Debug)]
pub struct EinsumCase {
    pub lens: Vec<usize>,
    pub operands: Vec<Vec<Vec<usize>>>,
    pub output: Vec<Vec<usize>>,
    pub layouts: Vec<Layout>,
}

impl EinsumCase {
    pub fn generate(u: &mut Unstructured<'_>) -> Result<EinsumCase> {
        let n = u.int_in_range(1..=4)?;
        let lens: Vec<usize> = (0..n).map(|_| length(u)).collect::<Result<_>>()?;
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
        let used: Vec<usize> = (0..n)
            .filter(|a| operands.iter().flatten().flatten().any(|b| b == a))
            .collect();
        let mut out: Vec<usize> = used
            .into_iter()
            .filter(|_| u.arbitrary().unwrap_or(false))
            .collect();
        let order = shuffled(u, out.len())?;
        out = order.into_iter().map(|i| out[i]).collect();
        let output = groups(u, out)?;
        let mut layouts = Vec::new();
        for op in &operands {
            let shape: Vec<usize> = op
                .iter()
                .map(|g| oracle_product(g.iter().map(|&a| lens[a])))
                .collect::<Option<_>>()
                .ok_or(arbitrary::Error::IncorrectFormat)?;
            if !buildable(&shape) {
                return Err(arbitrary::Error::IncorrectFormat);
            }
            layouts.push(Layout::generate(u, shape)?);
        }
        Ok(EinsumCase {
            lens,
            operands,
            output,
            layouts,
        })
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
        given
            .into_iter()
            .map(|a| (NAMES[a], self.lens[a]))
            .collect()
    }
}

/// Fails the fuzz run with the case and the reason when `verdict` is an
/// error.
pub fn check(case: &impl std::fmt::Debug, what: &str, verdict: std::result::Result<(), String>) {
    if let Err(why) = verdict {
        panic!("{what}: {why}\n{case:#?}");
    }
}
