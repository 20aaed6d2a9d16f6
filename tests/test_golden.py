"""Golden runs: three jobs whose metrics and predictions must not change when the code is reorganised.

The files under ``tests/golden/`` were recorded before the package restructuring (issue 8). A change
that alters or drops any recorded metric or any prediction fails here; which metrics are left out as measuring the
machine, not the pipeline's decisions, the metric registry says (``harness.metrics.registry.measures_the_machine``).
A metric added since the recording is not compared, so a new metric needs no re-recording. Re-record only on purpose:
``python tests/test_golden.py`` (needs ``HARNESS_DATA_DIR``), and say why in the commit.

CodiEsp predictions quote the charts and list their gold codes, so for that job only a digest of
``predictions.jsonl`` is kept: the data is never copied into the repository.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from harness.metrics import registry

GOLDEN = Path(__file__).parent / "golden"
COMMON = ["tracking.enabled=false", "extraction_cache=false", "summary=false"]
JOBS = {
    "sample": [],
    "codiesp_es_dictionary": ["dataset=codiesp_es", "extractor=dictionary"],
    "sample_fax_light": ["degradation=fax_light", "dataset.limit=3"],
}
NEEDS_DATA = {"codiesp_es_dictionary"}


def run_job(name: str, out: Path, data_dir: Path | None) -> Path:
    env = dict(os.environ, **({"HARNESS_DATA_DIR": str(data_dir)} if data_dir else {}))
    command = [sys.executable, "-m", "harness", *JOBS[name], *COMMON, f"hydra.run.dir={out}"]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "artifacts"


def decisions(metrics_file: Path) -> dict[str, float]:
    return registry.decisions(json.loads(metrics_file.read_text()))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record(data_dir: Path) -> None:
    import tempfile

    for name in JOBS:
        with tempfile.TemporaryDirectory() as tmp:
            artifacts = run_job(name, Path(tmp) / name, data_dir)
            folder = GOLDEN / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "metrics.json").write_text(
                json.dumps(decisions(artifacts / "metrics.json"), indent=2, sort_keys=True) + "\n")
            if name in NEEDS_DATA:
                (folder / "predictions.sha256").write_text(digest(artifacts / "predictions.jsonl") + "\n")
            else:
                (folder / "predictions.jsonl").write_bytes((artifacts / "predictions.jsonl").read_bytes())
        print(f"recorded {name}")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(JOBS))
def test_job_matches_its_golden_record(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    data_dir = request.getfixturevalue("data_dir") if name in NEEDS_DATA else None
    artifacts = run_job(name, tmp_path / name, data_dir)
    folder = GOLDEN / name

    expected = decisions(folder / "metrics.json")
    got = decisions(artifacts / "metrics.json")
    assert sorted(expected.keys() - got.keys()) == [], "recorded metrics are no longer recorded"
    changed = {k: (expected[k], got[k]) for k in expected if not math.isclose(got[k], expected[k], rel_tol=1e-12, abs_tol=1e-12)}
    assert not changed, f"metrics changed (golden, now): {changed}"

    if name in NEEDS_DATA:
        assert digest(artifacts / "predictions.jsonl") == (folder / "predictions.sha256").read_text().strip()
    else:
        assert (artifacts / "predictions.jsonl").read_text() == (folder / "predictions.jsonl").read_text()


if __name__ == "__main__":
    record(Path(os.environ["HARNESS_DATA_DIR"]))
