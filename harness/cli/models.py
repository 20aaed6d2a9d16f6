"""``harness models prepare <name> [--dest DIR] [--force]``: local weights for the model-served extractors
(``extractors.llm.weights``). Prints the prepared folder as JSON; exits 1 when the model cannot be prepared."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence


def main(argv: Sequence[str]) -> int:
    """Prepare one packaged model; the exit status."""
    from extractors.llm import weights

    parser = argparse.ArgumentParser(prog="harness models", description=weights.__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="convert a packaged model into an HF folder (once)")
    prep.add_argument("name", choices=sorted(weights.MODELS))
    prep.add_argument("--dest", help="target folder (default: <cache>/models/<folder>)")
    prep.add_argument("--force", action="store_true", help="convert again even if the folder is complete")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    try:
        path = weights.prepare(args.name, args.dest, force=args.force)
    except weights.ModelUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"model": args.name, "path": str(path), "revision": weights.model_revision(path),
                      "seconds": round(time.perf_counter() - started, 1)}))
    return 0
