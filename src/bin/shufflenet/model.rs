//! ShuffleNet v1 (Zhang et al., 2017) from einplan operations.
//!
//! The parts einops can say are einplan ops, compiled once when the model is
//! built. Inside the network a batch is stored channels first, `c b h w`,
//! so that each 1×1 convolution is one matrix product per group over every
//! pixel of every image:
//!
//! | step                    | op                                                          |
//! |-------------------------|-------------------------------------------------------------|
//! | stem convolution        | `EinMix` `k n -> co n` on im2col blocks (taps × pixels)     |
//! | channel shuffle         | `Rearrange` `(c1 c2) b h w -> c2 c1 b h w` (a view), read by the depthwise convolution |
//! | grouped 1×1 convolution | `Rearrange` `(g ci) b h w -> g ci (b h w)` (a view), one matrix product per group |
//! | global average pool     | `Reduce` `c b h w -> b c`, mean                             |
//! | classifier              | `Einsum` `b ci, co ci -> b co`                              |
//!
//! The channel shuffle `(c1 c2) … -> (c2 c1) …` cannot be a view of its
//! input: only its last step, merging `c2 c1`, would have to copy. So the
//! model takes the free part, `c2 c1 b h w`, and lets the depthwise
//! convolution, which handles every channel on its own anyway, read channel
//! `(c2, c1)` for its output channel `c2 · g + c1`. The rest (3×3
//! convolutions, pooling, the matrix products) lives in [`crate::layers`].
//! Batch norms are folded into the convolutions in front of them at load
//! time. Parameter names are PyTorch's, so a `state_dict` of the reference
//! model (tests/data/shufflenet/gen_shufflenet.py) loads directly.

use std::fmt;
use std::ops::Range;
use std::time::{Duration, Instant};

use ndarray::{
    Array1, Array2, Array4, ArrayD, ArrayView2, ArrayView3, ArrayView4, ArrayViewMut2, Axis, Ix2,
    Ix3, Ix5, s,
};

use einplan::{EinMix, Einsum, Rearrange, Reduce, Reduction};

use crate::layers::{self, BN_EPS, BatchNorm, Window};
use crate::par;
use crate::weights::{Init, ParamSource, WeightError};

/// Output channels of stages 2, 3 and 4 per group count (paper, Table 1).
pub const STAGE_CHANNELS: [(usize, [usize; 3]); 5] = [
    (1, [144, 288, 576]),
    (2, [200, 400, 800]),
    (3, [240, 480, 960]),
    (4, [272, 544, 1088]),
    (8, [384, 768, 1536]),
];

/// Units per stage (stages 2, 3, 4).
pub const STAGE_REPEATS: [usize; 3] = [4, 8, 4];

/// Channels after the stem convolution.
pub const STEM_CHANNELS: usize = 24;

pub const SCALE_RANGE: std::ops::RangeInclusive<f64> = 0.25..=2.0;

/// Stage widths for `groups` and width multiplier `scale`, rounded down to a
/// multiple of `4 * groups` (at least `4 * groups`) so that every grouped
/// convolution divides evenly. Same rule as the Python reference.
pub fn stage_channels(groups: usize, scale: f64) -> Option<[usize; 3]> {
    let (_, base) = STAGE_CHANNELS.iter().find(|(g, _)| *g == groups)?;
    let q = 4 * groups;
    Some(base.map(|c| q.max((c as f64 * scale) as usize / q * q)))
}

/// The `(groups, scale)` of a network whose `stage{2,3,4}.1.right.0.weight`
/// tensors have `shapes` (`[c / 4, c / groups, 1, 1]` for stage width `c`),
/// with the plainest scale (on a 0.01 grid) that gives those widths; `None`
/// if no configuration does.
pub fn guess_config(shapes: [&[usize]; 3]) -> Option<(usize, f64)> {
    let mut widths = [0; 3];
    let mut groups = None;
    for (width, shape) in widths.iter_mut().zip(shapes) {
        let &[bottleneck, per_group, 1, 1] = shape else {
            return None;
        };
        *width = 4 * bottleneck;
        if per_group == 0 || *width % per_group != 0 {
            return None;
        }
        let g = *width / per_group;
        if groups.is_some_and(|first| first != g) {
            return None;
        }
        groups = Some(g);
    }
    let groups = groups?;
    let plain = [1.0, 0.5, 0.25, 0.75, 1.5, 2.0, 1.25, 1.75];
    let grid = (25..=200).map(|s| f64::from(s) / 100.0);
    plain
        .into_iter()
        .chain(grid)
        .find(|&s| stage_channels(groups, s) == Some(widths))
        .map(|s| (groups, s))
}

#[derive(Debug)]
pub enum ModelError {
    /// The requested architecture cannot be built.
    Config(String),
    /// The input does not fit the model.
    Input(String),
    Weights(WeightError),
    /// An einplan op rejected its pattern or operands.
    Op(einplan::Error),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Config(m) => write!(f, "invalid model configuration: {m}"),
            ModelError::Input(m) => write!(f, "invalid input: {m}"),
            ModelError::Weights(e) => write!(f, "{e}"),
            ModelError::Op(e) => write!(f, "einplan: {e}"),
        }
    }
}

impl std::error::Error for ModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ModelError::Weights(e) => Some(e),
            ModelError::Op(e) => Some(e),
            _ => None,
        }
    }
}

impl From<WeightError> for ModelError {
    fn from(e: WeightError) -> Self {
        ModelError::Weights(e)
    }
}

impl From<einplan::Error> for ModelError {
    fn from(e: einplan::Error) -> Self {
        ModelError::Op(e)
    }
}

fn shape_err(what: &str, e: ndarray::ShapeError) -> ModelError {
    ModelError::Input(format!("{what}: {e}"))
}

// ---------------------------------------------------------------------------
// Recording what the einplan ops did

/// How one call of an einplan op produced its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A `Rearrange` that returned a view of its input (`CowArray::Borrowed`).
    View,
    /// A `Rearrange` that had to copy (`CowArray::Owned`).
    Copy,
    /// An `Einsum` or `Reduce`: always a freshly computed array.
    Computed,
}

/// One compiled einplan op of the model.
#[derive(Clone, Debug)]
pub struct OpInfo {
    /// Where it sits, e.g. `stage3.2.shuffle`.
    pub name: String,
    /// `rearrange`, `einsum` or `reduce`.
    pub kind: &'static str,
    pub pattern: String,
    /// Axis sizes given with `.with(..)`, e.g. `c1=3`.
    pub bindings: String,
}

/// The ops of a model, indexed by the ids handed out at construction.
#[derive(Clone, Debug, Default)]
pub struct OpTable {
    pub ops: Vec<OpInfo>,
}

impl OpTable {
    fn register(
        &mut self,
        name: String,
        kind: &'static str,
        pattern: &str,
        bindings: &[(&str, usize)],
    ) -> usize {
        let bindings = bindings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        self.ops.push(OpInfo {
            name,
            kind,
            pattern: pattern.to_owned(),
            bindings,
        });
        self.ops.len() - 1
    }
}

/// Per-op outcome counts and per-stage timings of forward passes.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// `[views, copies, computed]` per op id.
    pub outcomes: Vec<[u32; 3]>,
    /// `(stage, output shape, time)` in execution order.
    pub stages: Vec<(&'static str, Vec<usize>, Duration)>,
}

impl Trace {
    pub fn record(&mut self, op: usize, outcome: Outcome) {
        if self.outcomes.len() <= op {
            self.outcomes.resize(op + 1, [0; 3]);
        }
        self.outcomes[op][outcome as usize] += 1;
    }

    fn record_cow<A>(&mut self, op: usize, a: &ndarray::CowArray<'_, A, ndarray::IxDyn>) {
        self.record(
            op,
            if a.is_view() {
                Outcome::View
            } else {
                Outcome::Copy
            },
        );
    }

    /// Adds `time` to stage `index`, creating it (in order) on first use.
    pub fn add_stage(
        &mut self,
        index: usize,
        name: &'static str,
        shape: Vec<usize>,
        time: Duration,
    ) {
        match self.stages.get_mut(index) {
            Some(stage) => stage.2 += time,
            None => self.stages.push((name, shape, time)),
        }
    }

