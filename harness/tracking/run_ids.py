"""The run ids users type, resolved to MLflow run ids: one resolver behind every command that takes a run.

``gate``, ``gate promote``, ``report run | sweep | compare``, ``operations`` and ``merge`` accept, for a run:

- a run id, or a unique prefix of one of at least :data:`MIN_PREFIX` characters (the :data:`SHORT_ID` characters that
  ``harness runs``, the sweep report and MLflow show are enough);
- a run name, as MLflow and ``harness runs`` list it, when exactly one run has it;
- ``latest``: the newest finished run of the kind asked for (a job run; for ``report sweep`` and ``merge`` a sweep's
  parent run) in the experiment;
- ``champion``: the job run promoted with ``harness gate promote``, when the experiment has one champion; beside a
  candidate (``gate``, ``report compare``) the champion of the candidate's dataset/split (``gate_runs.resolve_runs``).

Ids and names are looked for in every experiment of the store; ``latest`` and ``champion`` in the one named. A prefix
or name that fits several runs is refused naming them; one that fits none is refused naming the closest ids and names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from datetime import datetime

from harness.tracking.gate_policy import CHAMPION
from harness.tracking.run_store import (
    DEFAULT_EXPERIMENT,
    DEFAULT_URI,
    RunStoreError,
    client,
    experiment_id,
    newest_run,
    tag_filter,
)

LATEST = "latest"
"""The word for the newest finished run of the kind a command takes."""
MIN_PREFIX = 6
"""Fewest characters of a run id taken as a prefix of one: fewer would often fit several runs."""
SHORT_ID = 8
"""Characters of a run id shown where a run is listed (``harness runs``, the sweep report, MLflow's run list)."""
_HEX = re.compile(r"[0-9a-fA-F]+")
_SHOWN_CANDIDATES = 5
"""Runs named in a refusal; more are counted."""
_MATCHES = 100
"""Most runs a prefix or name is matched with (counted in a refusal)."""
_CLOSEST_POOL = 200
"""Newest runs of the store compared with an unknown id or name for the closest ones."""


def short(run_id: str) -> str:
    """The run id as listings show it (:data:`SHORT_ID` characters)."""
    return run_id[:SHORT_ID]


def resolve_run(ref: str, uri: str = DEFAULT_URI, experiment: str = DEFAULT_EXPERIMENT, kind: str = "job") -> str:
    """The full id of the run ``ref`` names (see the module docstring); ``kind`` (``job`` or ``sweep``, the runs'
    ``harness.kind``) is what ``latest`` looks for. Anything that names no run, or several, is a ``RunStoreError``."""
    if ref == LATEST:
        return newest_run(kind, uri, experiment)
    if ref == CHAMPION:
        if kind != "job":
            raise RunStoreError(f"{CHAMPION} names a job run, not a {kind}: give the {kind}'s run id, name or {LATEST}")
        return _only_champion(uri, experiment)
    if not ref:
        raise RunStoreError(f"an empty run id: give a run id (or {MIN_PREFIX}+ characters of it), a name, {LATEST} or {CHAMPION}")
    experiments = _store_experiments(uri)
    found = {run.info.run_id: run for run in _named(ref, uri, experiments) + _by_prefix(ref, uri, experiments)}
    if len(found) == 1:
        return next(iter(found))
    if found:
        named = any(run.info.run_name == ref for run in found.values())
        what, fix = (f"run name {ref!r}", "give one's id") if named else (f"run id prefix {ref!r}", "give more characters")
        raise RunStoreError(f"{what} matches {len(found)} runs in {uri}: {_listed(list(found.values()))}; {fix}")
    if _HEX.fullmatch(ref) and len(ref) < MIN_PREFIX:
        raise RunStoreError(f"run id prefix {ref!r} is too short: give at least {MIN_PREFIX} characters of the id "
                            f"(harness runs lists them)")
    raise RunStoreError(f"run {ref!r} not found in {uri}: no run has that name or an id starting with it"
                        f"{_closest(ref, uri, experiments)}; harness runs lists the recent ones")


def _store_experiments(uri: str) -> list[str]:
    """Ids of every active experiment in the store: ids and names are looked for in all of them."""
    return [experiment.experiment_id for experiment in client(uri).search_experiments()]


def _named(name: str, uri: str, experiments: list[str]) -> list:
    """The runs called ``name``, newest first."""
    quote = "'" if "'" not in name else '"'
    if quote in name:  # a name with both quotes cannot be written in a filter: no run is looked up by it
        return []
    return client(uri).search_runs(experiments, filter_string=f"attributes.run_name = {quote}{name}{quote}",
                                   order_by=["attributes.start_time DESC"], max_results=_MATCHES)


def _by_prefix(ref: str, uri: str, experiments: list[str]) -> list:
    """The runs whose id starts with ``ref`` (a hex string of at least :data:`MIN_PREFIX` characters), newest first."""
    if not _HEX.fullmatch(ref) or len(ref) < MIN_PREFIX:
        return []
    return client(uri).search_runs(experiments, filter_string=f"attributes.run_id LIKE '{ref.lower()}%'",
                                   order_by=["attributes.start_time DESC"], max_results=_MATCHES)


def _only_champion(uri: str, experiment: str) -> str:
    """The champion of ``experiment`` when it has one (one dataset/split promoted); several are refused naming them."""
    found = client(uri).search_runs([experiment_id(uri, experiment)], filter_string=tag_filter({CHAMPION: "true"}),
                                    order_by=["attributes.start_time DESC"])
    if not found:
        raise RunStoreError(f"no champion run in experiment {experiment!r} at {uri}: promote one first "
                            "(harness gate promote <run>)")
    if len(found) > 1:
        raise RunStoreError(f"experiment {experiment!r} has a champion per dataset/split: {_listed(found)}; "
                            "give the one you mean by its id or name")
    return found[0].info.run_id


def _listed(runs: Sequence) -> str:
    """The runs as a refusal names them: each id as long as it takes to tell them apart, its name, dataset/split and start."""
    ids = [run.info.run_id for run in runs]
    width = next(n for n in range(SHORT_ID, 33) if len({run_id[:n] for run_id in ids}) == len(ids))
    shown = [f"{run.info.run_id[:width]} ({', '.join(_facts(run))})" for run in runs[:_SHOWN_CANDIDATES]]
    more = len(runs) - _SHOWN_CANDIDATES
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _facts(run) -> list[str]:
    tags = run.data.tags
    split = "/".join(tags[tag] for tag in ("dataset", "dataset.split") if tags.get(tag))
    started = datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M")
    return [f"{run.info.run_name!r}", *([split] if split else []), f"started {started}"]


def _closest(ref: str, uri: str, experiments: list[str]) -> str:
    """``; closest: ...`` naming the ids (compared on as many characters as ``ref`` has) and names nearest ``ref``, or
    nothing when none is near."""
    runs = client(uri).search_runs(experiments, order_by=["attributes.start_time DESC"], max_results=_CLOSEST_POOL)
    by_text = {}
    for run in runs:
        by_text.setdefault(run.info.run_id[:len(ref)].lower(), run)
        by_text.setdefault(run.info.run_name or "", run)
    near = difflib.get_close_matches(ref.lower() if _HEX.fullmatch(ref) else ref, [text for text in by_text if text], n=3)
    chosen = list({by_text[text].info.run_id: by_text[text] for text in near}.values())
    return f"; closest: {_listed(chosen)}" if chosen else ""
