"""``harness sample [--seed N] [--n N] [--out DIR]``: write the bundled synthetic sample (``harness.sources.sample``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str]) -> int:
    """Write the charts and their card; the same seed and count give the same files byte for byte."""
    from harness.sources.sample import generator

    parser = argparse.ArgumentParser(prog="harness sample", description=generator.__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=generator.DEFAULT_SEED, help="random seed (recorded in every chart)")
    parser.add_argument("--n", type=int, default=generator.DEFAULT_N, help="number of charts (60%% train, 20%% dev, 20%% test)")
    parser.add_argument("--out", type=Path, default=Path("datasets/sample"), help="output folder")
    args = parser.parse_args(argv)
    charts = generator.write_sample(args.out, args.seed, args.n)
    version = generator.GENERATOR_VERSION
    print(f"wrote {len(charts)} charts to {args.out / 'charts.jsonl'} (seed {args.seed}, generator {version})")
    return 0
