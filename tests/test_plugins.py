"""A third-party package adds an extractor, a chart file reader (with its dataset) and a metric through entry points,
ships its own Hydra config options, and a ``harness run`` uses all of them without an edit to this package.

The plugin is built offline and installed into a folder of its own (``pip install --target``) that only the run's
``PYTHONPATH`` names: other tests in the same virtual environment never see it, and nothing is left to uninstall.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.run_record import RunFolder

PLUGIN: dict[str, str] = {
    "pyproject.toml": '''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "harness-plugin-example"
        version = "0.1.0"

        [project.entry-points."coding_harness.extractors"]
        keyword = "harness_plugin_example.keyword:KeywordExtractor"

        [project.entry-points."coding_harness.readers"]
        tsv = "harness_plugin_example.tsv:TsvReader"

        [project.entry-points."coding_harness.datasets"]
        tsv = "harness.sources.user_files:load_user_charts"

        [project.entry-points."coding_harness.metrics"]
        charts_with_keyword = "harness_plugin_example.metrics:charts_with_keyword"

        [tool.setuptools.packages.find]
        include = ["harness_plugin_example*", "hydra_plugins*"]

        [tool.setuptools.package-data]
        "harness_plugin_example.conf" = ["*/*.yaml"]
    ''',
    "harness_plugin_example/__init__.py": "",
    "harness_plugin_example/keyword.py": '''
        from typing import Literal

        from pydantic import BaseModel, ConfigDict

        from extractors.base import Extractor
        from harness.contracts import Extraction, Finding, Span


        class KeywordConfig(BaseModel):
            model_config = ConfigDict(extra="forbid")
            name: Literal["keyword"] = "keyword"
            train_split: None = None
            term: str = "hypertension"
            code: str = "I10"


        class KeywordExtractor(Extractor):
            name = "keyword"
            version = "1"
            config_model = KeywordConfig

            def extract(self, charts):
                found = []
                for chart in charts:
                    start = chart.text.lower().find(self.config.term)
                    span = Span(start=start, end=start + len(self.config.term))
                    findings = [Finding(text=self.config.term, code=self.config.code, spans=[span], confidence=0.9)]
                    found.append(Extraction(chart_id=chart.id, extractor=self.name, findings=findings if start >= 0 else []))
                return found
    ''',
    "harness_plugin_example/tsv.py": '''
        from harness.sources.loaded import LineProblem


        class TsvReader:
            suffixes = (".tsv",)

            def records(self, path, config):
                header, *rows = path.read_text(encoding="utf-8").splitlines()
                columns = header.split("\\t")
                for number, row in enumerate(rows, start=2):
                    cells = row.split("\\t")
                    if len(cells) != len(columns):
                        yield f"{path}:{number}", LineProblem(f"{len(cells)} cells for {len(columns)} columns")
                    else:
                        yield f"{path}:{number}", {column: cell for column, cell in zip(columns, cells) if cell}
    ''',
    "harness_plugin_example/metrics.py": '''
        from harness.metrics.registry import metric


        @metric("charts_with_keyword", "Charts with a predicted I10", "count", None, "extraction")
        def charts_with_keyword(outcomes):
            return sum(any(code == "I10" for code, _ in outcome.ranked) for outcome in outcomes)
    ''',
    "harness_plugin_example/conf/__init__.py": "",
    "harness_plugin_example/conf/extractor/keyword.yaml": "name: keyword\n",
    "harness_plugin_example/conf/dataset/tsv.yaml": "name: tsv\nformat: tsv\n",
    # Hydra's own way for an installed package to add config options: a SearchPathPlugin under hydra_plugins
    "hydra_plugins/harness_plugin_example/__init__.py": "",
    "hydra_plugins/harness_plugin_example/search_path.py": '''
        from hydra.core.config_search_path import ConfigSearchPath
        from hydra.plugins.search_path_plugin import SearchPathPlugin


        class HarnessPluginExampleSearchPath(SearchPathPlugin):
            def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
                search_path.append(provider="harness-plugin-example", path="pkg://harness_plugin_example.conf")
    ''',
}
"""The plugin's files, relative to its project folder."""

GOLD = json.dumps([{"code": "I10", "evidence": [{"start": 12, "end": 34}]}])
CHARTS = [
    ["id", "text", "gold", "meta"],
    ["t1", "Assessment: essential hypertension.", GOLD, '{"split": "dev"}'],
    ["t2", "Assessment: hypertension, essential.", json.dumps([{"code": "I10"}]), '{"split": "dev"}'],
    ["t3", "Asthma, mild intermittent.", "[]", '{"split": "dev"}'],
]


def write_plugin(folder: Path) -> None:
    import textwrap

    for relative, text in PLUGIN.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


@pytest.mark.slow  # builds and installs a package, then runs a job (about 20 s)
def test_a_plugin_package_adds_an_extractor_a_reader_and_a_metric(tmp_path: Path) -> None:
    write_plugin(tmp_path / "plugin")
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
                    "--target", str(site), str(tmp_path / "plugin")], check=True, capture_output=True, timeout=300)
    charts = tmp_path / "charts.tsv"
    charts.write_text("".join("\t".join(row) + "\n" for row in CHARTS), encoding="utf-8")
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "harness", "run", "dataset=tsv", f"dataset.path={charts}", "extractor=keyword",
                           "tracking.enabled=false", "extraction_cache=false", "summary=false", f"hydra.run.dir={run_dir}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    run = RunFolder(run_dir).artifacts
    predicted = {row["chart_id"]: sorted(code["code"] for code in row["codes"]) for row in run.predictions()}
    assert predicted == {"t1": ["I10"], "t2": ["I10"], "t3": []}  # the plugin's extractor read the plugin's format
    assert run.metrics()["charts_with_keyword"] == 2  # the plugin's metric, computed by the run
    assert (run.metrics()["n_charts"], run.metrics()["micro_f1"]) == (3, 1.0)
