//! Conformance: replays `tests/data/rearrange.json`, generated from einops
//! by `tests/data/gen_fixtures.py`.

use serde_json::Value;

use crate::common::{base, borrowed, expected, fixture, layout, lengths};

/// Cases where einplan deliberately differs from einops, with the reason.
/// Each is documented on the einops-users page.
pub const DIFFERENCES: &[(&str, &str)] = &[(
    "rearrange/error/026",
    "einplan accepts any whitespace (tabs, newlines) between axes; einops only spaces",
)];

/// Runs one case; `Ok(())` when einplan agrees with einops.
fn run(case: &Value) -> Result<(), String> {
    let pattern = case["pattern"].as_str().unwrap();
    let lens = lengths(case);
    let got = if let Some(inputs) = case["inputs"].as_array() {
        let bases: Vec<_> = inputs.iter().map(base).collect();
        let views: Vec<_> = bases
            .iter()
            .zip(inputs)
            .map(|(b, i)| layout(b, i))
            .collect();
        einplan::rearrange_list(&views, pattern, &borrowed(&lens)).map(|y| y.into_owned())
    } else {
        let b = base(&case["input"]);
        let x = layout(&b, &case["input"]);
        einplan::rearrange(&x, pattern, &borrowed(&lens)).map(|y| y.into_owned())
    };
    match (got, case["expect"].is_null()) {
        (Ok(y), false) => {
            let want = expected(&case["expect"]);
            if y == want {
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

#[test]
fn einops_fixtures() {
    let data = fixture("rearrange.json");
    let cases = data["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut differ = 0;
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let outcome = run(case);
        match (outcome, DIFFERENCES.iter().any(|(d, _)| *d == id)) {
            (Ok(()), false) => {}
            (Err(_), true) => differ += 1,
            (Ok(()), true) => failures.push(format!("{id}: listed as a difference but agrees")),
            (Err(why), false) => failures.push(format!("{id} `{}`: {why}", case["pattern"])),
        }
    }
    println!(
        "rearrange fixtures (einops {}): {} passed, {} deliberate differences, {} failed, {} total",
        data["einops_version"],
        cases.len() - differ - failures.len(),
        differ,
        failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
