//! The candle backend: the einops fixtures for rearrange, repeat, reduce,
//! pack/unpack and einsum replayed on candle tensors, through the kernel
//! path (CPU tensors, contiguous and transposed) and through the recipe
//! run with candle's own ops.

use candle_core::{DType, Device, Tensor};
use einplan::{ErrorKind, Rearrange, Reduce, Reduction, Repeat};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

use crate::common::{
    base, expected, inputs, judge, layout, lengths, packed_shapes, reduction, replay, usizes,
};

/// A logical f64 array as a contiguous candle tensor.
fn contiguous(x: &ArrayD<f64>) -> Tensor {
    let data: Vec<f64> = x.iter().copied().collect();
    Tensor::from_vec(data, x.shape(), &Device::Cpu).unwrap()
}

/// The same array stored with its axes reversed, then permuted back: a
/// candle tensor with the array's values and transposed strides.
fn transposed(x: &ArrayD<f64>) -> Tensor {
    let nd = x.ndim();
    let t = x.view().reversed_axes();
    let data: Vec<f64> = t.iter().copied().collect();
    let stored = Tensor::from_vec(data, t.shape(), &Device::Cpu).unwrap();
    let back: Vec<usize> = (0..nd).rev().collect();
    stored.permute(back).unwrap()
}

fn array(t: &Tensor) -> ArrayD<f64> {
    let data = t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    ArrayD::from_shape_vec(IxDyn(t.dims()), data).unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Rearrange,
    Repeat,
    Reduce,
}

#[derive(Clone, Copy)]
enum Path {
    /// `apply` on a contiguous tensor.
    Kernel,
    /// `apply` on a transposed tensor.
    Strided,
    /// `apply_recipe`: candle's own ops.
    Recipe,
}

fn logical_input(case: &Value) -> Option<ArrayD<f64>> {
    let (bases, descs) = inputs(case);
    let views: Vec<_> = bases
        .iter()
        .zip(&descs)
        .map(|(b, d)| layout(b, d))
        .collect();
    if case["inputs"].is_array() {
        ndarray::stack(ndarray::Axis(0), &views).ok()
    } else {
        Some(views[0].to_owned())
    }
}

fn run(case: &Value, op: Op, path: Path) -> Result<(), String> {
    let Some(x) = logical_input(case) else {
        return judge(case, Err("the list does not stack"), 0.0);
    };
    let pattern = case["pattern"].as_str().unwrap();
    let lens = lengths(case);
    let t = match path {
        Path::Strided => transposed(&x),
        _ => contiguous(&x),
    };
    let got = (|| -> Result<Tensor, einplan::Error> {
        let plan = match op {
            Op::Rearrange => lens
                .iter()
                .try_fold(Rearrange::new(pattern)?, |o, (n, l)| o.with(n, *l))?
                .plan(t.dims())?,
            Op::Repeat => lens
                .iter()
                .try_fold(Repeat::new(pattern)?, |o, (n, l)| o.with(n, *l))?
                .plan(t.dims())?,
            Op::Reduce => lens
                .iter()
                .try_fold(Reduce::new(pattern, reduction(case))?, |o, (n, l)| {
                    o.with(n, *l)
                })?
                .plan(t.dims())?,
        };
        let r = (op == Op::Reduce).then(|| reduction(case));
        match (path, r) {
            (Path::Recipe, _) => einplan::candle::apply_recipe(&plan, &t, r),
            (_, Some(r)) => einplan::candle::apply_reduce(&plan, &t, r),
            (_, None) => einplan::candle::apply(&plan, &t),
        }
    })();
    judge(case, got.map(|y| array(&y)), 1e-12)
}

const DIFFERENCES: &[(&str, &str)] = &[(
    "rearrange/error/026",
    "einplan accepts any whitespace (tabs, newlines) between axes; einops only spaces",
)];

/// Reduce cases the recipe path cannot run: products over a non-empty
/// result (candle has no product op).
fn prod_cases() -> Vec<(String, &'static str)> {
    let data = crate::common::fixture("reduce.json");
    data["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["reduction"] == "prod" && !c["expect"].is_null())
        .filter(|c| {
            let x = logical_input(c).unwrap();
            let pattern = c["pattern"].as_str().unwrap();
            let op = lengths(c)
                .iter()
                .try_fold(
                    Reduce::new(pattern, Reduction::Prod).unwrap(),
                    |o, (n, l)| o.with(n, *l),
                )
                .unwrap();
            let plan = op.plan(x.shape()).unwrap();
            let steps = plan.recipe();
            let reduces = steps
                .steps()
                .iter()
                .any(|s| matches!(s, einplan::Primitive::Reduce(_)));
            reduces && !plan.output_shape().contains(&0)
        })
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                "candle has no product",
            )
        })
        .collect()
}

#[test]
fn candle_rearrange_fixtures() {
    for path in [Path::Kernel, Path::Strided, Path::Recipe] {
        replay("rearrange.json", DIFFERENCES, |c| {
            run(c, Op::Rearrange, path)
        });
    }
}

#[test]
fn candle_repeat_fixtures() {
    for path in [Path::Kernel, Path::Strided, Path::Recipe] {
        replay("repeat.json", DIFFERENCES, |c| run(c, Op::Repeat, path));
    }
}

