//! `shufflenet`: ShuffleNet v1 built from einplan ops, giving PyTorch's numbers.
//!
//! ```text
//! cargo run --release --features shufflenet --bin shufflenet -- net --groups 3 --scale 1.0
//! cargo run --release --features shufflenet --bin shufflenet -- unit --combine add \
//!     --in-channels 48 --out-channels 48 --groups 3
//! ```
//!
//! The PyTorch reference and its parity fixtures are in
//! `tests/data/shufflenet/gen_shufflenet.py`; `benches/shufflenet_pytorch.py`
//! times the same network in PyTorch, and with `--compare` puts the two side
//! by side.
//!
//! Modules: `model` (the network, its parameters and the forward pass),
//! `layers` (3×3 windows, batch norm folding, the matrix product), `par`
//! (splitting a layer's work over threads), `weights` (safetensors files
//! and the seeded initialisation).

mod layers;
mod model;
mod par;
mod weights;

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ndarray::{Array4, ArrayD, Ix4};

use model::{
    Combine, ModelError, NetConfig, OpTable, Runner, ShuffleNet, ShuffleUnit, Trace, UnitConfig,
};
use weights::{Init, ParamSource, SeededInit, StateDict, WeightError, XorShift64};

const USAGE: &str = "\
usage: shufflenet [net] [--groups G] [--scale S] [--batch B] [--size HW] [--threads T]
                        [--runs R] [--weights W] [--input X] [--save Y]
       shufflenet unit --combine add|concat --in-channels N --out-channels M --groups G
                       [--no-grouped-conv] [--size HW] [--runs R] [--weights W] [--input X]
                       [--save Y]
       shufflenet help

Runs ShuffleNet v1 (or a single ShuffleNet unit) built from einplan operations
and reports shapes, timings and which einplan ops ran as views or copied.

net options (default: net --groups 3 --scale 1.0 --batch 1 --size 224):
  --groups G        groups of the 1x1 convolutions: 1, 2, 3, 4 or 8
  --scale S         width multiplier, 0.25 to 2.0
  --batch B         images per batch (with --input: taken from it; must match)
  --size HW         image height and width (with --input: taken from it; must match)
  --threads T       threads (default 1): a batch of at least T images is split
                    into T parts; a smaller one splits each layer's work

unit options:
  --combine MODE    add (identity shortcut) or concat (stride 2, pooled shortcut)
  --in-channels N   input channels
  --out-channels M  output channels (for concat, including the N shortcut channels)
  --groups G        groups of the 1x1 convolutions and of the shuffle
  --no-grouped-conv make the first 1x1 convolution dense
  --size HW         height and width of the seeded input (default 28)

common options:
  --runs R          timed runs after one warm-up; the report gives the median (default 5)
  --weights W       safetensors state_dict with PyTorch's parameter names
                    (default: deterministic seeded weights)
  --input X         safetensors file with a float32 tensor `input`, NCHW
                    (default: deterministic seeded input; 1 x N x HW x HW for unit)
  --save Y          write the result to a safetensors file as tensor `output`
  -h, --help        show this message
";

const WEIGHT_SEED: u64 = 0;
const INPUT_SEED: u64 = 2;
const DEFAULT_RUNS: usize = 5;
const UNIT_DEFAULT_SIZE: usize = 28;
/// Upper bounds that keep a mistyped number from asking for gigabytes.
const MAX_BATCH: usize = 1024;
const MAX_SIZE: usize = 4096;
const MAX_THREADS: usize = 256;
const MAX_CHANNELS: usize = 16384;
const MAX_RUNS: usize = 100_000;

/// Options both subcommands take.
#[derive(Debug)]
struct Common {
    weights: Option<PathBuf>,
    input: Option<PathBuf>,
    save: Option<PathBuf>,
    runs: usize,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            weights: None,
            input: None,
            save: None,
            runs: DEFAULT_RUNS,
        }
    }
}

#[derive(Debug)]
struct NetArgs {
    config: NetConfig,
    batch: Option<usize>,
    size: Option<usize>,
    threads: usize,
    common: Common,
}

#[derive(Debug)]
struct UnitArgs {
    config: UnitConfig,
    size: usize,
    common: Common,
}

