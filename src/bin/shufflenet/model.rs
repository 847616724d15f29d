//! ShuffleNet v1 (Zhang et al., 2017) from einplan operations.
//!
//! The parts einops can say are einplan ops, compiled once when the model is
//! built:
//!
//! | step                    | op                                                   |
//! |-------------------------|------------------------------------------------------|
//! | channel shuffle         | `Rearrange` `b (c1 c2) h w -> b (c2 c1) h w`         |
//! | grouped 1×1 convolution | `Einsum` `b (g ci) h w, g co ci -> b (g co) h w`     |
//! | identity shortcut       | `Rearrange` `b c h w -> b c h w`                     |
//! | global average pool     | `Reduce` `b c h w -> b c`, mean                      |
//! | classifier              | `Einsum` `b ci, co ci -> b co`                       |
//!
//! The rest (3×3 convolutions, pooling) lives in [`crate::layers`]. Batch
//! norms are folded into the convolutions in front of them at load time.
//! Parameter names are PyTorch's, so a `state_dict` of the reference model
//! (tests/data/shufflenet/gen_shufflenet.py) loads directly.

use std::fmt;
use std::time::{Duration, Instant};

use ndarray::{
    Array1, Array2, Array3, Array4, ArrayD, ArrayView4, Axis, Ix2, Ix4, Zip, concatenate,
};

use einplan::{Einsum, Rearrange, Reduce, Reduction};

use crate::layers::{self, BN_EPS, BatchNorm};
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

/// A grouped 1×1 convolution: the einsum, its `[g, co, ci]` weights and bias.
struct Conv1x1 {
    op: Einsum,
    id: usize,
    weight: Array3<f32>,
    bias: Array1<f32>,
}

const CONV1X1: &str = "b (g ci) h w, g co ci -> b (g co) h w";

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
        let op = Einsum::new(CONV1X1)?.with("g", groups)?;
        let id = ops.register(name.to_owned(), "einsum", CONV1X1, &[("g", groups)]);
        Ok(Conv1x1 {
            op,
            id,
            weight,
            bias,
        })
    }

    fn apply(
        &self,
        x: ArrayView4<'_, f32>,
        relu: bool,
        trace: &mut Trace,
    ) -> Result<ArrayD<f32>, ModelError> {
        let mut y = self
            .op
            .apply(&[x.into_dyn(), self.weight.view().into_dyn()])?;
        trace.record(self.id, Outcome::Computed);
        layers::bias_act(&mut y, self.bias.view(), relu);
        Ok(y)
    }
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

/// `ShuffleUnitNew` of the reference: grouped 1×1 conv + BN + ReLU, channel
/// shuffle, 3×3 depthwise conv + BN, grouped 1×1 conv + BN, then combine with
/// the shortcut and ReLU.
pub struct ShuffleUnit {
    pub config: UnitConfig,
    conv1: Conv1x1,
    shuffle: Rearrange,
    shuffle_id: usize,
    dw_weight: Array4<f32>,
    dw_bias: Array1<f32>,
    stride: usize,
    conv2: Conv1x1,
    identity: Option<(Rearrange, usize)>,
}

