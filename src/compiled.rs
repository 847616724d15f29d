//! A resolved pattern plus its per-shape plan cache; the engine behind the
//! compiled ops and the free functions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::Error;
use crate::ir::{Ir, Op};
use crate::parse::parse_pattern;
use crate::plan::{Plan, plan};
use crate::resolve::{resolve, set_length};

/// How many plans a compiled op keeps (one per input shape). When full, the
/// cache starts over; a workload with this many live shapes re-plans.
pub(crate) const PLAN_CACHE: usize = 64;

/// How many compiled patterns the free functions keep.
const PATTERN_CACHE: usize = 256;

#[derive(Debug)]
pub(crate) struct Compiled {
    ir: Ir,
    plans: Mutex<HashMap<Vec<usize>, Arc<Plan>>>,
}

impl Clone for Compiled {
    fn clone(&self) -> Self {
        Compiled::from_ir(self.ir.clone())
    }
}

impl Compiled {
    fn from_ir(ir: Ir) -> Compiled {
        Compiled {
            ir,
            plans: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn new(pattern: &str, op: Op) -> Result<Compiled, Error> {
        let ast = parse_pattern(pattern)?;
        Ok(Compiled::from_ir(resolve(pattern, &ast, op)?))
    }

    pub(crate) fn with(mut self, name: &str, len: usize) -> Result<Compiled, Error> {
        set_length(&mut self.ir, name, len)?;
        // Plans made before this length was known are stale.
        self.plans = Mutex::new(HashMap::new());
        Ok(self)
    }

    pub(crate) fn pattern(&self) -> &str {
        &self.ir.pattern
    }

    /// The span of the input side, for errors about the input as a whole.
    pub(crate) fn input_span(&self) -> crate::span::Span {
        self.ir.input_span
    }

    /// The plan for `shape`, from the cache or freshly made.
    pub(crate) fn plan(&self, shape: &[usize]) -> Result<Arc<Plan>, Error> {
        if let Some(p) = lock(&self.plans).get(shape) {
            return Ok(Arc::clone(p));
        }
        // Plan outside the lock: planning is pure, so two threads racing on
        // one shape both get a correct plan and one of them is kept.
        let fresh = Arc::new(plan(&self.ir, shape)?);
        let mut plans = lock(&self.plans);
        if plans.len() >= PLAN_CACHE {
            plans.clear();
        }
        plans.insert(shape.to_vec(), Arc::clone(&fresh));
        Ok(fresh)
    }
}

/// Locks a cache, recovering from poisoning: the caches hold only
/// immutable `Arc`s, so a panic elsewhere cannot leave them half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

type Key = (Op, String, Vec<(String, usize)>);

/// The compiled op for `(op, pattern, lengths)`, from a process-wide cache,
/// so the free functions do not re-parse a pattern used in a loop.
pub(crate) fn cached(
    op: Op,
    pattern: &str,
    lengths: &[(&str, usize)],
) -> Result<Arc<Compiled>, Error> {
    static CACHE: OnceLock<Mutex<HashMap<Key, Arc<Compiled>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key: Key = (
        op,
        pattern.to_owned(),
        lengths.iter().map(|&(n, l)| (n.to_owned(), l)).collect(),
    );
    if let Some(c) = lock(cache).get(&key) {
        return Ok(Arc::clone(c));
    }
    let mut compiled = Compiled::new(pattern, op)?;
    for &(name, len) in lengths {
        compiled = compiled.with(name, len)?;
    }
    let compiled = Arc::new(compiled);
    let mut cache = lock(cache);
    if cache.len() >= PATTERN_CACHE {
        cache.clear();
    }
    cache.insert(key, Arc::clone(&compiled));
    Ok(compiled)
}
