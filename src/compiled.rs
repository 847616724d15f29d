//! A resolved pattern plus its per-shape plan cache; the engine behind the
//! compiled ops and the free functions.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
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
    plans: Mutex<Plans>,
}

/// A compiled op's plans: the one used last, checked first (a loop over
/// same-shape inputs never hashes), and all of them by input shape.
#[derive(Debug, Default)]
struct Plans {
    last: Option<Arc<Plan>>,
    by_shape: HashMap<Vec<usize>, Arc<Plan>>,
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
            plans: Mutex::default(),
        }
    }

    pub(crate) fn new(pattern: &str, op: Op) -> Result<Compiled, Error> {
        let ast = parse_pattern(pattern)?;
        Ok(Compiled::from_ir(resolve(pattern, &ast, op)?))
    }

    pub(crate) fn with(mut self, name: &str, len: usize) -> Result<Compiled, Error> {
        set_length(&mut self.ir, name, len)?;
        // Plans made before this length was known are stale.
        self.plans = Mutex::default();
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
        {
            let mut plans = lock(&self.plans);
            if let Some(p) = plans.last.as_ref().filter(|p| p.input_shape() == shape) {
                return Ok(Arc::clone(p));
            }
            if let Some(p) = plans.by_shape.get(shape).cloned() {
                plans.last = Some(Arc::clone(&p));
                return Ok(p);
            }
        }
        // Plan outside the lock: planning is pure, so two threads racing on
        // one shape both get a correct plan and one of them is kept.
        let fresh = Arc::new(plan(&self.ir, shape)?);
        let mut plans = lock(&self.plans);
        if plans.by_shape.len() >= PLAN_CACHE {
            plans.by_shape.clear();
        }
        plans.by_shape.insert(shape.to_vec(), Arc::clone(&fresh));
        plans.last = Some(Arc::clone(&fresh));
        Ok(fresh)
    }
}

/// Locks a cache, recovering from poisoning: the caches hold only
/// immutable `Arc`s, so a panic elsewhere cannot leave them half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One entry of the pattern cache: what it was compiled from, and the
/// result.
struct Entry {
    op: Op,
    pattern: String,
    lengths: Vec<(String, usize)>,
    compiled: Arc<Compiled>,
}

impl Entry {
    fn is(&self, op: Op, pattern: &str, lengths: &[(&str, usize)]) -> bool {
        self.op == op
            && self.pattern == pattern
            && self.lengths.len() == lengths.len()
            && self
                .lengths
                .iter()
                .zip(lengths)
                .all(|((n, l), (m, k))| n == m && l == k)
    }
}

/// The hash of a pattern cache key, computed from borrowed parts so that a
/// hit allocates nothing.
fn key_hash(op: Op, pattern: &str, lengths: &[(&str, usize)]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    op.hash(&mut h);
    pattern.hash(&mut h);
    lengths.hash(&mut h);
    h.finish()
}

/// The compiled op for `(op, pattern, lengths)`, from a process-wide cache,
/// so the free functions do not re-parse a pattern used in a loop.
pub(crate) fn cached(
    op: Op,
    pattern: &str,
    lengths: &[(&str, usize)],
) -> Result<Arc<Compiled>, Error> {
    static CACHE: OnceLock<Mutex<HashMap<u64, Vec<Entry>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let hash = key_hash(op, pattern, lengths);
    if let Some(bucket) = lock(cache).get(&hash) {
        if let Some(e) = bucket.iter().find(|e| e.is(op, pattern, lengths)) {
            return Ok(Arc::clone(&e.compiled));
        }
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
    let bucket = cache.entry(hash).or_default();
    if !bucket.iter().any(|e| e.is(op, pattern, lengths)) {
        bucket.push(Entry {
            op,
            pattern: pattern.to_owned(),
            lengths: lengths.iter().map(|&(n, l)| (n.to_owned(), l)).collect(),
            compiled: Arc::clone(&compiled),
        });
    }
    Ok(compiled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_cache_hits_and_evicts() {
        let c = Compiled::new("a b -> b a", Op::Rearrange).unwrap();
        let first = c.plan(&[2, 3]).unwrap();
        // A hit: the same plan, not a new one.
        assert!(Arc::ptr_eq(&first, &c.plan(&[2, 3]).unwrap()));
        let other = c.plan(&[4, 5]).unwrap();
        assert!(Arc::ptr_eq(&first, &c.plan(&[2, 3]).unwrap()));
        assert!(Arc::ptr_eq(&other, &c.plan(&[4, 5]).unwrap()));
        // Filling the cache starts it over: the first shape is planned
        // afresh (an equal plan, a new allocation).
        for n in 0..PLAN_CACHE {
            c.plan(&[7, n + 10]).unwrap();
        }
        let again = c.plan(&[2, 3]).unwrap();
        assert!(!Arc::ptr_eq(&first, &again));
        assert_eq!(*first, *again);
        // A length given later makes the old plans stale.
        let c = Compiled::new("(a b) -> a b", Op::Rearrange).unwrap();
        assert!(c.plan(&[6]).is_err());
        let c = c.with("a", 2).unwrap();
        assert_eq!(c.plan(&[6]).unwrap().output_shape(), &[2, 3]);
    }
}