    /// Adds another trace's counts; stage times keep the slower of the two.
    pub fn merge(&mut self, other: &Trace) {
        for (op, counts) in other.outcomes.iter().enumerate() {
            if self.outcomes.len() <= op {
                self.outcomes.resize(op + 1, [0; 3]);
            }
            for (mine, theirs) in self.outcomes[op].iter_mut().zip(counts) {
                *mine += theirs;
            }
        }
        if self.stages.is_empty() {
            self.stages = other.stages.clone();
        } else {
            for (mine, theirs) in self.stages.iter_mut().zip(&other.stages) {
                mine.2 = mine.2.max(theirs.2);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Parameters

/// Counts trainable parameters (as `model.parameters()` would) while loading.
struct Loader<'a> {
    src: &'a mut dyn ParamSource,
    parameters: usize,
}

impl Loader<'_> {
    fn get(
        &mut self,
        name: &str,
        shape: &[usize],
        init: Init,
        trainable: bool,
    ) -> Result<ArrayD<f32>, WeightError> {
        let a = self.src.param(name, shape, init)?;
        if trainable {
            self.parameters += a.len();
        }
        Ok(a)
    }

    fn vector(
        &mut self,
        name: &str,
        len: usize,
        init: Init,
        trainable: bool,
    ) -> Result<Array1<f32>, WeightError> {
        let a = self.get(name, &[len], init, trainable)?;
        Ok(a.into_dimensionality()
            .expect("shape checked by the source"))
    }

    fn batch_norm(&mut self, prefix: &str, c: usize) -> Result<BatchNorm, WeightError> {
        // Seeded statistics are deliberately not the identity, like the fixtures.
        let around_one = Init::Uniform {
            low: 0.5,
            high: 1.5,
        };
        let small = Init::Normal { std: 0.1 };
        Ok(BatchNorm {
            weight: self.vector(&format!("{prefix}.weight"), c, around_one, true)?,
            bias: self.vector(&format!("{prefix}.bias"), c, small, true)?,
            running_mean: self.vector(&format!("{prefix}.running_mean"), c, small, false)?,
            running_var: self.vector(&format!("{prefix}.running_var"), c, around_one, false)?,
            eps: BN_EPS,
        })
    }

    /// `nn.Conv2d` / `nn.Linear` weight and bias (PyTorch's default uniform
    /// bound `1/sqrt(fan_in)`), with the following batch norm folded in.
    fn conv(
        &mut self,
        prefix: &str,
        shape: &[usize],
        bn: Option<&str>,
    ) -> Result<(ArrayD<f32>, Array1<f32>), WeightError> {
        let fan_in: usize = shape[1..].iter().product();
        let bound = 1.0 / (fan_in as f32).sqrt();
        let init = Init::Uniform {
            low: -bound,
            high: bound,
        };
        let mut weight = self.get(&format!("{prefix}.weight"), shape, init, true)?;
        let mut bias = self.vector(&format!("{prefix}.bias"), shape[0], init, true)?;
        if let Some(bn) = bn {
            let bn = self.batch_norm(bn, shape[0])?;
            layers::fold_batch_norm(&mut weight, &mut bias, &bn);
        }
        Ok((weight, bias))
    }
}

/// A grouped 1×1 convolution (batch norm folded), an einplan [`EinMix`]
/// layer `(g ci) n -> (g co) n` with weight `g co ci`: per group one matrix
/// product `W[g] (co × ci) · x[g] (ci × b·h·w)`, written straight into the
/// caller's output rows, then bias and ReLU in one pass. Where EinMix
/// cannot go — accumulating onto a residual (`beta = 1`) and splitting the
/// columns over threads — the same products run on einplan's view
/// `(g ci) b h w -> g ci (b h w)` of the activations, with the weight the
/// layer holds.
struct Conv1x1 {
    mix: EinMix<f32>,
    mix_id: usize,
    split: Rearrange,
    id: usize,
    bias: Array1<f32>,
}

const MIX: &str = "(g ci) n -> (g co) n";
const MIX_WEIGHT: &str = "g co ci";

const GROUP_SPLIT: &str = "(g ci) b h w -> g ci (b h w)";

/// Column ranges of a matrix product below this many columns per part are
/// not worth a thread of their own; such products split their rows (the
/// output channels of every group) instead. At two threads and batch 1,
/// the 14 × 14 layers (98 columns a part) ran 2.5–4% faster over the whole
/// network with their rows split (medians of 200 forward passes each, the
/// two alternating in one process, three runs), and the 28 × 28 ones (392
/// columns a part) 1.5–6% slower.
const MIN_PARALLEL_COLUMNS: usize = 128;

impl Conv1x1 {
    fn new(
        loader: &mut Loader<'_>,
        ops: &mut OpTable,
        name: &str,
        conv: &str,
        bn: &str,
        (cin, cout, groups): (usize, usize, usize),
    ) -> Result<Conv1x1, ModelError> {
        let (ci, co) = (cin / groups, cout / groups);
        let (weight, bias) = loader.conv(conv, &[cout, ci, 1, 1], Some(bn))?;
        // PyTorch's [(g co), ci, 1, 1] is [g, co, ci] in memory.
        let weight = weight
            .into_shape_with_order((groups, co, ci))
            .map_err(|e| shape_err(conv, e))?;
        let lengths = [("g", groups), ("ci", ci), ("co", co)];
        let mut mix = EinMix::<f32>::new(MIX, MIX_WEIGHT, None, &lengths)?;
        mix.set_weight(&weight)?;
        let mix_id = ops.register(format!("{name}.mix"), "einmix", MIX, &lengths);
        let split = Rearrange::new(GROUP_SPLIT)?.with("g", groups)?;
        let id = ops.register(name.to_owned(), "rearrange", GROUP_SPLIT, &[("g", groups)]);
        Ok(Conv1x1 {
            mix,
            mix_id,
            split,
            id,
            bias,
        })
    }

    /// The layer's weight, `[g, co, ci]`.
    fn weight(&self) -> ArrayView3<'_, f32> {
        let w = self.mix.weight().view();
        w.into_dimensionality::<Ix3>()
            .expect("the weight is `g co ci`")
    }

    /// `c = W · x + beta · c`, group by group, for images `x` stored
    /// channels first (`[cin, b, h, w]`) and `c` (`[cout, b·h·w]`); then
    /// `c = max(c + bias, 0)` if `bias_relu`. The columns are split into up to `parts`
    /// ranges that run in parallel. On one part, with `beta` 0 or 1, the
    /// product is the EinMix's (einplan's product kernel), and `spare`
    /// holds `W · x` before it is added to `c`. Split into parts, each
    /// part's columns go to matrixmultiply group by group, accumulating
    /// onto `c`: at two threads and batch 1 this was 1–3% faster over the
    /// whole network than einplan's kernel per part (medians of 200 forward
    /// passes each, the two alternating in one process, five runs).
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        x: ArrayView4<'_, f32>,
        c: ArrayViewMut2<'_, f32>,
        beta: f32,
        bias_relu: bool,
        parts: usize,
        spare: &mut Lines,
        trace: &mut Trace,
    ) -> Result<(), ModelError> {
        let bias = self.bias.as_slice().expect("fresh vector");
        let weight = self.weight();
        if parts == 1 && (beta == 0.0 || beta == 1.0) {
            let (cin, b, h, w) = x.dim();
            let x = x
                .into_shape_with_order((cin, b * h * w))
                .map_err(|e| shape_err("conv1x1", e))?;
            let mut c = c;
            if beta == 0.0 {
                self.mix.apply_into(&x, &mut c)?;
                trace.record(self.mix_id, Outcome::Computed);
                if bias_relu {
                    layers::bias_relu_rows(&mut c, bias);
                }
                return Ok(());
            }
            // The identity shortcut: `W · x` into `spare`, then one pass
            // adds it, the bias and ReLU onto `c`.
            let mut product = view_mut2(ensure(spare, c.len()), c.dim())?;
            self.mix.apply_into(&x, &mut product)?;
            trace.record(self.mix_id, Outcome::Computed);
            if bias_relu {
                layers::add_bias_relu_rows(&mut c, &product.view(), bias);
            } else {
                c += &product;
            }
            return Ok(());
        }
        let groups = self.split.apply(&x)?;
        trace.record_cow(self.id, &groups);
        let groups = groups
            .view()
            .into_dimensionality::<Ix3>()
            .map_err(|e| shape_err("conv1x1", e))?;
        let (g, co, _) = weight.dim();
        let n = groups.dim().2;
        if parts > 1 && n < parts * MIN_PARALLEL_COLUMNS {
            // Few columns a part (at two threads: 14 x 14 and 7 x 7): split
            // every group's output rows, in multiples of 4 rather than 8, so
            // that 40 rows in two parts are 20 and 20 (not 24 and 16), which
            // is also how the depthwise step splits the channels after them.
            let rows = par::ranges(co, parts, 4);
            let mut blocks: Vec<Vec<_>> = rows.iter().map(|_| Vec::with_capacity(g)).collect();
            let mut rest = c;
            for _ in 0..g {
                for (block, r) in blocks.iter_mut().zip(&rows) {
                    let (head, tail) = rest.split_at(Axis(0), r.len());
                    block.push(head);
                    rest = tail;
                }
            }
            let jobs: Vec<_> = blocks.into_iter().zip(rows).collect();
            par::map(jobs, |(blocks, rows)| {
                for (k, mut out) in blocks.into_iter().enumerate() {
                    let w = weight.slice(s![k, rows.clone(), ..]);
                    layers::gemm(w, groups.index_axis(Axis(0), k), beta, &mut out);
                    if bias_relu {
                        let first = k * co + rows.start;
                        layers::bias_relu_rows(&mut out, &bias[first..first + rows.len()]);
                    }
                }
            });
            return Ok(());
        }
        let cols = par::ranges(n, parts.min(n / MIN_PARALLEL_COLUMNS).max(1), 16);
        let jobs: Vec<_> = par::split_columns(c, &cols).into_iter().zip(cols).collect();
        par::map(jobs, |(mut c, cols)| {
            for k in 0..g {
                let mut out = c.slice_mut(s![k * co..(k + 1) * co, ..]);
                let x = groups.slice(s![k, .., cols.clone()]);
                layers::gemm(weight.index_axis(Axis(0), k), x, beta, &mut out);
            }
            if bias_relu {
                layers::bias_relu_rows(&mut c, bias);
            }
        });
        Ok(())
    }
}

