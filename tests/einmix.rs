//! `EinMix`: replays `tests/data/einmix.json`, made by
//! `tests/data/gen_einmix.py` from einops' own EinMix checks and pattern
//! lowering with known weights, then checks what the fixtures cannot:
//! where errors point, the initial parameters, and the setters.

use einplan::{EinMix, ErrorKind};
use ndarray::{Array2, ArrayD, IxDyn, array};
use serde_json::Value;

use crate::common::{borrowed, expected, floats, judge, lengths, replay, usizes};

/// Cases where einplan deliberately differs from einops. None: the one
/// case einops accepts and einplan rejects on purpose (a length given for
/// an input axis is always checked against the input; einops checks it
/// only when the input side has a group) is recorded in the fixtures as an
/// error case, marked `deliberate_difference`.
const DIFFERENCES: &[(&str, &str)] = &[];

fn tensor(v: &Value) -> ArrayD<f64> {
    ArrayD::from_shape_vec(IxDyn(&usizes(&v["shape"])), floats(&v["data"])).unwrap()
}

/// Builds the case's layer, loads its weights and applies it to its input;
/// an error must come from the step where einops raised (`at`).
fn run<A>(case: &Value, cast: fn(f64) -> A, tolerance: f64) -> Result<(), String>
where
    A: ndarray::LinalgScalar + From<f32> + Into<f64>,
{
    let lens = lengths(case);
    let at = case.get("at").and_then(Value::as_str);
    let mix = EinMix::<A>::new(
        case["pattern"].as_str().unwrap(),
        case["weight_shape"].as_str().unwrap(),
        case["bias_shape"].as_str(),
        &borrowed(&lens),
    );
    let mut mix = match (mix, at) {
        (Err(_), Some("new")) => return Ok(()),
        (Err(e), _) => return Err(format!("einops builds the layer, einplan fails:\n{e}")),
        (Ok(_), Some("new")) => {
            return Err(format!(
                "einops fails with {}, einplan builds the layer",
                case["error"]
            ));
        }
        (Ok(mix), _) => mix,
    };
    mix.set_weight(&tensor(&case["weight"]).mapv(cast))
        .map_err(|e| e.to_string())?;
    if !case["bias"].is_null() {
        mix.set_bias(&tensor(&case["bias"]).mapv(cast))
            .map_err(|e| e.to_string())?;
    }
    let got = mix.apply(&tensor(&case["input"]).mapv(cast));
    judge(case, got.map(|y| y.mapv(Into::into)), tolerance)
}

#[test]
fn einmix_fixtures_f64() {
    replay("einmix.json", DIFFERENCES, |case| run(case, |v| v, 1e-5));
}

#[test]
fn einmix_fixtures_f32() {
    replay("einmix.json", DIFFERENCES, |case| {
        run(case, |v| v as f32, 1e-4)
    });
}

#[test]
fn fixtures_cover_every_outcome() {
    let data = crate::common::fixture("einmix.json");
    let cases = data["cases"].as_array().unwrap();
    let count = |f: &dyn Fn(&Value) -> bool| cases.iter().filter(|c| f(c)).count();
    assert!(count(&|c| !c["expect"].is_null()) >= 30);
    assert!(count(&|c| c["at"] == "new") >= 25);
    assert!(count(&|c| c["at"] == "apply") >= 5);
    // A sanity check on the file itself: the valid cases have outputs of
    // their recorded shapes.
    for c in cases.iter().filter(|c| !c["expect"].is_null()) {
        let y = expected(&c["expect"]);
        assert_eq!(y.len(), y.shape().iter().product::<usize>());
    }
}

/// `(pattern of the error, kind, span)` for a constructor call.
fn new_err(
    pattern: &str,
    weight: &str,
    bias: Option<&str>,
    lengths: &[(&str, usize)],
) -> (String, ErrorKind, std::ops::Range<usize>) {
    let e = EinMix::<f32>::new(pattern, weight, bias, lengths).unwrap_err();
    // Every error renders with a caret line.
    assert!(e.to_string().contains('^'), "{e}");
    (e.pattern().to_owned(), e.kind().clone(), e.span())
}

