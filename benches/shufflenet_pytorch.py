#!/usr/bin/env python3
"""Time PyTorch CPU eager inference of ShuffleNet v1 (groups=3, scale=1.0).

The baseline for `cargo run --release --features shufflenet --bin shufflenet`.
The model definition is shared with the parity fixtures in
tests/data/shufflenet/gen_shufflenet.py, and the weights are seeded the same
way. To compare the top-5 classes with the Rust binary, write the weights and
input with `--save-weights W --save-input X` and run
`shufflenet net --weights W --input X`.

    pip install torch numpy einops safetensors
    python3 benches/shufflenet_pytorch.py [--runs 20] [--batch 1] [--size 224] [--threads 1 2]

With `--compare BIN` it times PyTorch and the einplan binary BIN side by
side, alternating between them sample by sample, for 1 and 2 threads and
batches of 1 and 8, and prints the medians over `--rounds` rounds as a
markdown table, with the machine's load average before and after:

    cargo build --release --features shufflenet --bin shufflenet
    python3 benches/shufflenet_pytorch.py --compare target/release/shufflenet --rounds 5
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tests' / 'data' / 'shufflenet'))
from gen_shufflenet import build  # noqa: E402


def time_forward(model, x, threads, warmup, runs):
    torch.set_num_threads(threads)
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        for _ in range(runs):
            start = time.perf_counter()
            y = model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), y


def einplan_sample(binary, args, batch, threads):
    """Median total and per-stage times (ms) of one run of the binary."""
    cmd = [binary, 'net', '--groups', str(args.groups), '--scale', str(args.scale),
           '--batch', str(batch), '--size', str(args.size), '--threads', str(threads),
           '--runs', str(args.runs)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    total = float(re.search(r'^\s*total\s+([\d.]+) ms', out, re.M).group(1))
    stages = {m.group(1): float(m.group(2))
              for m in re.finditer(r'^\s*(stem|stage\d|head)\s+\[.*?\]\s+([\d.]+) ms', out, re.M)}
    return total, stages


def load():
    return ', '.join(f'{v:.2f}' for v in os.getloadavg())


def compare(model, args):
    configs = [(threads, batch) for threads in (1, 2) for batch in (1, 8)]
    inputs = {b: torch.randn(b, 3, args.size, args.size,
                             generator=torch.Generator().manual_seed(args.seed + 2))
              for b in (1, 8)}
    torch_times = {c: [] for c in configs}
    einplan_times = {c: [] for c in configs}
    stage_times = {}
    load_before = load()
    cpus = sorted(os.sched_getaffinity(0))
    for r in range(args.rounds):
        for threads, batch in configs:
            # One-thread samples of both programs run on the same core, a
            # different one each round: the cores of a virtual machine can
            # differ in speed from minute to minute (the binary inherits
            # the affinity).
            if threads == 1 and args.pin:
                os.sched_setaffinity(0, {cpus[r % len(cpus)]})
            median, _, _ = time_forward(model, inputs[batch], threads, args.warmup, args.runs)
            torch_times[threads, batch].append(median * 1e3)
            # A pause before each sample of either program, so that no
            # thread of the last one (PyTorch's OpenMP workers wait
            # spinning for a moment) is still on a core.
            time.sleep(args.settle)
            total, stages = einplan_sample(args.compare, args, batch, threads)
            time.sleep(args.settle)
            einplan_times[threads, batch].append(total)
            for name, t in stages.items():
                stage_times.setdefault((threads, batch, name), []).append(t)
            os.sched_setaffinity(0, cpus)
    load_after = load()

    print(f'PyTorch {torch.__version__} eager CPU vs einplan, ShuffleNet v1 g={args.groups} '
          f'scale={args.scale}, {args.size}x{args.size}; medians of {args.rounds} rounds, '
          f'each the median of {args.runs} runs after warm-up, alternating sample by sample, '
          f'{args.settle:g} s apart'
          + ('; one-thread samples pinned to one core, a different one each round' if args.pin else ''))
    print(f'load average (1, 5, 15 min): {load_before} before, {load_after} after\n')
    print('| threads | batch | einplan | PyTorch | einplan / PyTorch |')
    print('|---|---|---|---|---|')
    for threads, batch in configs:
        e = statistics.median(einplan_times[threads, batch])
        t = statistics.median(torch_times[threads, batch])
        print(f'| {threads} | {batch} | {e:.2f} ms | {t:.2f} ms | {e / t:.2f} |')
    one, two = (statistics.median(einplan_times[t, 1]) for t in (1, 2))
    print(f'\neinplan batch 1: 2 threads are {one / two:.2f}x as fast as 1')
    print('\neinplan per stage (median ms):\n')
    print('| stage | ' + ' | '.join(f'{t} thr, batch {b}' for t, b in configs) + ' |')
    print('|---' * (len(configs) + 1) + '|')
    for name in ('stem', 'stage2', 'stage3', 'stage4', 'head'):
        cells = [f'{statistics.median(stage_times[t, b, name]):.2f}'
                 if (t, b, name) in stage_times else '' for t, b in configs]
        print(f'| {name} | ' + ' | '.join(cells) + ' |')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--groups', type=int, default=3)
    parser.add_argument('--scale', type=float, default=1.0)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--runs', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, nargs='+',
                        help='thread counts to time (default: 1 and all cores)')
    parser.add_argument('--save-weights', type=Path,
                        help='write the benchmarked state_dict as safetensors')
    parser.add_argument('--save-input', type=Path,
                        help='write the benchmark input as safetensors (tensor `input`)')
    parser.add_argument('--compare', metavar='BIN',
                        help='alternate with the einplan binary BIN and print a table')
    parser.add_argument('--rounds', type=int, default=3,
                        help='rounds of the --compare table (default 3)')
    parser.add_argument('--settle', type=float, default=1.0,
                        help='--compare: seconds to wait after each sample, so that the '
                             'next starts on idle cores (default 1)')
    parser.add_argument('--pin', action='store_true',
                        help='--compare: run both programs\' one-thread samples on one core, '
                             'a different core each round')
    args = parser.parse_args()

    spec = dict(kind='net', groups=args.groups, scale=args.scale, num_classes=1000)
    model = build(spec, args.seed)
    if args.compare:
        compare(model, args)
        return
    x = torch.randn(args.batch, 3, args.size, args.size,
                    generator=torch.Generator().manual_seed(args.seed + 2))
    params = sum(p.numel() for p in model.parameters())
    print(f'PyTorch {torch.__version__}, ShuffleNet g={args.groups} scale={args.scale}, '
          f'{params / 1e6:.2f}M parameters, input {tuple(x.shape)}, '
          f'{args.runs} runs after {args.warmup} warm-up')

    if args.save_weights:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.save_weights)
        print(f'weights written to {args.save_weights}')
    if args.save_input:
        from safetensors.torch import save_file
        save_file({'input': x.contiguous()}, args.save_input)
        print(f'input written to {args.save_input}')

    y = None
    for threads in args.threads or sorted({1, os.cpu_count() or 1}):
        median, best, y = time_forward(model, x, threads, args.warmup, args.runs)
        print(f'  threads={threads:<3d} median {median * 1e3:8.2f} ms   min {best * 1e3:8.2f} ms')

    top5 = torch.topk(y, 5, dim=1).indices
    for b, row in enumerate(top5.tolist()):
        print(f'  top-5 classes (batch {b}): {row}')


if __name__ == '__main__':
    main()
