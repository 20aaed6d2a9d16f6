"""``harness audit verify <file> [--head HASH]``: check a run's hash-chained audit trail (``harness.trust.audit``).

Exits 0 when the chain is intact, 1 at the first problem, 2 when the file is missing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import USAGE_ERROR


def main(argv: Sequence[str]) -> int:
    """``verify <file> [--head HASH]``: 0 intact, 1 tampered, 2 missing file."""
    parser = argparse.ArgumentParser(prog="harness audit", description="Audit trail tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="check the hash chain of an audit JSONL file")
    verify.add_argument("file", type=Path)
    verify.add_argument("--head", help="expected hash of the last line, as write_audit returned it")
    args = parser.parse_args(argv)

    from harness.trust.audit import verify_audit

    try:
        report = verify_audit(args.file, head=args.head)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    print(report)
    return 0 if report.ok else 1
