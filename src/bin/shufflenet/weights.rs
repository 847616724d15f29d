//! Model parameters and tensor files.
//!
//! * [`StateDict`] reads a PyTorch `state_dict` saved with
//!   `safetensors.torch.save_file` and hands out tensors by their PyTorch
//!   names, checking shape and dtype.
//! * [`SeededInit`] produces the same names and shapes from a small seeded
//!   generator, for running without a weights file.
//! * [`read_tensor`] / [`write_tensor`] handle the one-tensor files used for
//!   inputs (`input`) and outputs (`output`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

/// Why a tensor could not be read, found or accepted.
#[derive(Debug)]
pub enum WeightError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Format {
        path: PathBuf,
        message: String,
    },
    Missing {
        name: String,
        origin: String,
    },
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    Dtype {
        name: String,
        found: String,
    },
}

impl fmt::Display for WeightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            WeightError::Format { path, message } => {
                write!(
                    f,
                    "{}: not a valid safetensors file: {message}",
                    path.display()
                )
            }
            WeightError::Missing { name, origin } => {
                write!(f, "tensor `{name}` not found in {origin}")
            }
            WeightError::Shape {
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "tensor `{name}` has shape {found:?}, expected {expected:?}"
                )
            }
            WeightError::Dtype { name, found } => {
                write!(f, "tensor `{name}` has dtype {found}, expected F32")
            }
        }
    }
}

impl std::error::Error for WeightError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WeightError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// How [`SeededInit`] fills a parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Uniform on `[low, high)`.
    Uniform { low: f32, high: f32 },
    /// Normal with mean 0.
    Normal { std: f32 },
}

/// Anything the model builder can ask for named parameters.
pub trait ParamSource {
    /// The tensor `name` with exactly `shape`. `init` says how to make one up
    /// when the source generates parameters instead of loading them.
    fn param(
        &mut self,
        name: &str,
        shape: &[usize],
        init: Init,
    ) -> Result<ArrayD<f32>, WeightError>;
}

fn read_file(path: &Path) -> Result<Vec<u8>, WeightError> {
    std::fs::read(path).map_err(|source| WeightError::Io {
        path: path.to_owned(),
        source,
    })
}

fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>, WeightError> {
    SafeTensors::deserialize(bytes).map_err(|e| WeightError::Format {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn to_array(name: &str, view: &TensorView<'_>) -> Result<ArrayD<f32>, WeightError> {
    if view.dtype() != Dtype::F32 {
        return Err(WeightError::Dtype {
            name: name.to_owned(),
            found: format!("{:?}", view.dtype()),
        });
    }
    let data: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(ArrayD::from_shape_vec(IxDyn(view.shape()), data).expect("safetensors checked the length"))
}

/// A loaded `state_dict`. Tensors are taken out as the model asks for them,
/// so [`StateDict::unused`] lists whatever the model did not consume.
#[derive(Debug)]
pub struct StateDict {
    origin: String,
    tensors: BTreeMap<String, Result<ArrayD<f32>, String>>,
}

impl StateDict {
    /// Reads every tensor of a safetensors file. Non-f32 tensors only fail
    /// when asked for; `num_batches_tracked` counters are dropped.
    pub fn load(path: &Path) -> Result<StateDict, WeightError> {
        let bytes = read_file(path)?;
        let file = parse(&bytes, path)?;
        let mut tensors = BTreeMap::new();
        for (name, view) in file.iter() {
            if name.ends_with("num_batches_tracked") {
                continue;
            }
            let entry = to_array(name, &view).map_err(|_| format!("{:?}", view.dtype()));
            tensors.insert(name.to_owned(), entry);
        }
        Ok(StateDict {
            origin: path.display().to_string(),
            tensors,
        })
    }

    /// Builds a state dict from in-memory tensors.
    #[cfg(test)]
    pub fn from_tensors(
        origin: &str,
        tensors: impl IntoIterator<Item = (String, ArrayD<f32>)>,
    ) -> StateDict {
        StateDict {
            origin: origin.to_owned(),
            tensors: tensors.into_iter().map(|(k, v)| (k, Ok(v))).collect(),
        }
    }

    /// The shape of tensor `name`, if the file has it as f32 and it has
    /// not been taken yet.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name)?.as_ref().ok().map(|a| a.shape())
    }

    /// Names that were never taken by [`ParamSource::param`].
    pub fn unused(&self) -> Vec<&str> {
        self.tensors.keys().map(String::as_str).collect()
    }
}

impl ParamSource for StateDict {
    fn param(
        &mut self,
        name: &str,
        shape: &[usize],
        _init: Init,
    ) -> Result<ArrayD<f32>, WeightError> {
        let entry = self
            .tensors
            .remove(name)
            .ok_or_else(|| WeightError::Missing {
                name: name.to_owned(),
                origin: self.origin.clone(),
            })?;
        let array = entry.map_err(|found| WeightError::Dtype {
            name: name.to_owned(),
            found,
        })?;
        if array.shape() != shape {
            return Err(WeightError::Shape {
                name: name.to_owned(),
                expected: shape.to_vec(),
                found: array.shape().to_vec(),
            });
        }
        Ok(array)
    }
}

/// xorshift64* — small, fast and reproducible everywhere.
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    pub fn new(seed: u64) -> XorShift64 {
        // splitmix64 of the seed, so nearby seeds give unrelated streams
        // and the state is never zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        XorShift64((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform on `[0, 1)` with 24 random bits.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Standard normal (Box–Muller).
    pub fn next_normal(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64); // (0, 1]
        let u2 = (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    pub fn sample(&mut self, init: Init) -> f32 {
        match init {
            Init::Uniform { low, high } => low + (high - low) * self.next_f32(),
            Init::Normal { std } => std * self.next_normal(),
        }
    }

    pub fn array(&mut self, shape: &[usize], init: Init) -> ArrayD<f32> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || self.sample(init))
    }
}

/// Deterministic parameters: each tensor gets its own stream, derived from
/// the seed and its name, so adding a layer does not change the others.
#[derive(Clone, Debug)]
pub struct SeededInit {
    seed: u64,
    /// Every `(name, shape)` handed out, in order.
    pub produced: Vec<(String, Vec<usize>)>,
}

impl SeededInit {
    pub fn new(seed: u64) -> SeededInit {
        SeededInit {
            seed,
            produced: Vec::new(),
        }
    }
}

/// FNV-1a, to turn a tensor name into a stream id.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

impl ParamSource for SeededInit {
    fn param(
        &mut self,
        name: &str,
        shape: &[usize],
        init: Init,
    ) -> Result<ArrayD<f32>, WeightError> {
        self.produced.push((name.to_owned(), shape.to_vec()));
        Ok(XorShift64::new(self.seed ^ name_hash(name)).array(shape, init))
    }
}

/// Reads the f32 tensor `name` from a safetensors file.
pub fn read_tensor(path: &Path, name: &str) -> Result<ArrayD<f32>, WeightError> {
    let bytes = read_file(path)?;
    let file = parse(&bytes, path)?;
    let view = file.tensor(name).map_err(|_| WeightError::Missing {
        name: name.to_owned(),
        origin: path.display().to_string(),
    })?;
    to_array(name, &view)
}

/// Writes `array` as the only tensor, `name`, of a safetensors file.
pub fn write_tensor(path: &Path, name: &str, array: &ArrayD<f32>) -> Result<(), WeightError> {
    let bytes: Vec<u8> = array.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F32, array.shape().to_vec(), &bytes).map_err(|e| {
        WeightError::Format {
            path: path.to_owned(),
            message: e.to_string(),
        }
    })?;
    safetensors::serialize_to_file([(name, view)], None, path).map_err(|e| match e {
        safetensors::SafeTensorError::IoError(source) => WeightError::Io {
            path: path.to_owned(),
            source,
        },
        other => WeightError::Format {
            path: path.to_owned(),
            message: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, array};

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("shufflenet-weights-{}-{name}", std::process::id()))
    }

    #[test]
    fn round_trip_single_tensor() {
        let path = temp_path("roundtrip.safetensors");
        let x = Array::from_shape_fn((2, 3, 4), |(a, b, c)| (a * 12 + b * 4 + c) as f32 - 5.5)
            .into_dyn();
        write_tensor(&path, "input", &x).unwrap();
        assert_eq!(read_tensor(&path, "input").unwrap(), x);
        let err = read_tensor(&path, "output").unwrap_err();
        assert!(
            matches!(err, WeightError::Missing { ref name, .. } if name == "output"),
            "{err}"
        );
        // A non-standard-layout array is written in logical order.
        let t = x.clone().reversed_axes();
        write_tensor(&path, "output", &t).unwrap();
        assert_eq!(read_tensor(&path, "output").unwrap(), t);
        std::fs::remove_file(&path).ok();
    }

    fn save(path: &Path, tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)>) {
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize_to_file(views, None, path).unwrap();
    }

    #[test]
    fn state_dict_checks_names_shapes_and_dtypes() {
        let path = temp_path("state.safetensors");
        let w: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        save(
            &path,
            vec![
                ("conv.weight", Dtype::F32, vec![2, 2], w.clone()),
                ("conv.bias", Dtype::F32, vec![4], w),
                (
                    "bn.num_batches_tracked",
                    Dtype::I64,
                    vec![],
                    7i64.to_le_bytes().to_vec(),
                ),
                ("half", Dtype::F16, vec![2], vec![0, 60, 0, 60]),
            ],
        );
        let mut sd = StateDict::load(&path).unwrap();
        let init = Init::Normal { std: 1.0 };
        assert_eq!(
            sd.param("conv.weight", &[2, 2], init).unwrap(),
            array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn()
        );

        let err = sd.param("conv.bias", &[2, 2], init).unwrap_err();
        assert!(matches!(err, WeightError::Shape { .. }), "{err}");
        assert!(
            err.to_string().contains("conv.bias") && err.to_string().contains("[4]"),
            "{err}"
        );

        let err = sd.param("half", &[2], init).unwrap_err();
        assert!(
            err.to_string().contains("`half`") && err.to_string().contains("F16"),
            "{err}"
        );

        let err = sd.param("fc.weight", &[1], init).unwrap_err();
        assert!(matches!(err, WeightError::Missing { .. }));
        assert!(err.to_string().contains("`fc.weight`"), "{err}");

        // num_batches_tracked was dropped at load; nothing else is left.
        assert!(sd.unused().is_empty(), "{:?}", sd.unused());
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn bad_files_are_reported() {
        let err = StateDict::load(Path::new("does/not/exist.safetensors")).unwrap_err();
        assert!(matches!(err, WeightError::Io { .. }));
        let path = temp_path("garbage.safetensors");
        std::fs::write(&path, b"not a safetensors file").unwrap();
        let err = StateDict::load(&path).unwrap_err();
        assert!(matches!(err, WeightError::Format { .. }), "{err}");
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn seeded_init_is_deterministic_and_per_name() {
        let u = Init::Uniform {
            low: -0.5,
            high: 0.5,
        };
        let a = SeededInit::new(7).param("x.weight", &[3, 4], u).unwrap();
        let b = SeededInit::new(7).param("x.weight", &[3, 4], u).unwrap();
        let c = SeededInit::new(7).param("y.weight", &[3, 4], u).unwrap();
        let d = SeededInit::new(8).param("x.weight", &[3, 4], u).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert!(a.iter().all(|&v| (-0.5..0.5).contains(&v)));
    }

    #[test]
    fn generator_statistics_are_sane() {
        let mut rng = XorShift64::new(1);
        let n = 20_000;
        let u: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
        let mean = u.iter().sum::<f32>() / n as f32;
        assert!(u.iter().all(|v| (0.0..1.0).contains(v)));
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        let z: Vec<f32> = (0..n).map(|_| rng.next_normal()).collect();
        let mean = z.iter().sum::<f32>() / n as f32;
        let var = z.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n as f32;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
