"""``harness audit verify <file> [--head HASH]``: check a run's hash-chained audit trail (``harness.trust.audit``).

Exits 0 when the chain is intact, 1 at the first problem, 2 when the file is missing or cannot be read (a folder, a
device or pipe, an I/O error).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import USAGE_ERROR


def main(argv: Sequence[str]) -> int:
    """``verify <file> [--head HASH]``: 0 intact, 1 tampered, 2 a file that is missing or cannot be read."""
    parser = argparse.ArgumentParser(prog="harness audit", description="Audit trail tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="check the hash chain of an audit JSONL file")
    verify.add_argument("file", type=Path)
    verify.add_argument("--head", help="expected hash of the last line, as write_audit returned it")
    args = parser.parse_args(argv)

    from harness.trust.audit import verify_audit

    try:
        report = verify_audit(args.file, head=args.head)
    except FileNotFoundError as error:  # not a regular file, or none there: its message names the path
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as error:
        print(f"error: audit file {args.file} cannot be read: {error.strerror or error}", file=sys.stderr)
        return USAGE_ERROR
    print(report)
    return 0 if report.ok else 1