#[test]
fn construction_errors_point_at_the_offending_part() {
    let (p, k, s) = new_err("a b -> a c", "b d", None, &[("b", 2), ("d", 3)]);
    assert_eq!((p.as_str(), s), ("a b -> a c", 9..10));
    assert!(matches!(k, ErrorKind::OneSidedAxis { ref name, .. } if name == "c"));

    let (p, k, s) = new_err(
        "a (b c) -> a d",
        "(b c) d",
        None,
        &[("b", 2), ("c", 3), ("d", 4)],
    );
    assert_eq!((p.as_str(), s), ("(b c) d", 0..5));
    assert!(matches!(
        k,
        ErrorKind::Unsupported {
            what: "a group",
            ..
        }
    ));

    let (p, k, s) = new_err("a ... -> a ...", "a ...", None, &[("a", 2)]);
    assert_eq!((p.as_str(), s), ("a ...", 2..5));
    assert!(matches!(k, ErrorKind::Unsupported { .. }));

    let (p, k, s) = new_err("a b -> a c", "b 2 c", None, &[("b", 2), ("c", 3)]);
    assert_eq!((p.as_str(), s), ("b 2 c", 2..3));
    assert!(matches!(k, ErrorKind::AnonymousAxis { len: 2, .. }));

    let (p, k, s) = new_err("a b c -> a d", "b c d", None, &[("b", 2), ("d", 3)]);
    assert_eq!((p.as_str(), s), ("b c d", 2..3));
    assert!(matches!(k, ErrorKind::WeightLength { ref name } if name == "c"));

    let (p, k, s) = new_err("a ... -> a", "a", None, &[("a", 2)]);
    assert_eq!((p.as_str(), s), ("a ... -> a", 2..5));
    assert!(matches!(
        k,
        ErrorKind::OneSidedEllipsis {
            side: einplan::Side::Input,
            ..
        }
    ));

    let (p, k, _) = new_err("a b -> a c", "b c", None, &[("b", 2), ("c", 3), ("z", 4)]);
    assert_eq!(p, "a b -> a c");
    assert!(matches!(k, ErrorKind::UnusedLength { ref name } if name == "z"));

    let (p, k, s) = new_err("a b -> a c", "b c w", None, &[("b", 2), ("c", 3), ("w", 4)]);
    assert_eq!((p.as_str(), s), ("b c w", 4..5));
    assert!(matches!(k, ErrorKind::WeightAxisUnused { ref name } if name == "w"));

    let (p, k, s) = new_err("a b -> a c", "b c", Some("c b"), &[("b", 2), ("c", 3)]);
    assert_eq!((p.as_str(), s), ("c b", 2..3));
    assert!(matches!(k, ErrorKind::BiasAxisNotInOutput { ref name } if name == "b"));

    let (p, k, s) = new_err("a b -> a b", "b", Some("a"), &[("b", 2)]);
    assert_eq!((p.as_str(), s), ("a", 0..1));
    assert!(matches!(k, ErrorKind::BiasLength { ref name } if name == "a"));

    // The bias axis `a` before the output's `...`: both are marked.
    let e = EinMix::<f32>::new("a ... -> a ...", "a", Some("a"), &[("a", 2)]).unwrap_err();
    assert_eq!((e.span(), e.aux_span()), (11..14, Some(9..10)));

    let (p, k, s) = new_err("a b -> a b c", "b b c", None, &[("b", 2), ("c", 3)]);
    assert_eq!((p.as_str(), s), ("b b c", 2..3));
    assert!(matches!(k, ErrorKind::DuplicateAxis { .. }));

    let (p, k, _) = new_err("a, b -> a", "b", None, &[("b", 2)]);
    assert_eq!(p, "a, b -> a");
    assert!(matches!(k, ErrorKind::Unsupported { what: "`,`", .. }));

    let (_, k, _) = new_err("a b -> a c", "b c", None, &[("b", 0), ("c", 2)]);
    assert!(matches!(k, ErrorKind::ZeroFanIn));

    let (_, k, _) = new_err("a b -> a c", "b c", None, &[("b", 2), ("c", 3), ("b", 2)]);
    assert!(matches!(k, ErrorKind::DuplicateLength { .. }));

    // A weight too large to allocate is an error, not an abort.
    let huge = usize::MAX / 2;
    let (_, k, _) = new_err("a b -> a c", "b c", None, &[("b", 2), ("c", huge)]);
    assert_eq!(k, ErrorKind::Overflow);
}

