"""A page degradation counts what it changed, and says so where it changed nothing (issue 26, item 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ROOT, harness

from harness.intake.degrade import DegradationConfig, degrade_chart
from harness.intake.degrade.config import RenderConfig
from harness.intake.degrade.effects import PageChanges, page_change_metrics, unchanged_notes
from harness.metrics import registry


def _option(name: str, dpi: int = 72) -> DegradationConfig:
    settings = yaml.safe_load((PROJECT_ROOT / "conf" / "degradation" / f"{name}.yaml").read_text())
    return DegradationConfig.model_validate(settings).model_copy(update={"render": RenderConfig(dpi=dpi)})


def test_changes_are_counted_from_the_delivered_page_order() -> None:
    assert PageChanges.of([0], rendered=1, copied_blocks=0) == PageChanges(1, 0, 0, False, 0)
    assert PageChanges.of([2, 0], rendered=3, copied_blocks=0) == PageChanges(3, 1, 0, True, 0)
    assert PageChanges.of([0, 0, 1], rendered=2, copied_blocks=1) == PageChanges(2, 0, 1, False, 1)
    assert page_change_metrics([]) == {}
    counted = page_change_metrics([PageChanges(1, 0, 0, False, 0), PageChanges(3, 1, 0, True, 0)])
    assert counted == {"pages_rendered": 4, "pages_dropped": 1, "pages_duplicated": 0, "charts_reordered": 1,
                       "copy_forward_blocks": 0}
    for name in counted:  # pipeline decisions, shown by the reports: registered, not the machine's
        assert registry.is_registered(name) and not registry.measures_the_machine(name)


def test_only_an_operation_that_changed_nothing_gets_a_note() -> None:
    missing = {"name": "missing_pages", "page_ops": {"drop_pages": 1}}
    single = {"n_charts": 3, "pages_rendered": 3, "pages_dropped": 0}
    assert unchanged_notes(missing, single) == [
        "degradation missing_pages: 0 pages dropped (every chart has one page): drop_pages changed nothing"]
    assert unchanged_notes(missing, {"n_charts": 3, "pages_rendered": 8, "pages_dropped": 3}) == []
    assert unchanged_notes({"name": "clean", "page_ops": {}}, single) == []
    assert unchanged_notes(missing, {"n_charts": 3}) == []  # nothing rendered: no page operation ran


def test_the_bundled_sample_charts_lose_a_page_each(tmp_path: Path) -> None:
    """The sample's charts run to several pages, so missing_pages drops one of each: counted, no note."""
    from harness.config import DatasetConfig
    from harness.sources import load_charts

    charts = load_charts(DatasetConfig(name="sample", limit=3))
    changes = [degrade_chart(chart, _option("missing_pages"), 0, tmp_path).page_changes for chart in charts]
    assert all(c.rendered > 1 and c.dropped == 1 and c.duplicated == 0 and not c.reordered for c in changes)
    shuffled = [degrade_chart(chart, _option("shuffled_pages"), 0, tmp_path).page_changes for chart in charts]
    assert all(c.reordered and c.dropped == 0 for c in shuffled)


@pytest.mark.slow
def test_missing_pages_on_one_page_codiesp_charts_says_it_changed_nothing(data_dir: Path, tmp_path: Path) -> None:
    """CodiEsp's clinical cases print on one page: no page can be dropped, and the summary and report say so."""
    out = harness(tmp_path, "dataset=codiesp_es", "degradation=missing_pages", "dataset.limit=2", "tracking.enabled=false",
                  f"hydra.run.dir={tmp_path / 'run'}")
    note = "degradation missing_pages: 0 pages dropped (every chart has one page): drop_pages changed nothing"
    assert f"note: {note}" in out.stdout.splitlines()
    metrics = json.loads((tmp_path / "run" / "artifacts" / "metrics.json").read_text())
    assert (metrics["pages_rendered"], metrics["pages_dropped"]) == (2, 0)
    assert note in (tmp_path / "run" / "artifacts" / "report.html").read_text()
