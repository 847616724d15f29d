//! Stand-ins for `einplan::{Rearrange, Einsum, Reduce}` with the same
//! signatures, covering only the patterns this binary uses. They exist so the
//! binary builds and runs while the library API is being written; `main.rs`
//! picks them with `use standin as ops;`, and switching to
//! `use einplan as ops;` (and deleting this file) retires them.

use std::fmt;

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayBase, ArrayD, ArrayViewD, Axis, CowArray, Data, Dimension, Ix2, Ix3, IxDyn, s};

#[derive(Debug, Clone)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn err<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error(msg.into()))
}

/// Whitespace-normalised pattern text.
fn normalise(pattern: &str) -> String {
    pattern
        .replace(',', " , ")
        .replace("->", " -> ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn binding(bindings: &[(String, usize)], name: &str) -> Result<usize, Error> {
    match bindings.iter().find(|(n, _)| n == name) {
        Some(&(_, v)) if v > 0 => Ok(v),
        _ => err(format!("axis `{name}` needs a positive size")),
    }
}

const IDENTITY: &str = "b c h w -> b c h w";
const SHUFFLE: &str = "b ( c1 c2 ) h w -> b ( c2 c1 ) h w";
const GROUPED_1X1: &str = "b ( g ci ) h w , g co ci -> b ( g co ) h w";
const LINEAR: &str = "b ci , co ci -> b co";
const POOL: &str = "b c h w -> b c";

pub struct Rearrange {
    pattern: String,
    bindings: Vec<(String, usize)>,
}

impl Rearrange {
    pub fn new(pattern: &str) -> Result<Rearrange, Error> {
        let pattern = normalise(pattern.replace('(', " ( ").replace(')', " ) ").as_str());
        if pattern != IDENTITY && pattern != SHUFFLE {
            return err(format!("stand-in Rearrange does not support `{pattern}`"));
        }
        Ok(Rearrange {
            pattern,
            bindings: Vec::new(),
        })
    }

    pub fn with(mut self, axis: &str, size: usize) -> Rearrange {
        self.bindings.push((axis.to_owned(), size));
        self
    }

    pub fn apply<'a, A, S, D>(
        &self,
        x: &'a ArrayBase<S, D>,
    ) -> Result<CowArray<'a, A, IxDyn>, Error>
    where
        A: Clone,
        S: Data<Elem = A>,
        D: Dimension,
    {
        if x.ndim() != 4 {
            return err(format!("expected 4 axes, got {}", x.ndim()));
        }
        let x = x.view().into_dyn();
        if self.pattern == IDENTITY {
            return Ok(CowArray::from(x));
        }
        let (b, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
        let c1 = binding(&self.bindings, "c1")?;
        if c % c1 != 0 {
            return err(format!("c1 = {c1} does not divide {c}"));
        }
        let split = x
            .into_shape_with_order(IxDyn(&[b, c1, c / c1, h, w]))
            .map_err(|e| Error(e.to_string()))?;
        let swapped = split
            .permuted_axes(IxDyn(&[0, 2, 1, 3, 4]))
            .as_standard_layout()
            .into_owned();
        let out = swapped
            .into_shape_with_order(IxDyn(&[b, c, h, w]))
            .map_err(|e| Error(e.to_string()))?;
        Ok(CowArray::from(out))
    }
}

pub struct Einsum {
    pattern: String,
    bindings: Vec<(String, usize)>,
}

impl Einsum {
    pub fn new(pattern: &str) -> Result<Einsum, Error> {
        let pattern = normalise(pattern.replace('(', " ( ").replace(')', " ) ").as_str());
        if pattern != GROUPED_1X1 && pattern != LINEAR {
            return err(format!("stand-in Einsum does not support `{pattern}`"));
        }
        Ok(Einsum {
            pattern,
            bindings: Vec::new(),
        })
    }

    pub fn with(mut self, axis: &str, size: usize) -> Einsum {
        self.bindings.push((axis.to_owned(), size));
        self
    }

    pub fn apply(&self, operands: &[ArrayViewD<'_, f32>]) -> Result<ArrayD<f32>, Error> {
        let [x, w] = operands else {
            return err("expected two operands");
        };
        if self.pattern == LINEAR {
            let x = x
                .view()
                .into_dimensionality::<Ix2>()
                .map_err(|e| Error(e.to_string()))?;
            let w = w
                .view()
                .into_dimensionality::<Ix2>()
                .map_err(|e| Error(e.to_string()))?;
            if x.ncols() != w.ncols() {
                return err("ci mismatch");
            }
            return Ok(x.dot(&w.t()).into_dyn());
        }
        let w = w
            .view()
            .into_dimensionality::<Ix3>()
            .map_err(|e| Error(e.to_string()))?;
        let g = binding(&self.bindings, "g")?;
        let (wg, co, ci) = w.dim();
        if x.ndim() != 4 || wg != g || x.shape()[1] != g * ci {
            return err(format!(
                "shapes {:?} and {:?} do not fit `{}`",
                x.shape(),
                w.shape(),
                self.pattern
            ));
        }
        let (b, h, wd) = (x.shape()[0], x.shape()[2], x.shape()[3]);
        let x = x.as_standard_layout();
        let x = x
            .view()
            .into_shape_with_order((b, g * ci, h * wd))
            .map_err(|e| Error(e.to_string()))?;
        let mut out = ndarray::Array3::<f32>::zeros((b, g * co, h * wd));
        for n in 0..b {
            for k in 0..g {
                let xs = x.slice(s![n, k * ci..(k + 1) * ci, ..]);
                let mut ys = out.slice_mut(s![n, k * co..(k + 1) * co, ..]);
                general_mat_mul(1.0, &w.index_axis(Axis(0), k), &xs, 0.0, &mut ys);
            }
        }
        Ok(out
            .into_shape_with_order(IxDyn(&[b, g * co, h, wd]))
            .map_err(|e| Error(e.to_string()))?)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    Mean,
}

pub struct Reduce {
    _reduction: Reduction,
}

impl Reduce {
    pub fn new(pattern: &str, reduction: Reduction) -> Result<Reduce, Error> {
        if normalise(pattern) != POOL {
            return err(format!("stand-in Reduce does not support `{pattern}`"));
        }
        Ok(Reduce {
            _reduction: reduction,
        })
    }

    pub fn apply<S, D>(&self, x: &ArrayBase<S, D>) -> Result<ArrayD<f32>, Error>
    where
        S: Data<Elem = f32>,
        D: Dimension,
    {
        if x.ndim() != 4 {
            return err(format!("expected 4 axes, got {}", x.ndim()));
        }
        let x = x.view().into_dyn();
        let (b, c) = (x.shape()[0], x.shape()[1]);
        let hw = (x.shape()[2] * x.shape()[3]) as f32;
        Ok(ArrayD::from_shape_fn(IxDyn(&[b, c]), |i| {
            x.slice(s![i[0], i[1], .., ..]).sum() / hw
        }))
    }
}