#[test]
fn apply_errors_point_into_the_pattern() {
    let lens = [("h", 2), ("d", 3), ("k", 2)];
    let mix = EinMix::<f32>::new("b (h d) -> b (h k)", "h d k", None, &lens).unwrap();
    // A group that does not divide.
    let e = mix.apply(&Array2::<f32>::zeros((2, 7))).unwrap_err();
    assert_eq!(e.pattern(), "b (h d) -> b (h k)");
    assert_eq!(e.span(), 2..7);
    // The wrong rank: the input side.
    let e = mix.apply(&ndarray::Array1::<f32>::zeros(6)).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::RankMismatch { .. }), "{e}");
    assert_eq!(e.pattern(), "b (h d) -> b (h k)");
    assert!(e.span().end <= 7, "{e}");

    // An input axis whose length differs from the weight's.
    let mix = EinMix::<f32>::new("b c -> b d", "c d", None, &[("c", 3), ("d", 4)]).unwrap();
    let e = mix.apply(&Array2::<f32>::zeros((2, 4))).unwrap_err();
    assert_eq!(e.pattern(), "b c -> b d");
    assert_eq!(&e.pattern()[e.span()], "c", "{e}");
}

#[test]
fn initial_parameters_are_seeded_and_within_einops_bounds() {
    let lens = [("h", 4), ("d", 8), ("k", 16)];
    let a = EinMix::<f32>::new("b t (h d) -> b t (h k)", "h d k", Some("h k"), &lens).unwrap();
    let b = EinMix::<f32>::new("b t (h d) -> b t (h k)", "h d k", Some("h k"), &lens).unwrap();
    assert_eq!(a.weight(), b.weight());
    assert_eq!(a.bias(), b.bias());
    assert_eq!(a.fan_in(), 8);
    let (wb, bb) = ((3.0f32 / 8.0).sqrt(), (1.0f32 / 8.0).sqrt());
    let w = a.weight();
    assert!(w.iter().all(|v| v.abs() <= wb));
    // 512 draws spread over the range: both ends reached within 5%, mean
    // near zero, variance near bound² / 3.
    let max = w.iter().fold(f32::MIN, |m, &v| m.max(v));
    let min = w.iter().fold(f32::MAX, |m, &v| m.min(v));
    assert!(max > 0.95 * wb && min < -0.95 * wb, "{min} {max}");
    let n = w.len() as f32;
    let mean = w.sum() / n;
    let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
    assert!(mean.abs() < 0.1 * wb, "{mean}");
    assert!((var - wb * wb / 3.0).abs() < 0.15 * wb * wb / 3.0, "{var}");
    let bias = a.bias().unwrap();
    assert_eq!(bias.shape(), &[1, 1, 4, 16]);
    assert!(bias.iter().all(|v| v.abs() <= bb));
    assert!(bias.iter().any(|v| v.abs() > 0.5 * bb));

    // Another seed, other values; f64 layers get the f32 values widened.
    let c = a.clone().with_seed(1);
    assert_ne!(c.weight(), a.weight());
    let d = EinMix::<f64>::new("b t (h d) -> b t (h k)", "h d k", Some("h k"), &lens).unwrap();
    assert_eq!(d.weight(), &a.weight().mapv(f64::from));
}