const SHUFFLE: &str = "b (c1 c2) h w -> b (c2 c1) h w";
const IDENTITY: &str = "b c h w -> b c h w";

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
        let shuffle = Rearrange::new(SHUFFLE)?.with("c1", g)?;
        let shuffle_id = ops.register(op_name("shuffle"), "rearrange", SHUFFLE, &[("c1", g)]);
        let (dw_weight, dw_bias) =
            loader.conv(&p("right.4"), &[bottleneck, 1, 3, 3], Some(&p("right.5")))?;
        let dw_weight = dw_weight
            .into_dimensionality::<Ix4>()
            .map_err(|e| shape_err("depthwise", e))?;
        let conv2 = Conv1x1::new(
            loader,
            ops,
            &op_name("conv2"),
            &p("right.6"),
            &p("right.7"),
            (bottleneck, branch, g),
        )?;
        let (stride, identity) = match config.combine {
            Combine::Add => {
                let id = ops.register(op_name("shortcut"), "rearrange", IDENTITY, &[]);
                (1, Some((Rearrange::new(IDENTITY)?, id)))
            }
            Combine::Concat => (2, None),
        };
        Ok(ShuffleUnit {
            config,
            conv1,
            shuffle,
            shuffle_id,
            dw_weight,
            dw_bias,
            stride,
            conv2,
            identity,
        })
    }

    /// Output shape for an `(n, c, h, w)` input.
    #[cfg(test)]
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
        let hidden = self.conv1.apply(x.view(), true, trace)?;
        let shuffled = self.shuffle.apply(&hidden)?;
        trace.record_cow(self.shuffle_id, &shuffled);
        let shuffled = shuffled
            .view()
            .into_dimensionality::<Ix4>()
            .map_err(|e| shape_err("shuffle", e))?;
        let depthwise = layers::depthwise_conv3x3(
            shuffled,
            self.dw_weight.view(),
            self.dw_bias.view(),
            self.stride,
        );
        let branch = self.conv2.apply(depthwise.view(), false, trace)?;
        let mut branch = branch
            .into_dimensionality::<Ix4>()
            .map_err(|e| shape_err("conv2", e))?;

        match &self.identity {
            Some((identity, id)) => {
                let shortcut = identity.apply(&x)?;
                trace.record_cow(*id, &shortcut);
                let shortcut = shortcut
                    .view()
                    .into_dimensionality::<Ix4>()
                    .map_err(|e| shape_err("shortcut", e))?;
                Zip::from(&mut branch)
                    .and(&shortcut)
                    .for_each(|y, &s| *y = (*y + s).max(0.0));
                Ok(branch)
            }
            None => {
                let shortcut = layers::avg_pool3x3(x, 2);
                let mut out = concatenate(Axis(1), &[shortcut.view(), branch.view()])
                    .map_err(|e| shape_err("concat", e))?;
                layers::relu(&mut out);
                Ok(out)
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
    stem_weight: Array4<f32>,
    stem_bias: Array1<f32>,
    stages: Vec<(&'static str, Vec<ShuffleUnit>)>,
    pool: Reduce,
    pool_id: usize,
    fc: Einsum,
    fc_id: usize,
    fc_weight: Array2<f32>,
    fc_bias: Array1<f32>,
}

const POOL: &str = "b c h w -> b c";
const LINEAR: &str = "b ci, co ci -> b co";

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
            .into_dimensionality::<Ix4>()
            .map_err(|e| shape_err("conv1", e))?;

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
            stem_weight,
            stem_bias,
            stages,
            pool,
            pool_id,
            fc,
            fc_id,
            fc_weight,
            fc_bias,
        })
    }

    /// Logits `[n, num_classes]` for images `[n, 3, h, w]`, recording stage
    /// times and op outcomes in `trace`.
    pub fn forward(
        &self,
        x: ArrayView4<'_, f32>,
        trace: &mut Trace,
    ) -> Result<Array2<f32>, ModelError> {
        let (_, c, h, w) = x.dim();
        if c != 3 || h == 0 || w == 0 {
            return Err(ModelError::Input(format!(
                "expected images [n, 3, h, w], got {:?}",
                x.shape()
            )));
        }
        let t = Instant::now();
        let mut stem = layers::conv3x3(x, self.stem_weight.view(), self.stem_bias.view(), 2);
        layers::relu(&mut stem);
        let mut h = layers::max_pool3x3(stem.view(), 2);
        trace.stages.push(("stem", h.shape().to_vec(), t.elapsed()));

        for (name, units) in &self.stages {
            let t = Instant::now();
            for unit in units {
                h = unit.forward(h.view(), trace)?;
            }
            trace.stages.push((name, h.shape().to_vec(), t.elapsed()));
        }

        let t = Instant::now();
        let pooled = self.pool.apply(&h)?;
        trace.record(self.pool_id, Outcome::Computed);
        let mut logits = self
            .fc
            .apply(&[pooled.view(), self.fc_weight.view().into_dyn()])?;
        trace.record(self.fc_id, Outcome::Computed);
        layers::bias_act(&mut logits, self.fc_bias.view(), false);
        let logits = logits
            .into_dimensionality::<Ix2>()
            .map_err(|e| shape_err("fc", e))?;
        trace
            .stages
            .push(("head", logits.shape().to_vec(), t.elapsed()));
        Ok(logits)
    }

    /// [`ShuffleNet::forward`] with the batch split over `threads` threads.
    pub fn forward_parallel(
        &self,
        x: ArrayView4<'_, f32>,
        threads: usize,
        trace: &mut Trace,
    ) -> Result<Array2<f32>, ModelError> {
        let n = x.dim().0;
        let threads = threads.clamp(1, n.max(1));
        if threads == 1 {
            return self.forward(x, trace);
        }
        let chunk = n.div_ceil(threads);
        let results: Vec<Result<(Array2<f32>, Trace), ModelError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = x
                .axis_chunks_iter(Axis(0), chunk)
                .map(|part| {
                    scope.spawn(move || {
                        let mut t = Trace::default();
                        self.forward(part, &mut t).map(|y| (y, t))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("forward thread panicked"))
                .collect()
        });
        let mut outputs = Vec::with_capacity(results.len());
        for r in results {
            let (y, t) = r?;
            trace.merge(&t);
            outputs.push(y);
        }
        let views: Vec<_> = outputs.iter().map(|y| y.view()).collect();
        concatenate(Axis(0), &views).map_err(|e| shape_err("batch", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::{SeededInit, StateDict, XorShift64};

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
        let b4 = get("right.4.bias", &[bott]).into_dimensionality().unwrap();
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
        let mut d = layers::depthwise_conv3x3(shuffled.view(), w4.view(), b4.view(), stride);
        bn5.apply(&mut d.view_mut());
        let mut r = conv1x1(&d, &w6, &b6, g);
        bn7.apply(&mut r.view_mut());
        let out = match cfg.combine {
            Combine::Add => r + x,
            Combine::Concat => concatenate(
                Axis(1),
                &[layers::avg_pool3x3(x.view(), 2).view(), r.view()],
            )
            .unwrap(),
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
        // 16 units: 16 shuffles, 32 grouped 1x1 convs, 13 identity shortcuts; plus pool and fc.
        assert_eq!(net.ops.ops.len(), 16 * 3 + 13 + 2);
        assert!(trace.outcomes.iter().all(|c| c.iter().sum::<u32>() == 1));
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

        // Splitting the batch over threads gives the same logits, up to
        // the summation order of a GEMM over a smaller batch.
        let mut t2 = Trace::default();
        let y2 = net.forward_parallel(x.view(), 2, &mut t2).unwrap();
        let worst = y
            .iter()
            .zip(&y2)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-5, "threads change the logits by {worst}");
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