#[test]
fn candle_reduce_fixtures() {
    replay("reduce.json", DIFFERENCES, |c| {
        run(c, Op::Reduce, Path::Kernel)
    });
    replay("reduce.json", DIFFERENCES, |c| {
        run(c, Op::Reduce, Path::Strided)
    });
    let prods = prod_cases();
    let differences: Vec<(&str, &str)> =
        prods.iter().map(|(id, why)| (id.as_str(), *why)).collect();
    replay("reduce.json", &differences, |c| {
        run(c, Op::Reduce, Path::Recipe)
    });
}

fn pack_case(case: &Value) -> Result<(), String> {
    let pattern = case["pattern"].as_str().unwrap();
    match case["kind"].as_str().unwrap() {
        "pack" => {
            let (bases, descs) = inputs(case);
            let ts: Vec<Tensor> = bases
                .iter()
                .zip(&descs)
                .map(|(b, d)| transposed(&layout(b, d).to_owned()))
                .collect();
            match (
                einplan::candle::pack(&ts, pattern),
                case["expect"].is_null(),
            ) {
                (Ok((packed, shapes)), false) => {
                    let want = expected(&case["expect"]["packed"]);
                    let want_shapes: Vec<Vec<usize>> = case["expect"]["packed_shapes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(usizes)
                        .collect();
                    if array(&packed) == want && shapes == want_shapes {
                        Ok(())
                    } else {
                        Err(format!("got {packed} {shapes:?}"))
                    }
                }
                (Err(_), true) => Ok(()),
                (Ok(_), true) => Err(format!("einops fails with {:?}", case["error"])),
                (Err(e), false) => Err(format!("einplan fails:\n{e}")),
            }
        }
        "unpack" => {
            let b = base(&case["input"]);
            let t = transposed(&layout(&b, &case["input"]).to_owned());
            let shapes = packed_shapes(case);
            match (
                einplan::candle::unpack(&t, &shapes, pattern),
                case["expect"].is_null(),
            ) {
                (Ok(parts), false) => {
                    let want: Vec<ArrayD<f64>> = case["expect"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(expected)
                        .collect();
                    let got: Vec<ArrayD<f64>> = parts.iter().map(array).collect();
                    if got == want {
                        Ok(())
                    } else {
                        Err(format!("got {got:?}"))
                    }
                }
                (Err(_), true) => Ok(()),
                (Ok(_), true) => Err(format!("einops fails with {:?}", case["error"])),
                (Err(e), false) => Err(format!("einplan fails:\n{e}")),
            }
        }
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn candle_pack_fixtures() {
    replay("pack.json", &[], pack_case);
}

#[test]
fn candle_einsum_fixtures() {
    replay("einsum.json", &[], |case| {
        let pattern = case["pattern"].as_str().unwrap();
        let descs = case["operands"].as_array().unwrap();
        let ts: Vec<Tensor> = descs
            .iter()
            .map(|d| transposed(&layout(&base(d), d).to_owned()))
            .collect();
        let refs: Vec<&Tensor> = ts.iter().collect();
        let lens = lengths(case);
        let got = if lens.is_empty() {
            einplan::candle::einsum(pattern, &refs)
        } else {
            lens.iter()
                .try_fold(einplan::Einsum::new(pattern), |o, (n, l)| {
                    o?.with(n, *l).map(Ok)
                })
                .and_then(|o| o)
                .and_then(|o| o.apply_candle(&refs))
        };
        judge(case, got.map(|y| array(&y)), 1e-9)
    });
}

#[test]
fn candle_errors_are_wrapped_not_flattened() {
    // f16 takes the recipe path; `prod` has no candle op there.
    let x = Tensor::ones((2, 3), DType::F16, &Device::Cpu).unwrap();
    let e = einplan::candle::reduce(&x, "a b -> a", Reduction::Prod, &[]).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::UnsupportedReduction { .. }),
        "{e}"
    );
    // A failure inside candle keeps candle's error.
    let a = Tensor::ones((2, 3), DType::F32, &Device::Cpu).unwrap();
    let b = Tensor::ones((2, 3), DType::F64, &Device::Cpu).unwrap();
    let e = einplan::candle::pack(&[a, b], "a *").unwrap_err();
    match e.kind() {
        ErrorKind::Candle(c) => {
            // candle's own error value, not its text copied into ours.
            let inner: &candle_core::Error = c.get();
            assert!(
                inner.to_string().contains("dtype mismatch in cat"),
                "{inner:?}"
            );
            assert!(std::error::Error::source(e.kind()).is_some());
        }
        other => panic!("not a candle error: {other:?}"),
    }
    assert!(
        e.to_string().starts_with("a *\n^^^\nerror: candle: "),
        "{e}"
    );
    // Wrong shape for a plan.
    let plan = Rearrange::new("a b -> b a").unwrap().plan(&[3, 2]).unwrap();
    let e = einplan::candle::apply(&plan, &x).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::LayoutShape { .. }), "{e}");
}

#[test]
fn reshapes_share_storage_and_copies_are_contiguous() {
    let x = Tensor::arange(0f32, 24., &Device::Cpu)
        .unwrap()
        .reshape((2, 3, 4))
        .unwrap();
    let y = einplan::candle::rearrange(&x, "a b c -> (a b) c", &[]).unwrap();
    assert!(y.is_contiguous());
    assert_eq!(y.dims(), &[6, 4]);
    let z = einplan::candle::rearrange(&x, "a b c -> c a b", &[]).unwrap();
    assert!(z.is_contiguous());
    let want = x.permute((2, 0, 1)).unwrap();
    assert_eq!(
        array(&z.to_dtype(DType::F64).unwrap()),
        array(&want.to_dtype(DType::F64).unwrap())
    );
}