#[test]
fn setters_check_shapes_and_keep_the_old_values() {
    let mut mix =
        EinMix::<f64>::new("b c -> b d", "c d", Some("d"), &[("c", 2), ("d", 3)]).unwrap();
    let before = mix.weight().clone();
    let e = mix.set_weight(&Array2::<f64>::zeros((3, 2))).unwrap_err();
    assert_eq!(e.pattern(), "c d");
    assert!(matches!(
        e.kind(),
        ErrorKind::ParameterShape {
            parameter: "weight",
            ..
        }
    ));
    assert_eq!(mix.weight(), &before);
    assert!(mix.set_bias(&array![1.0, 2.0, 3.0]).is_err()); // einops' shape is [1, 3]
    mix.set_bias(&array![[1.0, 2.0, 3.0]]).unwrap();
    // A transposed view is accepted as a weight.
    let w = array![[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
    mix.set_weight(&w.t()).unwrap();
    let y = mix.apply(&array![[2.0, 5.0]]).unwrap();
    assert_eq!(y, array![[3.0, 7.0, 10.0]].into_dyn());

    let mut no_bias = EinMix::<f64>::new("b c -> b d", "c d", None, &[("c", 2), ("d", 3)]).unwrap();
    let e = no_bias.set_bias(&array![[1.0, 2.0, 3.0]]).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NoBias));
}

#[test]
fn apply_into_writes_any_layout_and_checks_the_shape() {
    let lens = [("c", 3), ("co", 2)];
    let mix = EinMix::<f32>::new("b c h w -> b co h w", "c co", Some("co"), &lens).unwrap();
    let x = ndarray::Array4::<f32>::from_shape_fn((2, 3, 4, 5), |(a, b, c, d)| {
        (a + 2 * b + 3 * c + 5 * d) as f32
    });
    let want = mix.apply(&x).unwrap();
    // A transposed output array.
    let mut out = ndarray::Array4::<f32>::zeros((5, 4, 2, 2));
    let mut view = out.view_mut().permuted_axes([2, 3, 1, 0]);
    mix.apply_into(&x, &mut view).unwrap();
    assert_eq!(view.into_dyn(), want.view());
    let mut wrong = ndarray::Array4::<f32>::zeros((2, 3, 4, 5));
    let e = mix.apply_into(&x, &mut wrong).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::OutputShape { .. }));
    assert_eq!(&e.pattern()[e.span()], "b co h w");
    assert!(wrong.iter().all(|&v| v == 0.0));
}

/// EinMix against an independent nested-loop linear layer: a grouped 1×1
/// convolution with bias, on a strided input.
#[test]
fn grouped_convolution_equals_nested_loops() {
    let (g, ci, co) = (3, 4, 2);
    let lens = [("g", g), ("ci", ci), ("co", co)];
    let mix = EinMix::<f64>::new(
        "b (g ci) h w -> b (g co) h w",
        "g co ci",
        Some("g co"),
        &lens,
    )
    .unwrap()
    .with_seed(42);
    let big = ndarray::Array4::<f64>::from_shape_fn((2, 12, 6, 5), |(a, b, c, d)| {
        ((a * 7 + b * 5 + c * 3 + d) % 11) as f64 - 5.0
    });
    let x = big.slice(ndarray::s![.., .., ..;2, ..]);
    let y = mix.apply(&x).unwrap();
    let (w, bias) = (mix.weight(), mix.bias().unwrap());
    assert_eq!(y.shape(), &[2, g * co, 3, 5]);
    for ((b, o, i, j), &got) in y
        .clone()
        .into_dimensionality::<ndarray::Ix4>()
        .unwrap()
        .indexed_iter()
    {
        let (gi, k) = (o / co, o % co);
        let mut want = bias[[0, gi, k, 0, 0]];
        for c in 0..ci {
            want += x[[b, gi * ci + c, i, j]] * w[[gi, k, c]];
        }
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{got} {want}"
        );
    }
}