/// A buffer whose slices start on a 64-byte cache line.
///
/// Threads split the matrices of a forward pass at multiples of 16
/// columns (64 bytes of `f32`); from a line-aligned start, each row's cut
/// falls between two cache lines, so no line is written by both threads.
/// (Allocations are only 16-byte aligned.) With the buffers on lines, a
/// batch of 8 on two threads took 22.2–27.4 ms against 28.1–34.9 ms (the
/// two binaries alternating, four rounds of 40 passes); a batch of 1 was
/// unchanged on one thread and on two.
#[derive(Debug, Default)]
pub struct Lines(Vec<f32>);

/// The most elements before a 64-byte line: 16 `f32`s to a line.
const LINE_SLACK: usize = 15;

/// `n` elements of `v` from its first 64-byte line, growing it first if it
/// is shorter. The contents stay where they are between calls as long as
/// `n` does not grow (growing may move them to a new allocation, whose
/// first line is at another offset).
fn ensure(v: &mut Lines, n: usize) -> &mut [f32] {
    let v = &mut v.0;
    let len = n.saturating_add(LINE_SLACK);
    if v.len() < len {
        v.resize(len, 0.0);
    }
    let start = v.as_ptr().align_offset(64).min(LINE_SLACK);
    &mut v[start..start + n]
}

/// `v[..n]`, with at least `n` scratch buffers in `v`.
fn ensure_buffers(v: &mut Vec<Lines>, n: usize) -> &mut [Lines] {
    if v.len() < n {
        v.resize_with(n, Lines::default);
    }
    &mut v[..n]
}

fn view4(
    data: &[f32],
    shape: (usize, usize, usize, usize),
) -> Result<ArrayView4<'_, f32>, ModelError> {
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    ArrayView4::from_shape(shape, &data[..n]).map_err(|e| shape_err("activation", e))
}

fn view_mut2(
    data: &mut [f32],
    shape: (usize, usize),
) -> Result<ArrayViewMut2<'_, f32>, ModelError> {
    ArrayViewMut2::from_shape(shape, &mut data[..shape.0 * shape.1])
        .map_err(|e| shape_err("activation", e))
}

// ---------------------------------------------------------------------------
// The unit

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Combine {
    /// Identity shortcut added to the branch; keeps shape.
    Add,
    /// 3×3 stride-2 average-pool shortcut concatenated with the branch.
    Concat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub groups: usize,
    /// Whether the first 1×1 convolution is grouped (not in the very first unit).
    pub grouped_conv: bool,
    pub combine: Combine,
}

impl UnitConfig {
    /// `(bottleneck, branch output channels)`, or why the unit cannot exist.
    pub fn channels(&self) -> Result<(usize, usize), String> {
        let &UnitConfig {
            in_channels: cin,
            out_channels: cout,
            groups: g,
            grouped_conv,
            combine,
        } = self;
        if g == 0 || cin == 0 || cout == 0 {
            return Err("channels and groups must be positive".into());
        }
        let bottleneck = cout / 4;
        let branch = match combine {
            Combine::Add if cin != cout => {
                return Err(format!(
                    "combine add needs in_channels == out_channels, got {cin} and {cout}"
                ));
            }
            Combine::Add => cout,
            Combine::Concat if cout <= cin => {
                return Err(format!(
                    "combine concat needs out_channels > in_channels, got {cout} <= {cin}"
                ));
            }
            Combine::Concat => cout - cin,
        };
        let first_groups = if grouped_conv { g } else { 1 };
        for (what, n, d) in [
            ("bottleneck channels (out_channels / 4)", bottleneck, g),
            ("in_channels", cin, first_groups),
            ("branch output channels", branch, g),
        ] {
            if n == 0 || n % d != 0 {
                return Err(format!(
                    "{what} = {n} is not a positive multiple of {d} groups"
                ));
            }
        }
        Ok((bottleneck, branch))
    }
}

/// Buffers a unit works in, kept between calls so that a forward pass
/// allocates nothing once they have grown to size.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Output of the first 1×1 convolution, before bias and ReLU.
    hidden: Lines,
    /// Output of the depthwise convolution, shuffled order, without bias.
    depthwise: Lines,
    /// One padded plane per parallel part.
    pads: Vec<Lines>,
}

/// What one parallel part of a unit's 3×3 step does.
enum WindowJob<'a> {
    /// Depthwise convolution of the channels in the range (shuffled order).
    Depthwise(Range<usize>, &'a mut [f32], &'a mut Lines),
    /// Average-pool shortcut of the input channels in the range.
    Pool(Range<usize>, &'a mut [f32], &'a mut Lines),
}

/// `ShuffleUnitNew` of the reference: grouped 1×1 conv + BN + ReLU, channel
/// shuffle, 3×3 depthwise conv + BN, grouped 1×1 conv + BN, then combine with
/// the shortcut and ReLU.
///
/// How it runs on a batch stored channels first (batch norms already folded):
/// 1. the first 1×1 convolution: one matrix product per group into the
///    `hidden` buffer, then bias and ReLU over the same columns while they
///    are in cache;
/// 2. the shuffle is einplan's view `(c1 c2) b h w -> c2 c1 b h w`: the
///    depthwise convolution reads channel `(c2, c1)` of that view for its
///    output channel `c2 · g + c1` (copying the plane into its padded
///    scratch, which it does for every channel anyway);
/// 3. the depthwise bias is folded into the second 1×1 convolution's bias
///    (nothing non-linear stands between them);
/// 4. `add`: the second convolution accumulates onto the input in place
///    (`beta = 1`), then bias + ReLU in one pass over its column range;
///    `concat`: the average-pooled shortcut (with ReLU) fills the first
///    channels of the output and the second convolution writes the rest.
pub struct ShuffleUnit {
    pub config: UnitConfig,
    bottleneck: usize,
    branch: usize,
    conv1: Conv1x1,
    shuffle: Rearrange,
    shuffle_id: usize,
    /// Depthwise taps per channel, shuffled order, batch norm folded.
    depthwise: Vec<[f32; 9]>,
    stride: usize,
    /// Its bias includes the depthwise bias.
    conv2: Conv1x1,
}

const SHUFFLE_VIEW: &str = "(c1 c2) b h w -> c2 c1 b h w";

impl ShuffleUnit {
    /// Builds the unit from parameters named `{prefix}right.0.weight`, ….
    pub fn new(
        config: UnitConfig,
        prefix: &str,
        params: &mut dyn ParamSource,
        ops: &mut OpTable,
    ) -> Result<ShuffleUnit, ModelError> {
        let mut loader = Loader {
            src: params,
            parameters: 0,
        };
        ShuffleUnit::load(config, prefix, &mut loader, ops)
    }

    fn load(
        config: UnitConfig,
        prefix: &str,
        loader: &mut Loader<'_>,
        ops: &mut OpTable,
    ) -> Result<ShuffleUnit, ModelError> {
        let (bottleneck, branch) = config.channels().map_err(ModelError::Config)?;
        let g = config.groups;
        let first_groups = if config.grouped_conv { g } else { 1 };
        let p = |s: &str| format!("{prefix}{s}");
        let name = prefix.trim_end_matches('.');
        let op_name = |s: &str| {
            if name.is_empty() {
                s.to_owned()
            } else {
                format!("{name}.{s}")
            }
        };

        let conv1 = Conv1x1::new(
            loader,
            ops,
            &op_name("conv1"),
            &p("right.0"),
            &p("right.1"),
            (config.in_channels, bottleneck, first_groups),
        )?;
        let shuffle = Rearrange::new(SHUFFLE_VIEW)?.with("c1", g)?;
        let shuffle_id = ops.register(op_name("shuffle"), "rearrange", SHUFFLE_VIEW, &[("c1", g)]);
        let (dw_weight, dw_bias) =
            loader.conv(&p("right.4"), &[bottleneck, 1, 3, 3], Some(&p("right.5")))?;
        let depthwise = dw_weight
            .as_standard_layout()
            .as_slice()
            .expect("standard layout")
            .chunks_exact(9)
            .map(|k| k.try_into().expect("9 taps"))
            .collect();
        let mut conv2 = Conv1x1::new(
            loader,
            ops,
            &op_name("conv2"),
            &p("right.6"),
            &p("right.7"),
            (bottleneck, branch, g),
        )?;
        // conv2(dw(x) + b_dw) = conv2(dw(x)) + W2 · b_dw, group by group.
        let weight = conv2.weight().to_owned();
        let (_, co, ci) = weight.dim();
        for (k, w) in weight.outer_iter().enumerate() {
            let b_dw = &dw_bias.as_slice().expect("fresh vector")[k * ci..(k + 1) * ci];
            for (o, row) in w.outer_iter().enumerate() {
                let extra: f64 = row
                    .iter()
                    .zip(b_dw)
                    .map(|(&w, &b)| f64::from(w) * f64::from(b))
                    .sum();
                let b = &mut conv2.bias[k * co + o];
                *b = (f64::from(*b) + extra) as f32;
            }
        }
        let stride = match config.combine {
            Combine::Add => 1,
            Combine::Concat => 2,
        };
        Ok(ShuffleUnit {
            config,
            bottleneck,
            branch,
            conv1,
            shuffle,
            shuffle_id,
            depthwise,
            stride,
            conv2,
        })
    }

