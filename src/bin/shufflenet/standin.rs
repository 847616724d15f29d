//! Stand-in for `einplan::Einsum` with the same shape of API
//! (`new(pattern)?`, `.with(axis, len)?`, `apply(&[views])?`), covering only
//! the two patterns this binary uses. `model.rs` imports it with
//! `use crate::standin::Einsum;`; importing `einplan::Einsum` there instead
//! and deleting this file (and `mod standin;` in `main.rs`) retires it.

use std::fmt;

use ndarray::linalg::general_mat_mul;
use ndarray::{Array3, ArrayD, ArrayViewD, Axis, Ix2, Ix3, IxDyn, s};

use crate::model::ModelError;

#[derive(Debug, Clone)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<Error> for ModelError {
    fn from(e: Error) -> Self {
        ModelError::Op(Box::new(e))
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error(msg.into()))
}

fn shape_err(e: ndarray::ShapeError) -> Error {
    Error(e.to_string())
}

/// Token-normalised pattern text.
fn normalise(pattern: &str) -> String {
    let spaced = pattern
        .replace(',', " , ")
        .replace("->", " -> ")
        .replace('(', " ( ")
        .replace(')', " ) ");
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

const GROUPED_1X1: &str = "b ( g ci ) h w , g co ci -> b ( g co ) h w";
const LINEAR: &str = "b ci , co ci -> b co";

#[derive(Debug, Clone)]
pub struct Einsum {
    pattern: String,
    groups: Option<usize>,
}

impl Einsum {
    pub fn new(pattern: &str) -> Result<Einsum, Error> {
        let pattern = normalise(pattern);
        if pattern != GROUPED_1X1 && pattern != LINEAR {
            return err(format!("stand-in Einsum does not support `{pattern}`"));
        }
        Ok(Einsum {
            pattern,
            groups: None,
        })
    }

    pub fn with(mut self, axis: &str, len: usize) -> Result<Einsum, Error> {
        if axis != "g" || self.pattern != GROUPED_1X1 || len == 0 {
            return err(format!("stand-in Einsum: cannot set `{axis}` = {len}"));
        }
        self.groups = Some(len);
        Ok(self)
    }

    pub fn apply(&self, operands: &[ArrayViewD<'_, f32>]) -> Result<ArrayD<f32>, Error> {
        let [x, w] = operands else {
            return err("expected two operands");
        };
        if self.pattern == LINEAR {
            let x = x.view().into_dimensionality::<Ix2>().map_err(shape_err)?;
            let w = w.view().into_dimensionality::<Ix2>().map_err(shape_err)?;
            if x.ncols() != w.ncols() {
                return err("ci differs between the operands");
            }
            return Ok(x.dot(&w.t()).into_dyn());
        }
        let w = w.view().into_dimensionality::<Ix3>().map_err(shape_err)?;
        let (g, co, ci) = w.dim();
        if x.ndim() != 4 || self.groups.is_some_and(|n| n != g) || x.shape()[1] != g * ci {
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
            .map_err(shape_err)?;
        let mut out = Array3::<f32>::zeros((b, g * co, h * wd));
        for n in 0..b {
            for k in 0..g {
                let xs = x.slice(s![n, k * ci..(k + 1) * ci, ..]);
                let mut ys = out.slice_mut(s![n, k * co..(k + 1) * co, ..]);
                general_mat_mul(1.0, &w.index_axis(Axis(0), k), &xs, 0.0, &mut ys);
            }
        }
        out.into_shape_with_order(IxDyn(&[b, g * co, h, wd]))
            .map_err(shape_err)
    }
}