/// An output side with a group (`(g co)`): `apply_into` writes a
/// standard-layout `out` through a reshape and any other layout by copy,
/// both equal to `apply`, and refuses a wrong shape without writing.
#[test]
fn apply_into_an_output_group_in_any_layout() {
    let lens = [("g", 3), ("ci", 4), ("co", 2)];
    let mix = EinMix::<f64>::new("(g ci) n -> (g co) n", "g co ci", Some("g co"), &lens)
        .unwrap()
        .with_seed(7);
    let x = Array2::<f64>::from_shape_fn((12, 5), |(a, b)| ((a * 5 + b * 3) % 7) as f64 - 3.0);
    let want = mix.apply(&x).unwrap();
    assert_eq!(want.shape(), &[6, 5]);
    // Against nested loops, so that both paths are checked, not only
    // their agreement.
    let w = mix.weight();
    // The bias has one number per (g, co), in that order.
    let bias: Vec<f64> = mix.bias().unwrap().iter().copied().collect();
    assert_eq!(bias.len(), 6);
    for (g, co, n) in triples(3, 2, 5) {
        let mut v = bias[g * 2 + co];
        for ci in 0..4 {
            v += w[[g, co, ci]] * x[[g * 4 + ci, n]];
        }
        assert!((want[[g * 2 + co, n]] - v).abs() < 1e-12);
    }
    let mut out = Array2::<f64>::from_elem((6, 5), f64::NAN);
    mix.apply_into(&x, &mut out).unwrap();
    assert_eq!(out.into_dyn(), want);
    let mut t = Array2::<f64>::from_elem((5, 6), f64::NAN);
    let mut view = t.view_mut().reversed_axes();
    mix.apply_into(&x, &mut view).unwrap();
    assert_eq!(view.into_dyn(), want.view());
    let mut wrong = Array2::<f64>::zeros((5, 6));
    let e = mix.apply_into(&x, &mut wrong).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::OutputShape { .. }));
    assert_eq!(&e.pattern()[e.span()], "(g co) n");
    assert!(wrong.iter().all(|&v| v == 0.0));
    // An input error still points into the input side.
    let e = mix
        .apply_into(&Array2::<f64>::zeros((10, 5)), &mut Array2::zeros((6, 5)))
        .unwrap_err();
    assert_eq!(&e.pattern()[e.span()], "(g ci)");
}

fn triples(a: usize, b: usize, c: usize) -> Vec<(usize, usize, usize)> {
    let mut v = Vec::new();
    for i in 0..a {
        for j in 0..b {
            for k in 0..c {
                v.push((i, j, k));
            }
        }
    }
    v
}

/// Zero-length axes through `apply_into` with an output group: an empty
/// output is fine, and an empty contraction (`ci = 0`) is refused at
/// construction, as einops refuses a layer with nothing to mix.
#[test]
fn apply_into_an_output_group_with_zero_lengths() {
    let lens = [("g", 2), ("ci", 4), ("co", 3)];
    let mix = EinMix::<f32>::new("(g ci) n -> (g co) n", "g co ci", Some("g co"), &lens)
        .unwrap()
        .with_seed(1);
    let mut out = Array2::<f32>::zeros((6, 0));
    mix.apply_into(&Array2::<f32>::zeros((8, 0)), &mut out)
        .unwrap();
    let e = mix
        .apply_into(
            &Array2::<f32>::zeros((8, 0)),
            &mut Array2::<f32>::zeros((5, 0)),
        )
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::OutputShape { .. }));
    let empty = EinMix::<f32>::new(
        "(g ci) n -> (g co) n",
        "g co ci",
        Some("g co"),
        &[("g", 2), ("ci", 0), ("co", 3)],
    );
    assert!(matches!(empty.unwrap_err().kind(), ErrorKind::ZeroFanIn));
}