    /// Output shape for an `(n, c, h, w)` input.
    pub fn output_dim(
        &self,
        (n, _, h, w): (usize, usize, usize, usize),
    ) -> (usize, usize, usize, usize) {
        let (oh, ow) = (
            layers::out_len(h, self.stride),
            layers::out_len(w, self.stride),
        );
        (n, self.config.out_channels, oh, ow)
    }

    /// Runs the unit on a batch: each image through [`ShuffleUnit::run`].
    pub fn forward(
        &self,
        x: ArrayView4<'_, f32>,
        trace: &mut Trace,
    ) -> Result<Array4<f32>, ModelError> {
        let (_, c, h, w) = x.dim();
        if c != self.config.in_channels || h == 0 || w == 0 {
            return Err(ModelError::Input(format!(
                "unit expects [n, {}, h, w] with h, w >= 1, got {:?}",
                self.config.in_channels,
                x.shape()
            )));
        }
        let mut out = Array4::zeros(self.output_dim(x.dim()));
        let mut scratch = Scratch::default();
        let mut image = Vec::with_capacity(c * h * w);
        for (x, mut out) in x.outer_iter().zip(out.outer_iter_mut()) {
            image.clear();
            match x.as_slice() {
                Some(x) => image.extend_from_slice(x),
                None => image.extend(x.iter().copied()),
            }
            let out = out.as_slice_mut().expect("fresh array");
            match self.config.combine {
                Combine::Add => {
                    self.run(&mut image, (1, h, w), &mut [], &mut scratch, 1, trace)?;
                    out.copy_from_slice(&image);
                }
                Combine::Concat => self.run(&mut image, (1, h, w), out, &mut scratch, 1, trace)?,
            }
        }
        Ok(out)
    }