#[derive(Debug)]
enum Command {
    Net(NetArgs),
    Unit(UnitArgs),
    Help,
}

/// Pulls `--flag value` / `--flag=value` pairs off the command line.
struct Flags {
    args: std::vec::IntoIter<String>,
}

impl Flags {
    /// The next `(flag, inline value)`, or `None` at the end.
    fn next(&mut self) -> Result<Option<(String, Option<String>)>, String> {
        let Some(arg) = self.args.next() else {
            return Ok(None);
        };
        if !arg.starts_with("--") && arg != "-h" {
            return Err(format!("unexpected argument '{arg}'"));
        }
        Ok(Some(match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        }))
    }

    fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String, String> {
        match inline {
            Some(v) => Ok(v),
            None => self
                .args
                .next()
                .ok_or_else(|| format!("{flag} needs a value")),
        }
    }

    fn number<T: std::str::FromStr>(
        &mut self,
        flag: &str,
        inline: Option<String>,
    ) -> Result<T, String> {
        let v = self.value(flag, inline)?;
        v.parse()
            .map_err(|_| format!("invalid value for {flag}: '{v}'"))
    }

    fn path(&mut self, flag: &str, inline: Option<String>) -> Result<PathBuf, String> {
        let v = self.value(flag, inline)?;
        if v.is_empty() {
            return Err(format!("{flag} needs a non-empty path"));
        }
        Ok(PathBuf::from(v))
    }
}

fn no_value(flag: &str, inline: Option<String>) -> Result<(), String> {
    match inline {
        Some(_) => Err(format!("{flag} takes no value")),
        None => Ok(()),
    }
}

fn parse_args(args: Vec<String>) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    let subcommand = match args.peek().map(String::as_str) {
        Some("help") => return Ok(Command::Help),
        Some("net") | Some("unit") => args.next(),
        Some(a) if !a.starts_with('-') => {
            return Err(format!(
                "unknown subcommand '{a}' (the subcommands are net, unit and help)"
            ));
        }
        _ => None,
    };
    let mut flags = Flags {
        args: args.collect::<Vec<_>>().into_iter(),
    };
    if subcommand.as_deref() == Some("unit") {
        parse_unit(&mut flags)
    } else {
        parse_net(&mut flags)
    }
}

