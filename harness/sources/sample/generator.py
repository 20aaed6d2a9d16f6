"""Generator of the bundled sample: synthetic English charts with gold ICD-10-CM codes and evidence.

Every chart is written from a plan: the conditions the patient has (gold) and the
conditions the note mentions without asserting them (negated, uncertain, family
history, resolved history, symptoms integral to a diagnosis). Conditions come from a
curated inventory of common problems (``inventory.yaml``), each on a real billable
ICD-10-CM 2026 code, plus a few drawn at random from the tabular itself. The work is
split by stage: ``inventory`` (conditions), ``planner`` (what a chart asserts),
``writer`` (the note), ``chart`` (pages, gold, evidence) and ``card`` (the README).
This module keeps what the whole sample shares: its provenance, splits and :func:`write_sample`.

Everything is drawn from ``random.Random(f"{seed}:{index}")``: the same seed gives
byte-identical output. Run ``harness sample --seed 2026 --n 200 --out datasets/sample``
(``harness.cli.sample``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import cast

from coders.codeset import Icd10cm, code_set
from harness.contracts import Chart
from harness.sources.sample.card import dataset_card
from harness.sources.sample.chart import build_chart
from harness.sources.sample.inventory import Condition, load_inventory, read_conditions

GENERATOR = "harness.sources.sample.generator"
GENERATOR_VERSION = "1.0.0"
"""Bump when a change to the generator or its inventory changes the generated charts."""
DEFAULT_SEED = 2026
DEFAULT_N = 200
CODE_SET_YEAR = 2026
SPLIT_SHARES = (("train", 0.6), ("dev", 0.2), ("test", 0.2))
"""Share of charts per split, in file order (200 charts: 120 / 40 / 40)."""

_INVENTORY: tuple[Condition, ...] = read_conditions()
"""The curated conditions of ``inventory.yaml``; checked against the tabular by ``generate_charts``."""


def split_sizes(n: int) -> dict[str, int]:
    """Charts per split for ``n`` charts (the last split takes the rounding remainder)."""
    sizes = {name: round(n * share) for name, share in SPLIT_SHARES[:-1]}
    sizes[SPLIT_SHARES[-1][0]] = n - sum(sizes.values())
    return sizes


def generate_charts(seed: int = DEFAULT_SEED, n: int = DEFAULT_N) -> list[Chart]:
    """``n`` synthetic charts; the same ``seed`` and ``n`` always give the same charts."""
    table = cast(Icd10cm, code_set("icd10cm", CODE_SET_YEAR))
    inventory = load_inventory(table, _INVENTORY)
    splits = [name for name, size in split_sizes(n).items() for _ in range(size)]
    return [
        build_chart(
            index,
            random.Random(f"{seed}:{index}"),
            {"split": split, "generator": GENERATOR, "generator_version": GENERATOR_VERSION, "seed": seed},
            inventory,
            table,
        )
        for index, split in enumerate(splits, start=1)
    ]


def write_sample(out: Path, seed: int = DEFAULT_SEED, n: int = DEFAULT_N) -> list[Chart]:
    """Generate the sample into ``out`` (``charts.jsonl`` and ``README.md``) and return its charts."""
    charts = generate_charts(seed, n)
    out.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(chart.model_dump(mode="json"), ensure_ascii=False) + "\n" for chart in charts]
    (out / "charts.jsonl").write_text("".join(lines), encoding="utf-8", newline="\n")
    card = dataset_card(
        charts,
        seed=seed,
        generator=GENERATOR,
        version=GENERATOR_VERSION,
        code_set_year=CODE_SET_YEAR,
        splits=list(split_sizes(n)),
        inventory_size=len(_INVENTORY),
    )
    (out / "README.md").write_text(card, encoding="utf-8", newline="\n")
    return charts
