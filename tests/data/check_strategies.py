#!/usr/bin/env python3
"""Check ``einplan::strategies`` against einops: every valid case must be
accepted and every invalid case rejected.

Run from the repository root::

    pip install einops numpy
    cargo test --all-features --test integration dump_cases_for_einops -- --ignored
    python3 tests/data/check_strategies.py target/strategy_cases.tsv

Each line of the input is ``valid|invalid <TAB> op <TAB> pattern <TAB>
shape (a JSON list; for einsum a list of shapes) <TAB> name=len,...``.
Prints the counts and up to ten disagreements; exits 1 if there are any.
"""

import json
import sys
import warnings

import einops
import numpy as np


def accepted(op, pattern, shape, lengths):
    try:
        if op == "einsum":
            einops.einsum(*[np.ones(s) for s in shape], pattern)
        else:
            x = np.ones(shape)
            if op == "rearrange":
                einops.rearrange(x, pattern, **lengths)
            elif op == "reduce":
                einops.reduce(x, pattern, "sum", **lengths)
            else:
                einops.repeat(x, pattern, **lengths)
        return True
    except Exception:  # einops' errors and numpy's underneath
        return False


def main():
    warnings.simplefilter("ignore")
    counts = {"valid": [0, 0], "invalid": [0, 0]}
    shown = 0
    for line in open(sys.argv[1]):
        kind, op, pattern, shape, lengths = line.rstrip("\n").split("\t")
        lengths = {k: int(v) for k, v in (p.split("=") for p in lengths.split(",") if p)}
        ok = accepted(op, pattern, json.loads(shape), lengths)
        agree = ok == (kind == "valid")
        counts[kind][0] += agree
        counts[kind][1] += 1
        if not agree and shown < 10:
            shown += 1
            print(f"einops {'rejects' if kind == 'valid' else 'accepts'} {kind} {op} {pattern!r} {shape} {lengths}")
    print(
        f"einops {einops.__version__}: accepts {counts['valid'][0]}/{counts['valid'][1]} valid cases, "
        f"rejects {counts['invalid'][0]}/{counts['invalid'][1]} invalid cases"
    )
    sys.exit(0 if shown == 0 else 1)


if __name__ == "__main__":
    main()