    /// `b` images stored channels first, `x` (`[cin, b, h, w]`, standard
    /// layout): `add` leaves its result in `x`; `concat` writes `out`
    /// (`[cout, b, h / 2, w / 2]`). Each step splits over up to `parts`
    /// threads.
    pub fn run(
        &self,
        x: &mut [f32],
        (b, h, w): (usize, usize, usize),
        out: &mut [f32],
        scratch: &mut Scratch,
        parts: usize,
        trace: &mut Trace,
    ) -> Result<(), ModelError> {
        let (cin, bott, g) = (self.config.in_channels, self.bottleneck, self.config.groups);
        let win = Window::new(h, w, self.stride);
        let (hw, ohw) = (h * w, win.out_plane());
        // Every matrix has the images' pixels as its columns.
        let (bhw, bohw) = (b * hw, b * ohw);
        let Scratch {
            hidden,
            depthwise,
            pads,
        } = scratch;

        // 1. First 1x1 convolution with bias and ReLU.
        let mut unused = Lines::default();
        self.conv1.run(
            view4(x, (cin, b, h, w))?,
            view_mut2(ensure(hidden, bott * bhw), (bott, bhw))?,
            0.0,
            true,
            parts,
            &mut unused,
            trace,
        )?;

        // 2. Shuffle as a view, depthwise 3x3 (and the pooled shortcut).
        let hidden_buf = hidden;
        let hidden = view4(ensure(hidden_buf, bott * bhw), (bott, b, h, w))?;
        let shuffled = self.shuffle.apply(&hidden)?;
        trace.record_cow(self.shuffle_id, &shuffled);
        let shuffled = shuffled
            .view()
            .into_dimensionality::<Ix5>()
            .map_err(|e| shape_err("shuffle", e))?;
        let depthwise = ensure(depthwise, bott * bohw);
        let dw_parts = par::ranges(bott, parts, 1);
        let pool_parts = match self.config.combine {
            Combine::Add => vec![],
            Combine::Concat => par::ranges(cin, parts, 1),
        };
        let pooled_len = if pool_parts.is_empty() { 0 } else { cin * bohw };
        let (pooled, branch_out) = out.split_at_mut(pooled_len);
        let jobs_len = dw_parts.len() + pool_parts.len();
        let (dw_pads, pool_pads) = ensure_buffers(pads, jobs_len).split_at_mut(dw_parts.len());
        let mut jobs = Vec::with_capacity(jobs_len);
        for ((r, o), pad) in dw_parts
            .iter()
            .zip(par::split_items(depthwise, &dw_parts, bohw))
            .zip(dw_pads)
        {
            jobs.push(WindowJob::Depthwise(r.clone(), o, pad));
        }
        for ((r, o), pad) in pool_parts
            .iter()
            .zip(par::split_items(pooled, &pool_parts, bohw))
            .zip(pool_pads)
        {
            jobs.push(WindowJob::Pool(r.clone(), o, pad));
        }
        let input = &*x;
        par::map(jobs, |job| match job {
            WindowJob::Depthwise(channels, out, pad) => {
                let pad = ensure(pad, win.scratch_len());
                for (j, out) in channels.zip(out.chunks_exact_mut(bohw)) {
                    let images = shuffled.slice(s![j / g, j % g, .., .., ..]);
                    for (plane, out) in images.outer_iter().zip(out.chunks_exact_mut(ohw)) {
                        win.pad(plane, pad, |v| v);
                        win.conv(pad, &self.depthwise[j], out, |v| v);
                    }
                }
            }
            WindowJob::Pool(channels, out, pad) => {
                let pad = ensure(pad, win.scratch_len());
                let planes = input[channels.start * bhw..channels.end * bhw].chunks_exact(hw);
                for (plane, out) in planes.zip(out.chunks_exact_mut(ohw)) {
                    let plane = ArrayView2::from_shape((h, w), plane).expect("h * w");
                    win.pad(plane, pad, |v| v);
                    win.avg(pad, out, |v| v.max(0.0));
                }
            }
        });

        // 3. Second 1x1 convolution with bias, shortcut and ReLU.
        let depthwise = view4(depthwise, (bott, b, win.out_h(), win.out_w()))?;
        match self.config.combine {
            Combine::Add => {
                let c = view_mut2(x, (cin, bhw))?;
                // `hidden` is free again: it holds the product.
                self.conv2
                    .run(depthwise, c, 1.0, true, parts, hidden_buf, trace)
            }
            Combine::Concat => {
                let c = view_mut2(branch_out, (self.branch, bohw))?;
                self.conv2
                    .run(depthwise, c, 0.0, true, parts, hidden_buf, trace)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The network

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetConfig {
    pub groups: usize,
    pub scale: f64,
    pub num_classes: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            groups: 3,
            scale: 1.0,
            num_classes: 1000,
        }
    }
}

pub struct ShuffleNet {
    pub config: NetConfig,
    /// Output channels of stages 2, 3, 4.
    pub channels: [usize; 3],
    /// Trainable parameter count of the PyTorch model.
    pub parameters: usize,
    pub ops: OpTable,
    /// The stem convolution as a product of its `[24, 27]` filters and
    /// im2col blocks.
    stem: EinMix<f32>,
    stem_id: usize,
    stem_bias: Vec<f32>,
    stages: Vec<(&'static str, Vec<ShuffleUnit>)>,
    pool: Reduce,
    pool_id: usize,
    fc: Einsum,
    fc_id: usize,
    fc_weight: Array2<f32>,
    fc_bias: Array1<f32>,
}

const POOL: &str = "c b h w -> b c";
const LINEAR: &str = "b ci, co ci -> b co";

/// Output rows of the stem convolution per im2col block: 8 rows of 112
/// pixels keep the 27 × 896 block in the L2 cache.
const STEM_ROWS: usize = 8;

/// The stem convolution: the filters `[co, (c kh kw)]` times an im2col
/// block whose rows are the input channels' taps.
const STEM_MIX: &str = "k n -> co n";
const STEM_WEIGHT: &str = "co k";

/// Buffers for one image at a time, kept between forward passes.
#[derive(Debug, Default)]
pub struct Workspace {
    /// The activations between units (`add` units work in place).
    a: Lines,
    b: Lines,
    /// Padded input planes of the stem.
    stem_in: Lines,
    /// Stem convolution output, before bias.
    stem_out: Lines,
    /// One im2col block per parallel part.
    cols: Vec<Lines>,
    unit: Scratch,
}

impl ShuffleNet {
    pub fn new(config: NetConfig, params: &mut dyn ParamSource) -> Result<ShuffleNet, ModelError> {
        let NetConfig {
            groups,
            scale,
            num_classes,
        } = config;
        let channels = stage_channels(groups, scale).ok_or_else(|| {
            ModelError::Config(format!("groups must be one of 1, 2, 3, 4, 8, got {groups}"))
        })?;
        if !SCALE_RANGE.contains(&scale) {
            return Err(ModelError::Config(format!(
                "scale must be in 0.25..=2.0, got {scale}"
            )));
        }
        if num_classes == 0 {
            return Err(ModelError::Config("num_classes must be positive".into()));
        }
        let mut loader = Loader {
            src: params,
            parameters: 0,
        };
        let mut ops = OpTable::default();

        let (stem_weight, stem_bias) =
            loader.conv("conv1", &[STEM_CHANNELS, 3, 3, 3], Some("bn1"))?;
        let stem_weight = stem_weight
            .into_shape_with_order((STEM_CHANNELS, 27))
            .map_err(|e| shape_err("conv1", e))?;
        let stem_lengths = [("k", 27), ("co", STEM_CHANNELS)];
        let mut stem = EinMix::<f32>::new(STEM_MIX, STEM_WEIGHT, None, &stem_lengths)?;
        stem.set_weight(&stem_weight)?;
        let stem_id = ops.register("conv1.mix".into(), "einmix", STEM_MIX, &stem_lengths);

        let mut stages = Vec::new();
        let mut cin = STEM_CHANNELS;
        for (s, (&cout, &repeats)) in channels.iter().zip(&STAGE_REPEATS).enumerate() {
            let name: &'static str = ["stage2", "stage3", "stage4"][s];
            let mut units = Vec::with_capacity(repeats);
            for i in 0..repeats {
                let config = UnitConfig {
                    in_channels: if i == 0 { cin } else { cout },
                    out_channels: cout,
                    groups,
                    grouped_conv: !(s == 0 && i == 0),
                    combine: if i == 0 {
                        Combine::Concat
                    } else {
                        Combine::Add
                    },
                };
                units.push(ShuffleUnit::load(
                    config,
                    &format!("{name}.{i}."),
                    &mut loader,
                    &mut ops,
                )?);
            }
            stages.push((name, units));
            cin = cout;
        }

        let pool = Reduce::new(POOL, Reduction::Mean)?;
        let pool_id = ops.register("pool".into(), "reduce", POOL, &[]);
        let (fc_weight, fc_bias) = loader.conv("fc", &[num_classes, cin], None)?;
        let fc_weight = fc_weight
            .into_dimensionality::<Ix2>()
            .map_err(|e| shape_err("fc", e))?;
        let fc = Einsum::new(LINEAR)?;
        let fc_id = ops.register("fc".into(), "einsum", LINEAR, &[]);

        Ok(ShuffleNet {
            config,
            channels,
            parameters: loader.parameters,
            ops,
            stem,
            stem_id,
            stem_bias: stem_bias.to_vec(),
            stages,
            pool,
            pool_id,
            fc,
            fc_id,
            fc_weight,
            fc_bias,
        })
    }

    /// Logits `[n, num_classes]` for images `[n, 3, h, w]` on the calling
    /// thread, recording stage times and op outcomes in `trace`.
    #[cfg(test)]
    pub fn forward(
        &self,
        x: ArrayView4<'_, f32>,
        trace: &mut Trace,
    ) -> Result<Array2<f32>, ModelError> {
        Runner::new(1)?.forward(self, x, trace)
    }

    /// Stem convolution + BN + ReLU and 3×3 max pool of image `i` of
    /// `images` into `ws.a` (`[24, images, h, w]`, channels first); returns
    /// the pooled plane's `(h, w)`.
    fn stem(
        &self,
        image: ArrayView3<'_, f32>,
        (i, images): (usize, usize),
        ws: &mut Workspace,
        parts: usize,
        trace: &mut Trace,
    ) -> Result<(usize, usize), ModelError> {
        let (_, h, w) = image.dim();
        let conv = Window::new(h, w, 2);
        let (oh, ow, pl) = (conv.out_h(), conv.out_w(), conv.padded_len());
        let planes = ensure(&mut ws.stem_in, 3 * pl);
        for (c, p) in planes.chunks_exact_mut(pl).enumerate() {
            conv.pad(image.index_axis(Axis(0), c), p, |v| v);
        }
        let planes = &*planes;

        // Convolution: im2col blocks of rows times the [24, 27] filters.
        let stem_out = ensure(&mut ws.stem_out, STEM_CHANNELS * oh * ow);
        let rows = par::ranges(oh, parts, 1);
        let columns: Vec<_> = rows.iter().map(|r| r.start * ow..r.end * ow).collect();
        let outs = par::split_columns(view_mut2(stem_out, (STEM_CHANNELS, oh * ow))?, &columns);
        let cols = ensure_buffers(&mut ws.cols, rows.len());
        let jobs: Vec<_> = rows.into_iter().zip(outs).zip(cols).collect();
        par::map(
            jobs,
            |((rows, mut out), cols)| -> Result<(), einplan::Error> {
                let mut y = rows.start;
                while y < rows.end {
                    let block = y..(y + STEM_ROWS).min(rows.end);
                    let len = block.len() * ow;
                    let cols = ensure(cols, 27 * len);
                    conv.im2col(planes, block.clone(), cols);
                    let cols = ArrayView2::from_shape((27, len), &*cols).expect("27 rows");
                    let first = (block.start - rows.start) * ow;
                    let mut out = out.slice_mut(s![.., first..first + len]);
                    self.stem.apply_into(&cols, &mut out)?;
                    y = block.end;
                }
                Ok(())
            },
        )
        .into_iter()
        .collect::<Result<(), _>>()?;
        trace.record(self.stem_id, Outcome::Computed);

        // Bias + ReLU on the way into the max pool's padded planes.
        let pool = Window::new(oh, ow, 2);
        let stem_out = &*stem_out;
        let plane = pool.out_plane();
        let pooled = ensure(&mut ws.a, STEM_CHANNELS * images * plane);
        let channels = par::ranges(STEM_CHANNELS, parts, 1);
        let outs = par::split_items(pooled, &channels, images * plane);
        let pads = ensure_buffers(&mut ws.unit.pads, channels.len());
        let jobs: Vec<_> = channels.into_iter().zip(outs).zip(pads).collect();
        par::map(jobs, |((channels, out), pad)| {
            let pad = ensure(pad, pool.scratch_len());
            for (c, out) in channels.zip(out.chunks_exact_mut(images * plane)) {
                let out = &mut out[i * plane..(i + 1) * plane];
                let plane = ArrayView2::from_shape((oh, ow), &stem_out[c * oh * ow..][..oh * ow])
                    .expect("stem plane");
                let b = self.stem_bias[c];
                pool.pad(plane, pad, |v| (v + b).max(0.0));
                pool.max(pad, out);
            }
        });
        Ok((pool.out_h(), pool.out_w()))
    }

    /// Images `[n, 3, h, w]` through the stem (one by one) and the stages
    /// (all together, stored channels first: every 1×1 convolution is one
    /// product per group over all the images' pixels), their pooled
    /// features written to `pooled` (`[n, channels]`).
    fn run_images(
        &self,
        images: ArrayView4<'_, f32>,
        pooled: ArrayViewMut2<'_, f32>,
        ws: &mut Workspace,
        parts: usize,
        trace: &mut Trace,
    ) -> Result<(), ModelError> {
        let t = Instant::now();
        let n = images.dim().0;
        let (mut h, mut w) = (0, 0);
        for (i, image) in images.outer_iter().enumerate() {
            (h, w) = self.stem(image, (i, n), ws, parts, trace)?;
        }
        let mut c = STEM_CHANNELS;
        trace.add_stage(0, "stem", vec![n, c, h, w], t.elapsed());

        let Workspace { a, b, unit, .. } = ws;
        for (s, (name, units)) in self.stages.iter().enumerate() {
            let t = Instant::now();
            for u in units {
                let (_, oc, oh, ow) = u.output_dim((n, c, h, w));
                let x = ensure(a, c * n * h * w);
                match u.config.combine {
                    Combine::Add => u.run(x, (n, h, w), &mut [], unit, parts, trace)?,
                    Combine::Concat => {
                        let out = ensure(b, oc * n * oh * ow);
                        u.run(x, (n, h, w), out, unit, parts, trace)?;
                        std::mem::swap(a, b);
                    }
                }
                (c, h, w) = (oc, oh, ow);
            }
            trace.add_stage(s + 1, name, vec![n, c, h, w], t.elapsed());
        }

        let t = Instant::now();
        let mut pooled = pooled;
        self.pool
            .apply_into(&view4(ensure(a, c * n * h * w), (c, n, h, w))?, &mut pooled)?;
        trace.record(self.pool_id, Outcome::Computed);
        trace.add_stage(4, "head", vec![n, self.config.num_classes], t.elapsed());
        Ok(())
    }

    /// `pooled · fcᵀ + bias`: the classifier, timed into the head stage.
    /// With several `parts`, each computes a range of the classes.
    fn classify(
        &self,
        pooled: &Array2<f32>,
        parts: usize,
        trace: &mut Trace,
    ) -> Result<Array2<f32>, ModelError> {
        let t = Instant::now();
        let classes = par::ranges(self.config.num_classes, parts, 8);
        let logits = par::map(classes, |classes| {
            let weight = self.fc_weight.slice(s![classes, ..]);
            self.fc
                .apply(&[pooled.view().into_dyn(), weight.into_dyn()])
        });
        trace.record(self.fc_id, Outcome::Computed);
        let logits = logits
            .into_iter()
            .map(|l| {
                l?.into_dimensionality::<Ix2>()
                    .map_err(|e| shape_err("fc", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let views: Vec<_> = logits.iter().map(|l| l.view()).collect();
        let mut logits = ndarray::concatenate(Axis(1), &views).map_err(|e| shape_err("fc", e))?;
        for mut row in logits.rows_mut() {
            row += &self.fc_bias;
        }
        trace.add_stage(
            4,
            "head",
            vec![pooled.nrows(), self.config.num_classes],
            t.elapsed(),
        );
        Ok(logits)
    }
}

/// Runs a network on a thread pool with buffers kept between calls.
///
/// With one thread everything runs on the caller's thread. With `T > 1`
/// threads, a batch of at least `T` images is split into `T` runs of
/// consecutive images, one per thread; a smaller batch splits each layer's
/// work (columns or, for few columns, rows of the matrix products, channels
/// of the 3×3 windows, rows of the stem, classes of the classifier).
pub struct Runner {
    threads: usize,
    workspaces: Vec<Workspace>,
    #[cfg(feature = "rayon")]
    pool: Option<rayon::ThreadPool>,
}

impl Runner {
    pub fn new(threads: usize) -> Result<Runner, ModelError> {
        let threads = threads.max(1);
        #[cfg(feature = "rayon")]
        let pool = match threads {
            1 => None,
            t => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(t)
                    .build()
                    .map_err(|e| ModelError::Config(format!("cannot start {t} threads: {e}")))?,
            ),
        };
        #[cfg(not(feature = "rayon"))]
        if threads > 1 {
            return Err(ModelError::Config(
                "more than one thread needs the `rayon` feature".into(),
            ));
        }
        Ok(Runner {
            threads,
            workspaces: Vec::new(),
            #[cfg(feature = "rayon")]
            pool,
        })
    }

    /// Logits `[n, num_classes]` for images `[n, 3, h, w]`, recording stage
    /// times (the slowest thread's) and op outcomes in `trace`.
    pub fn forward(
        &mut self,
        net: &ShuffleNet,
        x: ArrayView4<'_, f32>,
        trace: &mut Trace,
    ) -> Result<Array2<f32>, ModelError> {
        let (n, c, h, w) = x.dim();
        if c != 3 || h == 0 || w == 0 {
            return Err(ModelError::Input(format!(
                "expected images [n, 3, h, w], got {:?}",
                x.shape()
            )));
        }
        let threads = self.threads;
        let (runs, parts) = if n >= threads {
            (threads, 1)
        } else {
            (1, threads)
        };
        let batches = par::ranges(n, runs, 1);
        if self.workspaces.len() < batches.len() {
            self.workspaces
                .resize_with(batches.len(), Workspace::default);
        }
        let workspaces = &mut self.workspaces;
        // The whole pass, the classifier included, in one `install`: each
        // `install` from outside the pool wakes a worker and, at its end,
        // the caller (0.5–1% of a pass at two threads and batch 1, the
        // medians of 2000 passes each way, alternating in one process).
        let run = move || {
            let mut pooled = Array2::<f32>::zeros((n, net.channels[2]));
            let mut outs = Vec::with_capacity(batches.len());
            let mut rest = pooled.view_mut();
            for r in &batches {
                let (mine, others) = rest.split_at(Axis(0), r.len());
                outs.push(mine);
                rest = others;
            }
            let jobs: Vec<_> = batches
                .into_iter()
                .zip(outs)
                .zip(workspaces.iter_mut())
                .collect();
            let results = par::map(jobs, |((images, out), ws)| {
                let mut t = Trace::default();
                let images = x.slice(s![images, .., .., ..]);
                net.run_images(images, out, ws, parts, &mut t)?;
                Ok::<Trace, ModelError>(t)
            });
            for r in results {
                trace.merge(&r?);
            }
            for stage in &mut trace.stages {
                stage.1[0] = n;
            }
            net.classify(&pooled, threads, trace)
        };
        #[cfg(feature = "rayon")]
        return match &self.pool {
            Some(pool) => pool.install(run),
            None => run(),
        };
        #[cfg(not(feature = "rayon"))]
        run()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::tests::{conv_reference, pool_reference};
    use crate::weights::{SeededInit, StateDict, XorShift64};
    use ndarray::Ix4;

    /// Every slice `ensure` hands out starts on a 64-byte line, whatever
    /// the allocation's own alignment, and keeps its contents while the
    /// length does not grow.
    #[test]
    fn lines_start_on_a_cache_line() {
        let mut lines = Lines::default();
        for n in [1, 15, 16, 17, 1000, 100_000, 50] {
            let s = ensure(&mut lines, n);
            assert_eq!(s.len(), n);
            assert_eq!(s.as_ptr() as usize % 64, 0, "{n} elements");
        }
        let s = ensure(&mut lines, 50);
        s[0] = 1.0;
        s[49] = 2.0;
        let s = ensure(&mut lines, 50);
        assert_eq!((s[0], s[49]), (1.0, 2.0));
        assert_eq!(ensure(&mut lines, 10)[0], 1.0);
        // Many buffers at once, so that some allocations are not on a line.
        let mut many: Vec<Lines> = (0..16).map(|_| Lines::default()).collect();
        for (k, l) in many.iter_mut().enumerate() {
            assert_eq!(ensure(l, 3 + k).as_ptr() as usize % 64, 0);
        }
    }

    #[test]
    fn stage_channels_match_the_python_rule() {
        assert_eq!(stage_channels(3, 1.0), Some([240, 480, 960]));
        assert_eq!(stage_channels(3, 0.25), Some([60, 120, 240]));
        assert_eq!(stage_channels(8, 0.25), Some([96, 192, 384]));
        assert_eq!(stage_channels(1, 0.5), Some([72, 144, 288]));
        // int(272 * 1.5) = 408 -> 400 (multiple of 16); 544 * 1.5 = 816; 1088 * 1.5 = 1632
        assert_eq!(stage_channels(4, 1.5), Some([400, 816, 1632]));
        assert_eq!(stage_channels(2, 2.0), Some([400, 800, 1600]));
        assert_eq!(stage_channels(5, 1.0), None);
        for &(g, _) in &STAGE_CHANNELS {
            for scale in [0.25, 0.3, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0] {
                let [c2, c3, c4] = stage_channels(g, scale).unwrap();
                assert!(c2 % (4 * g) == 0 && c3 % (4 * g) == 0 && c4 % (4 * g) == 0);
                assert!(
                    c2 > STEM_CHANNELS && c3 > c2 && c4 > c3,
                    "g {g} scale {scale}"
                );
            }
        }
    }

    #[test]
    fn configurations_are_recognised_from_weight_shapes() {
        let names = [
            "stage2.1.right.0.weight",
            "stage3.1.right.0.weight",
            "stage4.1.right.0.weight",
        ];
        for (groups, scale) in [(3, 1.0), (8, 0.5), (1, 0.25), (4, 1.5), (2, 2.0), (3, 0.27)] {
            let config = NetConfig {
                groups,
                scale,
                num_classes: 10,
            };
            let mut init = SeededInit::new(0);
            ShuffleNet::new(config, &mut init).unwrap();
            let shape = |name: &str| {
                let (_, s) = init.produced.iter().find(|(n, _)| n == name).unwrap();
                s.as_slice()
            };
            let (g, s) = guess_config(names.map(shape)).unwrap();
            assert_eq!(g, groups);
            assert_eq!(stage_channels(g, s), stage_channels(groups, scale));
            if scale != 0.27 {
                assert_eq!(s, scale);
            }
        }
        // g 3, scale 0.25: widths 60, 120, 240.
        let s025: [&[usize]; 3] = [&[15, 20, 1, 1], &[30, 40, 1, 1], &[60, 80, 1, 1]];
        assert_eq!(guess_config(s025), Some((3, 0.25)));
        // Widths no scale gives, groups that disagree, 5 groups, 3x3 kernels.
        let bad: [[&[usize]; 3]; 4] = [
            [&[15, 20, 1, 1], &[15, 20, 1, 1], &[60, 80, 1, 1]],
            [&[15, 20, 1, 1], &[30, 60, 1, 1], &[60, 80, 1, 1]],
            [&[15, 12, 1, 1], &[30, 24, 1, 1], &[60, 48, 1, 1]],
            [&[15, 20, 3, 3], &[30, 40, 1, 1], &[60, 80, 1, 1]],
        ];
        for shapes in bad {
            assert_eq!(guess_config(shapes), None, "{shapes:?}");
        }
    }

    #[test]
    fn unit_config_is_validated() {
        let ok = UnitConfig {
            in_channels: 48,
            out_channels: 48,
            groups: 3,
            grouped_conv: true,
            combine: Combine::Add,
        };
        assert_eq!(ok.channels(), Ok((12, 48)));
        let concat = UnitConfig {
            in_channels: 24,
            out_channels: 60,
            grouped_conv: false,
            combine: Combine::Concat,
            ..ok
        };
        assert_eq!(concat.channels(), Ok((15, 36)));
        assert!(
            UnitConfig {
                out_channels: 24,
                ..concat
            }
            .channels()
            .is_err()
        );
        assert!(
            UnitConfig {
                out_channels: 96,
                ..ok
            }
            .channels()
            .is_err()
        );
        assert!(UnitConfig { groups: 5, ..ok }.channels().is_err());
        assert!(UnitConfig { groups: 0, ..ok }.channels().is_err());
    }

    /// Straightforward reference for one unit: unfolded batch norm, explicit
    /// loops for the grouped 1×1 convolutions and the shuffle.
    fn unit_reference(cfg: UnitConfig, params: &mut StateDict, x: &Array4<f32>) -> Array4<f32> {
        let (bott, branch) = cfg.channels().unwrap();
        let g = cfg.groups;
        let init = Init::Normal { std: 1.0 };
        let mut get = |n: &str, s: &[usize]| params.param(n, s, init).unwrap();
        let mut bn = |p: &str, c: usize| {
            let mut v = |k: &str| {
                get(&format!("{p}.{k}"), &[c])
                    .into_dimensionality()
                    .unwrap()
            };
            BatchNorm {
                weight: v("weight"),
                bias: v("bias"),
                running_mean: v("running_mean"),
                running_var: v("running_var"),
                eps: BN_EPS,
            }
        };
        let bn1 = bn("right.1", bott);
        let bn5 = bn("right.5", bott);
        let bn7 = bn("right.7", branch);
        let g1 = if cfg.grouped_conv { g } else { 1 };
        let w0 = get("right.0.weight", &[bott, cfg.in_channels / g1, 1, 1]);
        let b0 = get("right.0.bias", &[bott]);
        let w4 = get("right.4.weight", &[bott, 1, 3, 3])
            .into_dimensionality::<Ix4>()
            .unwrap();
        let b4 = get("right.4.bias", &[bott]);
        let w6 = get("right.6.weight", &[branch, bott / g, 1, 1]);
        let b6 = get("right.6.bias", &[branch]);

        let conv1x1 = |x: &Array4<f32>, w: &ArrayD<f32>, b: &ArrayD<f32>, groups: usize| {
            let (n, ci, h, wd) = x.dim();
            let co = w.shape()[0];
            let (cig, cog) = (ci / groups, co / groups);
            Array4::from_shape_fn((n, co, h, wd), |(bi, o, y, xx)| {
                let gi = o / cog;
                b[[o]]
                    + (0..cig)
                        .map(|i| w[[o, i, 0, 0]] * x[[bi, gi * cig + i, y, xx]])
                        .sum::<f32>()
            })
        };
        let mut h = conv1x1(x, &w0, &b0, g1);
        bn1.apply(&mut h.view_mut());
        h.mapv_inplace(|v| v.max(0.0));
        // b (c1 c2) h w -> b (c2 c1) h w: output channel j = c2 * g + c1 reads c1 * (C / g) + c2.
        let per = bott / g;
        let shuffled = Array4::from_shape_fn(h.dim(), |(b, j, y, xx)| {
            h[[b, (j % g) * per + j / g, y, xx]]
        });
        let stride = if cfg.combine == Combine::Add { 1 } else { 2 };
        let b4: Vec<f32> = b4.iter().copied().collect();
        let mut d = conv_reference(&shuffled, &w4.to_owned(), &b4, stride, bott);
        bn5.apply(&mut d.view_mut());
        let mut r = conv1x1(&d, &w6, &b6, g);
        bn7.apply(&mut r.view_mut());
        let out = match cfg.combine {
            Combine::Add => r + x,
            Combine::Concat => {
                ndarray::concatenate(Axis(1), &[pool_reference(x, 2, false).view(), r.view()])
                    .unwrap()
            }
        };
        out.mapv(|v| v.max(0.0))
    }

    fn seeded_state_dict(cfg: UnitConfig, seed: u64) -> StateDict {
        // Record the names and shapes the unit asks for, then materialise them.
        let mut init = SeededInit::new(seed);
        ShuffleUnit::new(cfg, "", &mut init, &mut OpTable::default()).unwrap();
        let mut rng = XorShift64::new(seed);
        let tensors = init.produced.iter().map(|(n, s)| {
            let a = if n.ends_with("running_var")
                || n.ends_with(".1.weight")
                || n.ends_with(".5.weight")
                || n.ends_with(".7.weight")
            {
                rng.array(
                    s,
                    Init::Uniform {
                        low: 0.5,
                        high: 1.5,
                    },
                )
            } else {
                rng.array(
                    s,
                    Init::Uniform {
                        low: -0.5,
                        high: 0.5,
                    },
                )
            };
            (n.clone(), a)
        });
        StateDict::from_tensors("seeded", tensors.collect::<Vec<_>>())
    }

    #[test]
    fn unit_matches_unfolded_reference() {
        let configs = [
            UnitConfig {
                in_channels: 48,
                out_channels: 48,
                groups: 3,
                grouped_conv: true,
                combine: Combine::Add,
            },
            UnitConfig {
                in_channels: 24,
                out_channels: 48,
                groups: 3,
                grouped_conv: true,
                combine: Combine::Concat,
            },
            UnitConfig {
                in_channels: 24,
                out_channels: 60,
                groups: 3,
                grouped_conv: false,
                combine: Combine::Concat,
            },
            UnitConfig {
                in_channels: 32,
                out_channels: 32,
                groups: 2,
                grouped_conv: true,
                combine: Combine::Add,
            },
            UnitConfig {
                in_channels: 32,
                out_channels: 96,
                groups: 8,
                grouped_conv: true,
                combine: Combine::Concat,
            },
        ];
        for (k, cfg) in configs.into_iter().enumerate() {
            let mut rng = XorShift64::new(100 + k as u64);
            let x = rng
                .array(&[2, cfg.in_channels, 7, 6], Init::Normal { std: 1.0 })
                .into_dimensionality::<Ix4>()
                .unwrap();
            let mut ops = OpTable::default();
            let mut sd = seeded_state_dict(cfg, k as u64);
            let unit = ShuffleUnit::new(cfg, "", &mut sd, &mut ops).unwrap();
            assert!(sd.unused().is_empty());
            let y = unit.forward(x.view(), &mut Trace::default()).unwrap();
            let r = unit_reference(cfg, &mut seeded_state_dict(cfg, k as u64), &x);
            assert_eq!(y.dim(), unit.output_dim(x.dim()));
            let err = y
                .iter()
                .zip(&r)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 1e-4, "config {cfg:?}: max abs error {err}");
        }
    }

    /// A unit split into 2 or 3 parts gives what one part gives, at the
    /// sizes where its 1×1 convolutions split columns (28 × 28) and rows
    /// (14 × 14, 7 × 7), for one and two images, on a two-thread pool.
    #[test]
    fn unit_parts_equal_one_part() {
        let configs = [
            (48, 48, 3, Combine::Add),
            (24, 48, 3, Combine::Concat),
            (32, 32, 2, Combine::Add),
        ];
        let run = |unit: &ShuffleUnit, x: &[f32], dims: (usize, usize, usize), parts| {
            let mut x = x.to_vec();
            let (_, oc, oh, ow) =
                unit.output_dim((dims.0, unit.config.in_channels, dims.1, dims.2));
            let mut out = vec![0.0; oc * dims.0 * oh * ow];
            let mut scratch = Scratch::default();
            let mut trace = Trace::default();
            unit.run(&mut x, dims, &mut out, &mut scratch, parts, &mut trace)
                .unwrap();
            match unit.config.combine {
                Combine::Add => x,
                Combine::Concat => out,
            }
        };
        #[cfg(feature = "rayon")]
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for (k, (cin, cout, groups, combine)) in configs.into_iter().enumerate() {
            let cfg = UnitConfig {
                in_channels: cin,
                out_channels: cout,
                groups,
                grouped_conv: true,
                combine,
            };
            let mut ops = OpTable::default();
            let unit =
                ShuffleUnit::new(cfg, "", &mut seeded_state_dict(cfg, k as u64), &mut ops).unwrap();
            for (b, hw) in [(1, 28), (1, 14), (2, 14), (1, 7)] {
                let x = crate::layers::tests::values(cin * b * hw * hw, 7 + k as u64);
                let one = run(&unit, &x, (b, hw, hw), 1);
                for parts in [2, 3] {
                    let split = || run(&unit, &x, (b, hw, hw), parts);
                    #[cfg(feature = "rayon")]
                    let got = pool.install(split);
                    #[cfg(not(feature = "rayon"))]
                    let got = split();
                    let worst = one
                        .iter()
                        .zip(&got)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0f32, f32::max);
                    assert!(
                        worst <= 1e-5,
                        "{cfg:?}, {b} x {hw} x {hw}, {parts} parts: {worst}"
                    );
                }
            }
        }
    }

    #[test]
    fn net_runs_and_records_ops() {
        let mut init = SeededInit::new(1);
        let net = ShuffleNet::new(
            NetConfig {
                groups: 3,
                scale: 0.25,
                num_classes: 10,
            },
            &mut init,
        )
        .unwrap();
        let x = XorShift64::new(2)
            .array(&[2, 3, 32, 32], Init::Normal { std: 1.0 })
            .into_dimensionality::<Ix4>()
            .unwrap();
        let mut trace = Trace::default();
        let y = net.forward(x.view(), &mut trace).unwrap();
        assert_eq!(y.dim(), (2, 10));
        assert!(y.iter().all(|v| v.is_finite()));
        let stages: Vec<_> = trace
            .stages
            .iter()
            .map(|(n, s, _)| (*n, s.clone()))
            .collect();
        assert_eq!(
            stages,
            vec![
                ("stem", vec![2, 24, 8, 8]),
                ("stage2", vec![2, 60, 4, 4]),
                ("stage3", vec![2, 120, 2, 2]),
                ("stage4", vec![2, 240, 1, 1]),
                ("head", vec![2, 10]),
            ]
        );
        // The stem's EinMix; 16 units: a shuffle, and per 1x1 conv an
        // EinMix and a group split; plus pool and fc. On one thread every
        // conv is its EinMix (the 13 that add onto the shortcut write into
        // a spare buffer); the split views are for more threads. The batch
        // runs through each op once, except the stem, once per image.
        assert_eq!(net.ops.ops.len(), 1 + 16 * 5 + 2);
        let used = |op: usize| trace.outcomes.get(op).copied().unwrap_or([0; 3]);
        let mut ran = std::collections::HashMap::new();
        for (id, op) in net.ops.ops.iter().enumerate() {
            let counts = used(id);
            if op.name == "conv1.mix" {
                assert_eq!(counts, [0, 0, 2], "the stem, once per image");
                continue;
            }
            match op.kind {
                "rearrange" => assert!(counts == [1, 0, 0] || counts == [0; 3], "{}", op.name),
                _ => assert!(counts == [0, 0, 1] || counts == [0; 3], "{}", op.name),
            }
            let runs: u32 = counts.iter().sum();
            *ran.entry(op.kind).or_insert(0) += runs;
            if op.name.ends_with("shuffle") || op.kind == "reduce" || op.kind == "einsum" {
                assert_eq!(runs, 1, "{}", op.name);
            }
            if op.kind == "einmix" {
                let split = net
                    .ops
                    .ops
                    .iter()
                    .position(|o| o.name == op.name[..op.name.len() - 4]);
                let split_runs: u32 = used(split.expect("its split")).iter().sum();
                assert_eq!(runs + split_runs, 1, "{}", op.name);
            }
        }
        assert_eq!(ran["einmix"], 32);
        assert_eq!(ran["rearrange"], 16);
        // Every parameter of the PyTorch model was asked for exactly once.
        let mut names: Vec<_> = init.produced.iter().map(|(n, _)| n.as_str()).collect();
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), total);
        assert!(
            names.contains(&"stage2.0.right.0.weight")
                && names.contains(&"stage4.3.right.7.running_var")
        );

        // Two threads, splitting the batch or (for one image) the work
        // within the image, give the same logits up to summation order.
        let mut runner = Runner::new(2).unwrap();
        for images in [2, 1] {
            let x = x.slice(s![..images, .., .., ..]);
            let y1 = net.forward(x, &mut Trace::default()).unwrap();
            let y2 = runner.forward(&net, x, &mut Trace::default()).unwrap();
            let worst = y1
                .iter()
                .zip(&y2)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 1e-5, "threads change the logits by {worst}");
        }
    }

    #[test]
    fn parameter_count_matches_pytorch() {
        // sum(p.numel() for p in ShuffleNet(3, 1.0).parameters())
        let net = ShuffleNet::new(NetConfig::default(), &mut SeededInit::new(0)).unwrap();
        assert_eq!(net.parameters, PYTORCH_G3_S1_PARAMETERS);
    }

    const PYTORCH_G3_S1_PARAMETERS: usize = 1_877_968;

    #[test]
    fn bad_configs_are_errors() {
        for (g, s) in [(5, 1.0), (3, 0.1), (3, 2.5), (0, 1.0)] {
            let r = ShuffleNet::new(
                NetConfig {
                    groups: g,
                    scale: s,
                    num_classes: 10,
                },
                &mut SeededInit::new(0),
            );
            assert!(matches!(r, Err(ModelError::Config(_))), "g {g} s {s}");
        }
        let net = ShuffleNet::new(
            NetConfig {
                groups: 1,
                scale: 0.25,
                num_classes: 10,
            },
            &mut SeededInit::new(0),
        )
        .unwrap();
        let x = Array4::<f32>::zeros((1, 4, 8, 8));
        assert!(matches!(
            net.forward(x.view(), &mut Trace::default()),
            Err(ModelError::Input(_))
        ));
    }
}

/// Parity against the PyTorch fixtures in `tests/data/shufflenet/`, written
/// by `gen_shufflenet.py`. Self-contained so it can move to an integration
/// test as is.
#[cfg(test)]
pub(crate) mod parity {
    use std::path::{Path, PathBuf};

    use ndarray::Ix4;
    use serde_json::Value;

    use super::{Combine, NetConfig, OpTable, ShuffleNet, ShuffleUnit, Trace, UnitConfig};
    use crate::weights::{StateDict, read_tensor};

    pub fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/shufflenet")
    }

    /// Rebuilds the model of one `fixtures.json` entry from its weights, runs
    /// it on the fixture input and returns the max abs error against the
    /// PyTorch output.
    pub fn fixture_max_abs_error(
        dir: &Path,
        fixture: &Value,
    ) -> Result<f32, Box<dyn std::error::Error>> {
        let field = |k: &str| fixture.get(k).ok_or_else(|| format!("fixture lacks `{k}`"));
        let uint = |k: &str| -> Result<usize, Box<dyn std::error::Error>> {
            Ok(field(k)?
                .as_u64()
                .ok_or_else(|| format!("`{k}` is not an integer"))? as usize)
        };
        let file = |k: &str| -> Result<PathBuf, Box<dyn std::error::Error>> {
            Ok(dir.join(
                field("files")?
                    .get(k)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("no {k} file"))?,
            ))
        };
        let mut weights = StateDict::load(&file("weights")?)?;
        let input = read_tensor(&file("input")?, "input")?.into_dimensionality::<Ix4>()?;
        let expected = read_tensor(&file("output")?, "output")?;

        let mut trace = Trace::default();
        let output = match field("kind")?.as_str() {
            Some("unit") => {
                let combine = match field("combine")?.as_str() {
                    Some("add") => Combine::Add,
                    Some("concat") => Combine::Concat,
                    other => return Err(format!("unknown combine {other:?}").into()),
                };
                let config = UnitConfig {
                    in_channels: uint("in_channels")?,
                    out_channels: uint("out_channels")?,
                    groups: uint("groups")?,
                    grouped_conv: field("grouped_conv")?
                        .as_bool()
                        .ok_or("grouped_conv is not a bool")?,
                    combine,
                };
                let unit = ShuffleUnit::new(config, "", &mut weights, &mut OpTable::default())?;
                unit.forward(input.view(), &mut trace)?.into_dyn()
            }
            Some("net") => {
                let config = NetConfig {
                    groups: uint("groups")?,
                    scale: field("scale")?.as_f64().ok_or("scale is not a number")?,
                    num_classes: uint("num_classes")?,
                };
                let net = ShuffleNet::new(config, &mut weights)?;
                net.forward(input.view(), &mut trace)?.into_dyn()
            }
            other => return Err(format!("unknown kind {other:?}").into()),
        };
        if !weights.unused().is_empty() {
            return Err(format!("tensors not used by the model: {:?}", weights.unused()).into());
        }
        if output.shape() != expected.shape() {
            return Err(format!(
                "output shape {:?}, expected {:?}",
                output.shape(),
                expected.shape()
            )
            .into());
        }
        Ok(output
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max))
    }

    #[test]
    fn matches_pytorch_fixtures() {
        let dir = fixture_dir();
        let index: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("fixtures.json")).unwrap())
                .unwrap();
        let fixtures = index["fixtures"].as_array().unwrap();
        assert_eq!(fixtures.len(), 4);
        for fixture in fixtures {
            let name = fixture["name"].as_str().unwrap();
            let err =
                fixture_max_abs_error(&dir, fixture).unwrap_or_else(|e| panic!("{name}: {e}"));
            println!("{name}: max abs error {err:.3e}");
            assert!(err <= 1e-4, "{name}: max abs error {err}");
        }
    }
}