/// Takes one of the options in [`Common`]; `false` if `flag` is none of them.
fn parse_common(
    common: &mut Common,
    flags: &mut Flags,
    flag: &str,
    inline: Option<String>,
) -> Result<bool, String> {
    match flag {
        "--weights" => common.weights = Some(flags.path(flag, inline)?),
        "--input" => common.input = Some(flags.path(flag, inline)?),
        "--save" => common.save = Some(flags.path(flag, inline)?),
        "--runs" => {
            let runs = flags.number(flag, inline)?;
            if runs == 0 || runs > MAX_RUNS {
                return Err(format!(
                    "--runs must be between 1 and {MAX_RUNS}, got {runs}"
                ));
            }
            common.runs = runs;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_net(flags: &mut Flags) -> Result<Command, String> {
    let mut net = NetArgs {
        config: NetConfig::default(),
        batch: None,
        size: None,
        threads: 1,
        common: Common::default(),
    };
    while let Some((flag, inline)) = flags.next()? {
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--groups" => net.config.groups = flags.number(&flag, inline)?,
            "--scale" => net.config.scale = flags.number(&flag, inline)?,
            "--batch" => net.batch = Some(flags.number(&flag, inline)?),
            "--size" => net.size = Some(flags.number(&flag, inline)?),
            "--threads" => net.threads = flags.number(&flag, inline)?,
            f => {
                if !parse_common(&mut net.common, flags, f, inline)? {
                    return Err(format!("unknown option '{f}' for net"));
                }
            }
        }
    }
    let groups = net.config.groups;
    if model::stage_channels(groups, 1.0).is_none() {
        return Err(format!("--groups must be 1, 2, 3, 4 or 8, got {groups}"));
    }
    let scale = net.config.scale;
    if !model::SCALE_RANGE.contains(&scale) {
        return Err(format!("--scale must be between 0.25 and 2.0, got {scale}"));
    }
    for (flag, value, max) in [
        ("--batch", net.batch, MAX_BATCH),
        ("--size", net.size, MAX_SIZE),
        ("--threads", Some(net.threads), MAX_THREADS),
    ] {
        if let Some(v) = value.filter(|&v| v == 0 || v > max) {
            return Err(format!("{flag} must be between 1 and {max}, got {v}"));
        }
    }
    Ok(Command::Net(net))
}

fn parse_unit(flags: &mut Flags) -> Result<Command, String> {
    let (mut combine, mut cin, mut cout, mut groups) = (None, None, None, None);
    let mut grouped_conv = true;
    let mut common = Common::default();
    let mut size = UNIT_DEFAULT_SIZE;
    while let Some((flag, inline)) = flags.next()? {
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--combine" => {
                combine = Some(match flags.value(&flag, inline)?.as_str() {
                    "add" => Combine::Add,
                    "concat" => Combine::Concat,
                    other => return Err(format!("--combine must be add or concat, got '{other}'")),
                })
            }
            "--in-channels" => cin = Some(flags.number(&flag, inline)?),
            "--size" => {
                size = flags.number(&flag, inline)?;
                if size == 0 || size > MAX_SIZE {
                    return Err(format!(
                        "--size must be between 1 and {MAX_SIZE}, got {size}"
                    ));
                }
            }
            "--out-channels" => cout = Some(flags.number(&flag, inline)?),
            "--groups" => groups = Some(flags.number(&flag, inline)?),
            "--no-grouped-conv" => {
                no_value(&flag, inline)?;
                grouped_conv = false;
            }
            f => {
                if !parse_common(&mut common, flags, f, inline)? {
                    return Err(format!("unknown option '{f}' for unit"));
                }
            }
        }
    }
    let missing = |name: &str| format!("unit needs {name}");
    let config = UnitConfig {
        in_channels: cin.ok_or_else(|| missing("--in-channels"))?,
        out_channels: cout.ok_or_else(|| missing("--out-channels"))?,
        groups: groups.ok_or_else(|| missing("--groups"))?,
        grouped_conv,
        combine: combine.ok_or_else(|| missing("--combine"))?,
    };
    if config.in_channels.max(config.out_channels) > MAX_CHANNELS {
        return Err(format!("channels must be at most {MAX_CHANNELS}"));
    }
    config.channels()?;
    Ok(Command::Unit(UnitArgs {
        config,
        size,
        common,
    }))
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("shufflenet: error: {message}");
            eprintln!("see 'shufflenet --help' for the options");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help => {
            print!("{USAGE}");
            Ok(())
        }
        Command::Net(args) => run_net(args),
        Command::Unit(args) => run_unit(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shufflenet: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The weights file, or the seeded initialisation when there is none.
enum Params {
    File(StateDict),
    Seeded(SeededInit),
}

impl Params {
    fn open(path: Option<&PathBuf>) -> Result<Params, Box<dyn Error>> {
        Ok(match path {
            Some(p) => Params::File(StateDict::load(p)?),
            None => Params::Seeded(SeededInit::new(WEIGHT_SEED)),
        })
    }

    fn source(&mut self) -> &mut dyn ParamSource {
        match self {
            Params::File(sd) => sd,
            Params::Seeded(init) => init,
        }
    }

    /// The shape of a tensor in the weights file, if there is one.
    fn shape(&self, name: &str) -> Option<&[usize]> {
        match self {
            Params::File(sd) => sd.shape(name),
            Params::Seeded(_) => None,
        }
    }

    fn describe(&self, path: Option<&PathBuf>) -> String {
        match (self, path) {
            (Params::File(_), Some(p)) => p.display().to_string(),
            _ => format!("seeded (seed {WEIGHT_SEED})"),
        }
    }

    /// Tensors in the file that the model never asked for.
    fn warn_unused(&self) {
        if let Params::File(sd) = self {
            let unused = sd.unused();
            if !unused.is_empty() {
                eprintln!(
                    "shufflenet: warning: {} tensors in the weights file were not used: {}",
                    unused.len(),
                    abbreviate(&unused, 4)
                );
            }
        }
    }
}

/// Reads `--input`, or makes a seeded standard-normal input of `shape`.
fn load_input(
    path: Option<&PathBuf>,
    shape: [usize; 4],
) -> Result<(Array4<f32>, String), Box<dyn Error>> {
    match path {
        Some(p) => {
            let x = weights::read_tensor(p, "input")?;
            let shape = x.shape().to_vec();
            let x = x.into_dimensionality::<Ix4>().map_err(|_| {
                format!(
                    "{}: `input` must have 4 axes (NCHW), has shape {shape:?}",
                    p.display()
                )
            })?;
            Ok((x, p.display().to_string()))
        }
        None => {
            let x = XorShift64::new(INPUT_SEED).array(&shape, Init::Normal { std: 1.0 });
            Ok((
                x.into_dimensionality::<Ix4>()?,
                format!("seeded (seed {INPUT_SEED})"),
            ))
        }
    }
}

fn save_output(path: Option<&PathBuf>, y: &ArrayD<f32>) -> Result<(), Box<dyn Error>> {
    if let Some(p) = path {
        weights::write_tensor(p, "output", y)?;
        println!("\noutput {:?} written to {}", y.shape(), p.display());
    }
    Ok(())
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    let n = xs.len();
    if n == 0 {
        Duration::ZERO
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// What [`time_runs`] measured.
struct Runs<T> {
    /// The result of the last run.
    result: T,
    /// One trace per timed run.
    traces: Vec<Trace>,
    /// Wall time per timed run.
    times: Vec<Duration>,
}

/// One warm-up call then `runs` timed calls of `f`.
fn time_runs<T>(
    runs: usize,
    mut f: impl FnMut(&mut Trace) -> Result<T, Box<dyn Error>>,
) -> Result<Runs<T>, Box<dyn Error>> {
    let mut result = f(&mut Trace::default())?;
    let mut traces = Vec::with_capacity(runs);
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut trace = Trace::default();
        let start = Instant::now();
        result = f(&mut trace)?;
        times.push(start.elapsed());
        traces.push(trace);
    }
    Ok(Runs {
        result,
        traces,
        times,
    })
}

/// Fails early, before any work, if `--save` cannot be a new file: its
/// directory must exist and the path must not be a directory itself.
fn check_save_path(path: Option<&PathBuf>) -> Result<(), String> {
    let Some(path) = path else {
        return Ok(());
    };
    if path.is_dir() {
        return Err(format!("--save {}: is a directory", path.display()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "--save {}: directory {} does not exist",
            path.display(),
            dir.display()
        ));
    }
    Ok(())
}

/// Adds what to check to an error from building the model: a tensor of the
/// wrong shape means the file was saved for another configuration.
fn explain_mismatch(e: ModelError, hint: impl FnOnce() -> String) -> Box<dyn Error> {
    match e {
        ModelError::Weights(w @ WeightError::Shape { .. }) => format!("{w}: {}", hint()).into(),
        e => e.into(),
    }
}

fn run_net(args: NetArgs) -> Result<(), Box<dyn Error>> {
    check_save_path(args.common.save.as_ref())?;
    let mut params = Params::open(args.common.weights.as_ref())?;
    let guess = match [2, 3, 4].map(|s| params.shape(&format!("stage{s}.1.right.0.weight"))) {
        [Some(a), Some(b), Some(c)] => model::guess_config([a, b, c]),
        _ => None,
    };
    let NetConfig { groups, scale, .. } = args.config;
    let net = ShuffleNet::new(args.config, params.source()).map_err(|e| {
        explain_mismatch(e, || {
            let mut hint =
                format!("the weights do not fit a network with --groups {groups} --scale {scale}");
            if let Some((g, s)) = guess {
                hint += &format!(" (they look like --groups {g} --scale {s})");
            }
            hint
        })
    })?;
    params.warn_unused();

    let shape = [
        args.batch.unwrap_or(1),
        3,
        args.size.unwrap_or(224),
        args.size.unwrap_or(224),
    ];
    let (x, input_from) = load_input(args.common.input.as_ref(), shape)?;
    if args.common.input.is_some() {
        let (n, c, h, w) = x.dim();
        if c != 3 {
            return Err(format!("input has {c} channels, the network takes 3").into());
        }
        if args.batch.is_some_and(|b| b != n) || args.size.is_some_and(|s| s != h || s != w) {
            return Err(format!(
                "--batch/--size disagree with the input shape {:?}",
                [n, c, h, w]
            )
            .into());
        }
    }

    let threads = args.threads;
    let runs = args.common.runs;
    let mut runner = Runner::new(threads)?;
    let Runs {
        result: logits,
        traces,
        times,
    } = time_runs(runs, |trace| Ok(runner.forward(&net, x.view(), trace)?))?;

    let NetConfig {
        groups,
        scale,
        num_classes,
    } = net.config;
    let [c2, c3, c4] = net.channels;
    println!("ShuffleNet v1: groups {groups}, scale {scale}, {num_classes} classes");
    println!(
        "  stage channels {c2} / {c3} / {c4}, {:.2} M parameters (batch norms folded at load)",
        net.parameters as f64 / 1e6
    );
    println!(
        "  weights: {}",
        params.describe(args.common.weights.as_ref())
    );
    println!("  input:   {:?}, {input_from}", x.shape());
    let images = x.dim().0;
    match threads {
        1 => println!("  threads: 1"),
        t if images >= t => println!("  threads: {t}, each running a part of the batch"),
        t => println!("  threads: {t}, splitting each layer's work within the image"),
    }
    println!("  timing:  median of {runs} runs after 1 warm-up\n");

    println!("  {:<8} {:<22} {:>10}", "stage", "output shape", "time");
    let stage_count = traces[0].stages.len();
    for i in 0..stage_count {
        let (name, shape, _) = &traces[0].stages[i];
        let t = median(traces.iter().map(|t| t.stages[i].2).collect());
        println!("  {:<8} {:<22} {:>10}", name, format!("{shape:?}"), ms(t));
    }
    let (min, max) = (
        times.iter().min().copied().unwrap_or_default(),
        times.iter().max().copied().unwrap_or_default(),
    );
    println!(
        "  {:<8} {:<22} {:>10}   (min {}, max {})",
        "total",
        "",
        ms(median(times)),
        ms(min),
        ms(max)
    );

    match params {
        Params::Seeded(_) => println!(
            "\ntop-5 classes (logits of the seeded random weights, not of a trained model):"
        ),
        Params::File(_) => println!("\ntop-5 classes (logits):"),
    }
    for (i, row) in logits.outer_iter().enumerate() {
        let mut idx: Vec<usize> = (0..row.len()).collect();
        idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        let top: Vec<String> = idx
            .iter()
            .take(5)
            .map(|&k| format!("{k} ({:.4})", row[k]))
            .collect();
        println!("  image {i}: {}", top.join(", "));
    }

    print_ops(&net.ops, traces.last().expect("at least one run"));
    save_output(args.common.save.as_ref(), &logits.into_dyn())
}

fn run_unit(args: UnitArgs) -> Result<(), Box<dyn Error>> {
    check_save_path(args.common.save.as_ref())?;
    let config = args.config;
    let mut params = Params::open(args.common.weights.as_ref())?;
    let mut ops = OpTable::default();
    let unit = ShuffleUnit::new(config, "", params.source(), &mut ops).map_err(|e| {
        explain_mismatch(e, || {
            "the weights do not fit this unit: check --in-channels, --out-channels, --groups \
             and --no-grouped-conv"
                .into()
        })
    })?;
    params.warn_unused();

    let s = args.size;
    let (x, input_from) = load_input(args.common.input.as_ref(), [1, config.in_channels, s, s])?;
    if x.dim().1 != config.in_channels {
        return Err(format!(
            "input has {} channels, --in-channels is {}",
            x.dim().1,
            config.in_channels
        )
        .into());
    }
    let runs = args.common.runs;
    let Runs {
        result: y,
        traces,
        times,
    } = time_runs(runs, |trace| Ok(unit.forward(x.view(), trace)?))?;

    let (bottleneck, _) = config.channels()?;
    let combine = match config.combine {
        Combine::Add => "add",
        Combine::Concat => "concat",
    };
    println!(
        "ShuffleUnit: combine {combine}, {} -> {} channels, {} groups, bottleneck {bottleneck}, first 1x1 {}",
        config.in_channels,
        config.out_channels,
        config.groups,
        if config.grouped_conv {
            "grouped"
        } else {
            "dense"
        }
    );
    println!(
        "  weights: {}",
        params.describe(args.common.weights.as_ref())
    );
    println!("  input:   {:?}, {input_from}", x.shape());
    println!(
        "  output:  {:?}, mean {:.6}, max {:.6}",
        y.shape(),
        y.mean().unwrap_or(0.0),
        y.fold(f32::NEG_INFINITY, |m, &v| m.max(v))
    );
    println!(
        "  time:    {} (median of {runs} runs after 1 warm-up)",
        ms(median(times))
    );
    print_ops(&ops, traces.last().expect("at least one run"));
    save_output(args.common.save.as_ref(), &y.into_dyn())
}

/// `a, b, c, … z` — the first few names and the last.
fn abbreviate(names: &[&str], keep: usize) -> String {
    if names.len() <= keep + 1 {
        names.join(", ")
    } else {
        format!(
            "{}, …, {}",
            names[..keep].join(", "),
            names[names.len() - 1]
        )
    }
}

/// Groups the einplan ops by what they did in one forward pass.
fn print_ops(ops: &OpTable, trace: &Trace) {
    let mut groups: BTreeMap<(&str, &str, &str, &str), Vec<&str>> = BTreeMap::new();
    for (id, op) in ops.ops.iter().enumerate() {
        let [views, copies, computed] = trace.outcomes.get(id).copied().unwrap_or_default();
        let outcome = match (views > 0, copies > 0, computed > 0) {
            (true, false, false) => "view",
            (false, true, false) => "copied",
            (false, false, true) => "computed",
            (false, false, false) => "not run",
            _ => "mixed",
        };
        groups
            .entry((outcome, op.kind, op.pattern.as_str(), op.bindings.as_str()))
            .or_default()
            .push(&op.name);
    }
    println!(
        "\neinplan ops in one forward pass (view = no data moved; copied = rearrange had to copy;"
    );
    println!("computed = einsum/reduce output). The shuffle views are read by the depthwise");
    println!("convolutions; the group views are the operands of one matrix product per group:");
    for ((outcome, kind, pattern, bindings), names) in &groups {
        let pattern = if bindings.is_empty() {
            format!("'{pattern}'")
        } else {
            format!("'{pattern}' {bindings}")
        };
        println!(
            "  {outcome:<8} {kind:<9} {pattern:<50} x{:<3} {}",
            names.len(),
            abbreviate(names, 2)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<Command, String> {
        parse_args(args.split_whitespace().map(String::from).collect())
    }

    #[test]
    fn defaults_to_net() {
        let Ok(Command::Net(net)) = parse("") else {
            panic!()
        };
        assert_eq!(
            net.config,
            NetConfig {
                groups: 3,
                scale: 1.0,
                num_classes: 1000
            }
        );
        assert_eq!((net.batch, net.size, net.threads), (None, None, 1));
        let Ok(Command::Net(net)) =
            parse("--groups 8 --scale=0.5 --batch 4 --size 64 --threads 2 --save out.st")
        else {
            panic!()
        };
        assert_eq!(
            (
                net.config.groups,
                net.config.scale,
                net.batch,
                net.size,
                net.threads
            ),
            (8, 0.5, Some(4), Some(64), 2)
        );
        assert_eq!(net.common.save, Some(PathBuf::from("out.st")));
        assert!(matches!(parse("net --help"), Ok(Command::Help)));
        assert!(matches!(parse("help"), Ok(Command::Help)));
        assert!(matches!(parse("help net"), Ok(Command::Help)));
        assert!(matches!(parse("-h"), Ok(Command::Help)));
        assert!(matches!(parse("unit --help"), Ok(Command::Help)));
    }

    #[test]
    fn parses_common_options() {
        let Ok(Command::Net(net)) = parse("--runs 50 --weights=w.st --input x.st") else {
            panic!()
        };
        assert_eq!(net.common.runs, 50);
        assert_eq!(net.common.weights, Some(PathBuf::from("w.st")));
        assert_eq!(net.common.input, Some(PathBuf::from("x.st")));
        assert_eq!(net.common.save, None);
        let Ok(Command::Net(net)) = parse("net") else {
            panic!()
        };
        assert_eq!(net.common.runs, DEFAULT_RUNS);
        let Ok(Command::Unit(unit)) = parse(
            "unit --combine add --in-channels 48 --out-channels 48 --groups 3 --runs 3 --save y.st",
        ) else {
            panic!()
        };
        assert_eq!(unit.common.runs, 3);
        assert_eq!(unit.common.save, Some(PathBuf::from("y.st")));
    }

    #[test]
    fn errors_are_one_line_and_name_the_argument() {
        for (args, needle) in [
            ("frobnicate", "'frobnicate'"),
            ("net --groups", "--groups needs a value"),
            ("net --groups 5", "--groups must be 1, 2, 3, 4 or 8, got 5"),
            ("net --scale x", "invalid value for --scale: 'x'"),
            ("net --runs 0", "--runs must be between 1"),
            ("net --bogus 1", "unknown option '--bogus' for net"),
            ("net stray", "unexpected argument 'stray'"),
            (
                "unit --combine add --in-channels 48 --out-channels 48",
                "unit needs --groups",
            ),
        ] {
            let Err(message) = parse(args) else {
                panic!("accepted: {args}")
            };
            assert!(message.contains(needle), "{args}: {message}");
            assert!(!message.contains('\n'), "{args}: {message}");
            assert!(!message.contains("usage"), "{args}: {message}");
        }
    }

    #[test]
    fn save_path_is_checked_before_running() {
        let dir = std::env::temp_dir();
        assert_eq!(check_save_path(None), Ok(()));
        assert_eq!(check_save_path(Some(&PathBuf::from("out.st"))), Ok(()));
        assert_eq!(check_save_path(Some(&dir.join("out.st"))), Ok(()));
        let missing = dir.join("shufflenet-no-such-dir").join("out.st");
        let err = check_save_path(Some(&missing)).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
        let err = check_save_path(Some(&dir)).unwrap_err();
        assert!(err.contains("is a directory"), "{err}");
    }

    #[test]
    fn shape_mismatches_hint_at_the_configuration() {
        let shape = WeightError::Shape {
            name: "stage2.1.right.0.weight".into(),
            expected: vec![60, 80, 1, 1],
            found: vec![48, 24, 1, 1],
        };
        let e = explain_mismatch(ModelError::Weights(shape), || "check --groups".into());
        assert!(
            e.to_string()
                .ends_with("expected [60, 80, 1, 1]: check --groups"),
            "{e}"
        );
        let missing = WeightError::Missing {
            name: "fc.weight".into(),
            origin: "w.st".into(),
        };
        let e = explain_mismatch(ModelError::Weights(missing), || "check --groups".into());
        assert!(!e.to_string().contains("--groups"), "{e}");
    }

    #[test]
    fn parses_unit() {
        let Ok(Command::Unit(u)) = parse(
            "unit --combine concat --in-channels 24 --out-channels 60 --groups 3 --no-grouped-conv",
        ) else {
            panic!()
        };
        assert_eq!(
            u.config,
            UnitConfig {
                in_channels: 24,
                out_channels: 60,
                groups: 3,
                grouped_conv: false,
                combine: Combine::Concat
            }
        );
    }

    #[test]
    fn rejects_bad_arguments() {
        for bad in [
            "frobnicate",
            "net --groups",
            "net --groups 5",
            "net --groups x",
            "net --scale 3",
            "net --scale 0.1",
            "net --batch 0",
            "net --threads 0",
            "net --size 100000",
            "net --batch 5000",
            "net --size -3",
            "net --no-grouped-conv",
            "net --bogus 1",
            "net stray",
            "net --weights",
            "unit --combine add --in-channels 48 --out-channels 48",
            "unit --combine both --in-channels 48 --out-channels 48 --groups 3",
            "unit --combine add --in-channels 48 --out-channels 96 --groups 3",
            "unit --combine concat --in-channels 48 --out-channels 48 --groups 3",
            "unit --combine add --in-channels 48 --out-channels 48 --groups 5",
            "unit --combine add --in-channels 48 --out-channels 48 --groups 3 --no-grouped-conv=1",
            "unit --combine add --in-channels 48 --out-channels 48 --groups 3 --scale 1",
        ] {
            assert!(parse(bad).is_err(), "accepted: {bad}");
        }
    }
}
