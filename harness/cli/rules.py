"""``harness rules``: check rule packs without running anything else.

    harness rules validate <pack name or path> [...]   # OK + summary, or the errors; exit 0/1
    harness rules list                                 # the bundled packs
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coders.rule_pack import RulePack


def _summary(pack: RulePack) -> str:
    rules = ", ".join(f"{r.id} ({r.type})" for r in pack.rules)
    return f"{pack.pack_version}: {pack.code_set.system} {pack.code_set.year}, {len(pack.rules)} rules: {rules}"


def _validate(packs: list[str]) -> int:
    from coders.rule_pack import RulePackError, load_pack

    failed = 0
    for name in packs:
        try:
            pack = load_pack(name)
        except RulePackError as exc:
            print(f"FAILED {exc}", file=sys.stderr)
            failed += 1
        else:
            print(f"OK {_summary(pack)}")
    return 1 if failed else 0


def _list() -> int:
    from coders.rule_pack import RulePackError, bundled_packs, load_pack

    for name in bundled_packs():
        try:
            pack = load_pack(name)
        except RulePackError as exc:
            print(f"{name}: INVALID ({len(exc.problems)} problems; run: harness rules validate {name})")
        else:
            print(f"{name}: version {pack.version}, {pack.code_set.system} {pack.code_set.year}, {len(pack.rules)} rules")
            print(f"    {pack.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="harness rules", description="Validate and list rule packs.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="validate packs by bundled name or path")
    validate.add_argument("packs", nargs="+", metavar="pack", help="bundled pack name (icd10cm_2026_v2) or path to a YAML file")
    commands.add_parser("list", help="list the bundled packs")
    args = parser.parse_args(argv)
    return _validate(args.packs) if args.command == "validate" else _list()

