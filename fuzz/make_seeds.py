"""Writes seed corpora for the fuzz targets that read pattern text, from
the patterns of the conformance fixtures.

Usage: python3 fuzz/make_seeds.py   (from the repository root)
"""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
patterns = {}
for name in ["rearrange", "reduce", "repeat", "einsum", "pack", "parse_shape"]:
    path = root / "tests" / "data" / f"{name}.json"
    if path.exists():
        for case in json.loads(path.read_text())["cases"]:
            if "pattern" in case:
                patterns.setdefault(name, set()).add(case["pattern"])
everything = set().union(*patterns.values())
targets = {
    "parse": everything,
    "einsum_text": patterns.get("einsum", set()),
    "pack_unpack": patterns.get("pack", set()),
    "parse_shape": patterns.get("parse_shape", set()),
}
for target, seeds in targets.items():
    out = root / "fuzz" / "corpus" / target
    out.mkdir(parents=True, exist_ok=True)
    for i, p in enumerate(sorted(seeds)):
        (out / f"fixture-{i:04}").write_text(p)
    print(f"{len(seeds)} seed patterns in {out.relative_to(root)}")
