"""``harness download <dataset> [--dest DIR] [--verify-only]``: fetch a dataset and verify it (``harness.sources.download``).

Exits 0 when every split matches the manifest, 1 when ``--verify-only`` finds a difference.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str]) -> int:
    """Download and verify, or only verify an existing copy; the exit status."""
    from harness.sources import download as source

    parser = argparse.ArgumentParser(prog="harness download", description=source.__doc__.splitlines()[0])
    parser.add_argument("dataset", help="dataset with a manifest under datasets/, e.g. codiesp")
    parser.add_argument("--dest", type=Path, default=Path("data"), help="folder to put it in (becomes HARNESS_DATA_DIR)")
    parser.add_argument("--verify-only", action="store_true", help="check an existing copy under --dest, download nothing")
    args = parser.parse_args(argv)
    manifest = source.load_manifest(args.dataset)
    if args.verify_only:
        problems = source.verify(args.dest / manifest["folder"], manifest)
        print("\n".join(problems) if problems else f"{args.dataset}: all splits match the manifest")
        return 1 if problems else 0
    target = source.download(args.dataset, args.dest)
    print(f"{args.dataset} verified and stored in {target}; export HARNESS_DATA_DIR={args.dest}")
    return 0
