//! Conformance: replays the fixtures generated from einops by
//! `tests/data/gen_fixtures.py` for rearrange, reduce and repeat.

use einplan::Reduction;
use serde_json::Value;

use crate::common::{borrowed, inputs, judge, layout, lengths, replay};

/// Cases where einplan deliberately differs from einops, with the reason.
/// Each is documented on the einops-users page.
const DIFFERENCES: &[(&str, &str)] = &[(
    "rearrange/error/026",
    "einplan accepts any whitespace (tabs, newlines) between axes; einops only spaces",
)];

#[derive(Clone, Copy)]
enum Op {
    Rearrange,
    Repeat,
    Reduce,
}

fn run(case: &Value, op: Op) -> Result<(), String> {
    let pattern = case["pattern"].as_str().unwrap();
    let lens = lengths(case);
    let lens = borrowed(&lens);
    let (bases, descs) = inputs(case);
    let views: Vec<_> = bases
        .iter()
        .zip(&descs)
        .map(|(b, d)| layout(b, d))
        .collect();
    let list = case["inputs"].is_array();
    let reduction = || match case["reduction"].as_str().unwrap() {
        "sum" => Reduction::Sum,
        "mean" => Reduction::Mean,
        "min" => Reduction::Min,
        "max" => Reduction::Max,
        "prod" => Reduction::Prod,
        other => panic!("unknown reduction {other}"),
    };
    let got = match (op, list) {
        (Op::Rearrange, false) => {
            einplan::rearrange(&views[0], pattern, &lens).map(|y| y.into_owned())
        }
        (Op::Rearrange, true) => {
            einplan::rearrange_list(&views, pattern, &lens).map(|y| y.into_owned())
        }
        (Op::Repeat, false) => einplan::repeat(&views[0], pattern, &lens).map(|y| y.into_owned()),
        (Op::Repeat, true) => einplan::repeat_list(&views, pattern, &lens).map(|y| y.into_owned()),
        (Op::Reduce, false) => einplan::reduce(&views[0], pattern, reduction(), &lens),
        (Op::Reduce, true) => einplan::reduce_list(&views, pattern, reduction(), &lens),
    };
    judge(case, got, 1e-12)
}

#[test]
fn rearrange_fixtures() {
    replay("rearrange.json", DIFFERENCES, |c| run(c, Op::Rearrange));
}

#[test]
fn repeat_fixtures() {
    replay("repeat.json", DIFFERENCES, |c| run(c, Op::Repeat));
}

#[test]
fn reduce_fixtures() {
    replay("reduce.json", DIFFERENCES, |c| run(c, Op::Reduce));
}
