//! Conformance: replays `tests/data/rearrange.json`, generated from einops
//! by `tests/data/gen_fixtures.py`.
