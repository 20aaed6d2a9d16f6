"""The Python API: the README's notebook example runs as written, and ``import harness`` stays free of it until used."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from harness.errors import ConfigError


def readme_example() -> str:
    """The first Python code block under the README's "Python API" heading."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Python API", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "README.md has no ```python block under ### Python API"
    return found.group(1)


def test_the_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # its run folders go under outputs/runs/ of the working folder
    scope: dict[str, object] = {}
    exec(compile(readme_example(), "README.md (Python API)", "exec"), scope)  # noqa: S102 - the documented example itself
    printed = capsys.readouterr().out
    assert re.search(r"micro-F1 0\.\d{3}, 95% interval 0\.\d{3} to \d\.\d{3}", printed), printed
    assert re.search(r"oracle - dictionary: \+0\.\d{3} \[", printed), printed
    a, b = scope["a"], scope["b"]
    assert a.folder.parent == (tmp_path / "outputs" / "runs").resolve() and a.report.is_file()
    assert len(a.chart_results) == 3 and [r["chart_id"] for r in a.per_chart] == [r.chart_id for r in a.chart_results]
    assert b.metrics["micro_f1"].value == 1.0 and a.metrics["micro_f1"].value < 1.0  # the oracle codes gold
    assert scope["change"].n_charts == 3
    from harness.tracking.gate_statistics import RunsNotComparable

    with pytest.raises(RunsNotComparable, match="same run"):  # the gate's own checks guard the API's comparison
        scope["harness"].compare(a, a)


def test_import_harness_loads_nothing_of_the_api() -> None:
    code = "import harness, harness.api; assert harness.evaluate is harness.api.evaluate; print('ok')"
    lazy = ("import sys, harness; loaded = [m for m in ('harness.api', 'hydra', 'mlflow', 'pydantic') if m in sys.modules]; "
            "print(loaded)")
    assert subprocess.run([sys.executable, "-c", lazy], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60).stdout.strip() == "[]"
    assert subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60).stdout.strip() == "ok"


def test_a_bad_override_is_one_config_error() -> None:
    from harness.api import evaluate

    with pytest.raises(ConfigError, match="extractor=nonesuch"):
        evaluate(["extractor=nonesuch"])
    with pytest.raises(ConfigError, match="list of key=value strings"):
        evaluate("dataset.limit=3")  # type: ignore[arg-type]

