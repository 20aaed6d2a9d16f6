"""What names a job's MLflow run and places it: its overrides, sweep parent and start (``JobIdentity``), and the
harness's git commit and branch (recorded as the run's ``git_commit`` and ``git_branch`` tags)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.job_config import JobConfig

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class JobIdentity:
    """What names a job's MLflow run and places it in time."""

    overrides: tuple[str, ...] = ()
    """The command-line overrides (``degradation=fax_light``): what differs from the defaults, named by the run's name
    and description."""
    parent_run_id: str | None = None
    """The sweep's parent run, for a job of a sweep."""
    started: float | None = None
    """When the job began (``time.time()``); MLflow shows it as the run's start (None: when the run is recorded)."""
    name: str | None = None
    """The run's name when not made from the job and its overrides (a merged run's)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags beside the job's own (a merged run's ``harness.merged_from``, ...)."""

    def run_name(self, job: JobConfig, siblings: Sequence[str] = ()) -> str:
        """The MLflow run name: the given name, else what tells the job from its sweep's other jobs (``siblings``, each
        one's overrides) or from the defaults (``harness.tracking.run_names``), else its dataset, extractor and rules."""
        from harness.tracking.run_names import MAX_CHARS, SEPARATOR, run_name

        if self.name:
            return self.name[:MAX_CHARS]
        return run_name(self.overrides, siblings, design=SEPARATOR.join((job.dataset.name, job.extractor.name, job.rules.name)))


def git_commit() -> str:
    """The checked-out commit of the harness ("unknown" outside a git checkout)."""
    return _git("rev-parse", "HEAD")


def git_branch() -> str:
    """The checked-out branch of the harness: CI checks out a pull request's commit detached, so there the CI's own
    variable names it (GitHub Actions' ``GITHUB_HEAD_REF``, else ``GITHUB_REF_NAME``); "unknown" when nothing does."""
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    if branch in ("HEAD", "unknown"):
        return os.environ.get("GITHUB_HEAD_REF") or os.environ.get("GITHUB_REF_NAME") or "unknown"
    return branch


def _git(*args: str) -> str:
    """What ``git <args>`` prints in the harness's checkout ("unknown" outside a git checkout)."""
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"
