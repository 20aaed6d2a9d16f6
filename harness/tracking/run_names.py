"""A job's MLflow run name, short enough for the runs list: what tells the job apart comes first.

In a sweep that is what differs among its jobs (``rules=v2`` for ``rules=icd10cm_2026_v1,icd10cm_2026_v2``), the
rest being the parent's; alone, it is the job's overrides. A config group's choice reads as its value
(``fax_light``), a setting as ``key=value``. Overrides that only say where or how a run is shown
(:data:`NOT_THE_DESIGN`) stay out of the name; every override stays in the run's ``harness.overrides`` tag.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

NOT_THE_DESIGN = ("tracking.", "hydra.", "summary")
"""Override keys (prefixes) that change where a run is recorded or how it is printed, never what it measures."""
SEPARATOR = " · "
MAX_CHARS = 250
"""MLflow keeps run names this long at most."""
_WORD_END = re.compile(r"[_\-.]")


def _key_value(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def changes_the_design(override: str) -> bool:
    """Whether ``override`` can change what the run measures (not only where it is recorded or how it is printed)."""
    return not _key_value(override)[0].startswith(NOT_THE_DESIGN)


def distinguishing(overrides: Sequence[str], siblings: Sequence[str] = ()) -> list[str]:
    """The overrides that tell this job from the other jobs of its sweep (``siblings``: every job's overrides,
    space-separated, this one's included); without siblings, the overrides that change the design."""
    shown = [o for o in overrides if changes_the_design(o)]
    jobs = [set(job.split()) for job in siblings]
    if len(jobs) < 2:
        return shown
    common = set.intersection(*jobs)
    return [o for o in shown if o not in common]


def _common_stem(values: Sequence[str]) -> str:
    """The longest start all ``values`` share that ends at a word break (``icd10cm_2026_``), and is shorter than each."""
    stem = values[0]
    for value in values[1:]:
        while not value.startswith(stem):
            stem = stem[:-1]
    cut = max((m.end() for m in _WORD_END.finditer(stem)), default=0)
    return stem[:cut] if all(len(v) > cut for v in values) else ""


def _shown(override: str, siblings: Sequence[str]) -> str:
    """One override as the name shows it: a group's choice by its value, shortened to what differs among the sweep's
    choices for that group (``rules=v2``); a setting as ``key=value``."""
    key, value = _key_value(override)
    if "." in key:
        return f"{key}={value}"
    values = sorted({v for job in siblings for k, v in map(_key_value, job.split()) if k == key} | {value})
    stem = _common_stem(values) if len(values) > 1 else ""
    return f"{key}={value[len(stem):]}" if stem else value


def run_name(overrides: Sequence[str], siblings: Sequence[str] = (), design: str = "") -> str:
    """The run name of a job with these command-line ``overrides``; ``siblings``: the sweep's jobs (see
    :func:`distinguishing`); ``design``: the name when no override distinguishes the job (its dataset, extractor and
    rules)."""
    parts = [_shown(o, siblings) for o in distinguishing(overrides, siblings)]
    return (SEPARATOR.join(parts) or design)[:MAX_CHARS]
