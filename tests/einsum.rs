//! Conformance: replays `tests/data/einsum.json`, generated from einops
//! (numpy underneath) by `tests/data/gen_fixtures.py`. Grouped patterns,
//! which einops' einsum lacks, were computed there by ungrouping with
//! rearrange, calling einops' einsum and regrouping the result.

use ndarray::{ArrayD, ArrayViewD};
use serde_json::Value;

use crate::common::{base, judge, layout, lengths, replay};

/// Cases where einplan deliberately differs from einops, with the reason.
const DIFFERENCES: &[(&str, &str)] = &[];

/// The einsum of a case's operands, or einplan's error. Elements are
/// `f64`; the fixture data are small integers, so the results are exact.
fn compute(case: &Value) -> Result<ArrayD<f64>, einplan::Error> {
    let pattern = case["pattern"].as_str().unwrap();
    let descs = case["operands"].as_array().unwrap();
    let bases: Vec<ArrayD<f64>> = descs.iter().map(base).collect();
    let operands: Vec<ArrayViewD<'_, f64>> =
        bases.iter().zip(descs).map(|(b, d)| layout(b, d)).collect();
    let lens = lengths(case);
    if lens.is_empty() {
        return einplan::einsum(pattern, &operands);
    }
    let mut op = einplan::Einsum::new(pattern)?;
    for (name, len) in &lens {
        op = op.with(name, *len)?;
    }
    op.apply(&operands)
}

#[test]
fn einsum_fixtures() {
    replay("einsum.json", DIFFERENCES, |case| {
        judge(case, compute(case), 1e-9)
    });
}

/// einops' einsum takes `_` as an ordinary axis name, and a `...` in the
/// output when no operand has one (it stands for no axes).
#[test]
fn einsum_takes_underscore_names_and_an_empty_ellipsis_as_einops() {
    let x = ndarray::Array::from_iter(0..24i64)
        .into_shape_with_order((2, 3, 4))
        .unwrap()
        .into_dyn();
    let y = einplan::einsum("a _ c -> _ a", &[x.view()]).unwrap();
    assert_eq!(y.shape(), &[3, 2]);
    assert_eq!(y[[1, 0]], 4 + 5 + 6 + 7);
    let d = einplan::einsum(
        "_ _ -> _",
        &[x.index_axis(ndarray::Axis(2), 0)
            .slice(ndarray::s![.., 0..2])
            .into_dyn()],
    )
    .unwrap();
    assert_eq!(d.into_raw_vec_and_offset().0, vec![0, 16]);
    let s = einplan::einsum("a b c -> ...", &[x.view()]).unwrap();
    assert_eq!((s.shape(), s[[]]), (&[][..], (0..24).sum::<i64>()));
    let t = einplan::einsum("a b c -> ... a", &[x.view()]).unwrap();
    assert_eq!(t.shape(), &[2]);
}

/// `apply_into` writes a matrix product straight into an output of any
/// layout whose shape is the product's: a column range and a transposed
/// array agree with `apply`, and the elements around the range are left
/// alone.
#[test]
fn products_go_into_column_ranges_and_transposes() {
    use ndarray::{Array2, s};
    let op = einplan::Einsum::new("m k, k n -> m n").unwrap();
    for (m, k, n) in [(5, 3, 7), (7, 9, 150), (13, 2, 300)] {
        let a = Array2::from_shape_fn((m, k), |(i, j)| (i * 3 + j) as f32 % 5.0 - 2.0);
        let b = Array2::from_shape_fn((k, n), |(i, j)| (i + 2 * j) as f32 % 7.0 - 3.0);
        let want: ArrayD<f32> = op.apply((&a, &b)).unwrap();
        let mut wide = Array2::from_elem((m, n + 4), f32::NAN);
        op.apply_into((&a, &b), &mut wide.slice_mut(s![.., 2..2 + n]))
            .unwrap();
        assert_eq!(wide.slice(s![.., 2..2 + n]).into_dyn(), want.view());
        assert!(
            wide.slice(s![.., ..2])
                .iter()
                .chain(wide.slice(s![.., 2 + n..]))
                .all(|v| v.is_nan())
        );
        let mut t = Array2::from_elem((n, m), f32::NAN);
        op.apply_into((&a, &b), &mut t.view_mut().reversed_axes())
            .unwrap();
        assert_eq!(t.t().into_dyn(), want.view());
        // Against index arithmetic, so that `apply` is checked too.
        for ((i, j), &v) in want
            .view()
            .into_dimensionality::<ndarray::Ix2>()
            .unwrap()
            .indexed_iter()
        {
            assert_eq!(v, (0..k).map(|r| a[[i, r]] * b[[r, j]]).sum::<f32>());
        }
    }
}
