//! Shared helpers: building fixture inputs and reading fixture files.

use ndarray::{ArrayD, IxDyn, Slice};
use serde_json::Value;

/// Reads `tests/data/<name>` as JSON.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|n| n.as_u64().expect("unsigned") as usize)
        .collect()
}

pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|n| n.as_f64().expect("number"))
        .collect()
}

/// The axis lengths of a case, as `(name, len)` pairs.
pub fn lengths(case: &Value) -> Vec<(String, usize)> {
    case["lengths"]
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .map(|p| {
                    (
                        p[0].as_str().unwrap().to_owned(),
                        p[1].as_u64().unwrap() as usize,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn borrowed(lengths: &[(String, usize)]) -> Vec<(&str, usize)> {
    lengths.iter().map(|(n, l)| (n.as_str(), *l)).collect()
}

/// The base array of an input description; apply [`layout`] to it.
pub fn base(input: &Value) -> ArrayD<f64> {
    let shape = usizes(&input["base_shape"]);
    ArrayD::from_shape_vec(IxDyn(&shape), floats(&input["data"])).expect("base data fits its shape")
}

/// Applies an input description's view operations to its base array:
/// transposes, flips, steps and crops, giving strided and reversed views.
pub fn layout<'a>(base: &'a ArrayD<f64>, input: &Value) -> ndarray::ArrayViewD<'a, f64> {
    let mut v = base.view();
    for op in input["ops"].as_array().into_iter().flatten() {
        let axis = |v: &Value| ndarray::Axis(v.as_u64().unwrap() as usize);
        match op["op"].as_str().unwrap() {
            "transpose" => v = v.permuted_axes(IxDyn(&usizes(&op["perm"]))),
            "flip" => v.invert_axis(axis(&op["axis"])),
            "step" => {
                let step = op["step"].as_i64().unwrap() as isize;
                v.slice_axis_inplace(axis(&op["axis"]), Slice::new(0, None, step));
            }
            "crop" => {
                let (a, b) = (op["start"].as_i64().unwrap(), op["stop"].as_i64().unwrap());
                v.slice_axis_inplace(
                    axis(&op["axis"]),
                    Slice::new(a as isize, Some(b as isize), 1),
                );
            }
            other => panic!("unknown op {other}"),
        }
    }
    v
}

/// The expected array of a case.
pub fn expected(expect: &Value) -> ArrayD<f64> {
    let shape = usizes(&expect["shape"]);
    ArrayD::from_shape_vec(IxDyn(&shape), floats(&expect["data"])).expect("expected data fits")
}

/// Replays every case of a fixture file through `run`, which returns
/// `Ok(())` when einplan agrees with einops. `differences` lists the ids
/// where einplan deliberately differs (and must still differ). Prints
/// `pass/total` and fails with every disagreement.
pub fn replay(
    file: &str,
    differences: &[(&str, &str)],
    run: impl Fn(&Value) -> Result<(), String>,
) {
    let data = fixture(file);
    let cases = data["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut differ = 0;
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let listed = differences.iter().any(|(d, _)| *d == id);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(case)))
            .unwrap_or_else(|_| Err("panicked".to_owned()));
        match (outcome, listed) {
            (Ok(()), false) => {}
            (Err(_), true) => differ += 1,
            (Ok(()), true) => failures.push(format!("{id}: listed as a difference but agrees")),
            (Err(why), false) => failures.push(format!("{id} `{}`: {why}", case["pattern"])),
        }
    }
    println!(
        "{file} (einops {}): {} passed, {} deliberate differences, {} failed, {} total",
        data["einops_version"],
        cases.len() - differ - failures.len(),
        differ,
        failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Compares einplan's outcome with the case's: the expected array, or an
/// error when einops raised one.
pub fn judge<E: std::fmt::Display>(
    case: &Value,
    got: Result<ArrayD<f64>, E>,
    tolerance: f64,
) -> Result<(), String> {
    match (got, case["expect"].is_null()) {
        (Ok(y), false) => {
            let want = expected(&case["expect"]);
            let close = y.shape() == want.shape()
                && y.iter().zip(&want).all(|(a, b)| {
                    a == b
                        || (a - b).abs() <= tolerance * b.abs().max(1.0)
                        || (a.is_nan() && b.is_nan())
                });
            if close {
                Ok(())
            } else {
                Err(format!("got {y:?}\nwant {want:?}"))
            }
        }
        (Err(_), true) => Ok(()),
        (Ok(y), true) => Err(format!(
            "einops fails with {:?}, einplan gives shape {:?}",
            case["error"],
            y.shape()
        )),
        (Err(e), false) => Err(format!("einops succeeds, einplan fails:\n{e}")),
    }
}

/// The single input (or list of inputs) of a case, with its layout.
pub fn inputs(case: &Value) -> (Vec<ArrayD<f64>>, Vec<Value>) {
    match case["inputs"].as_array() {
        Some(list) => (list.iter().map(base).collect(), list.clone()),
        None => (vec![base(&case["input"])], vec![case["input"].clone()]),
    }
}

/// The `packed_shapes` of an unpack case.
pub fn packed_shapes(case: &Value) -> Vec<Vec<usize>> {
    case["packed_shapes"]
        .as_array()
        .expect("packed_shapes")
        .iter()
        .map(usizes)
        .collect()
}

/// The einplan reduction a reduce case names.
pub fn reduction(case: &Value) -> einplan::Reduction {
    match case["reduction"].as_str().unwrap() {
        "sum" => einplan::Reduction::Sum,
        "mean" => einplan::Reduction::Mean,
        "min" => einplan::Reduction::Min,
        "max" => einplan::Reduction::Max,
        "prod" => einplan::Reduction::Prod,
        other => panic!("unknown reduction {other}"),
    }
}
