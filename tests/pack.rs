//! Conformance for pack, unpack and parse_shape against einops fixtures.

use std::collections::HashMap;

use ndarray::ArrayD;
use serde_json::Value;

use crate::common::{base, expected, inputs, layout, packed_shapes, replay, usizes};

fn pack_case(case: &Value) -> Result<(), String> {
    let pattern = case["pattern"].as_str().unwrap();
    match case["kind"].as_str().unwrap() {
        "pack" => {
            let (bases, descs) = inputs(case);
            let views: Vec<_> = bases
                .iter()
                .zip(&descs)
                .map(|(b, d)| layout(b, d))
                .collect();
            match (einplan::pack(&views, pattern), case["expect"].is_null()) {
                (Ok((packed, shapes)), false) => {
                    let want = expected(&case["expect"]["packed"]);
                    let want_shapes: Vec<Vec<usize>> = case["expect"]["packed_shapes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(usizes)
                        .collect();
                    if packed == want && shapes == want_shapes {
                        Ok(())
                    } else {
                        Err(format!("got {packed:?} {shapes:?}"))
                    }
                }
                (Err(_), true) => Ok(()),
                (Ok(_), true) => Err(format!("einops fails with {:?}", case["error"])),
                (Err(e), false) => Err(format!("einplan fails:\n{e}")),
            }
        }
        "unpack" => {
            let b = base(&case["input"]);
            let x = layout(&b, &case["input"]);
            let shapes = packed_shapes(case);
            match (
                einplan::unpack(&x, &shapes, pattern),
                case["expect"].is_null(),
            ) {
                (Ok(parts), false) => {
                    let want: Vec<ArrayD<f64>> = case["expect"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(expected)
                        .collect();
                    if parts == want {
                        Ok(())
                    } else {
                        Err(format!("got {parts:?}"))
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
fn pack_fixtures() {
    replay("pack.json", &[], pack_case);
}

#[test]
fn parse_shape_fixtures() {
    let differences = [(
        "parse_shape/error/025",
        "einplan accepts any whitespace (tabs, newlines) between axes; einops only spaces",
    )];
    replay("parse_shape.json", &differences, |case| {
        let shape = usizes(&case["shape"]);
        let x = ArrayD::<u8>::zeros(ndarray::IxDyn(&shape));
        let got = einplan::parse_shape(&x, case["pattern"].as_str().unwrap());
        match (got, case["expect"].as_object()) {
            (Ok(map), Some(want)) => {
                let want: HashMap<String, usize> = want
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap() as usize))
                    .collect();
                if map == want {
                    Ok(())
                } else {
                    Err(format!("got {map:?}"))
                }
            }
            (Err(_), None) => Ok(()),
            (Ok(map), None) => Err(format!(
                "einops fails with {:?}, einplan gives {map:?}",
                case["error"]
            )),
            (Err(e), Some(_)) => Err(format!("einplan fails:\n{e}")),
        }
    });
}
