"""Seeded degradations: configs, text noise, page operations, image operations, determinism."""

from __future__ import annotations

import difflib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import PROJECT_ROOT
from PIL import Image
from pydantic import ValidationError

from harness.contracts import Chart
from harness.intake.degrade import DegradationConfig, degrade_chart, kept_ranges
from harness.intake.degrade.config import AugraphyOp, FaxOp, PageOpsConfig, RenderConfig, ScanOp
from harness.intake.degrade.page_ops import copy_forward, select_pages
from harness.intake.degrade.text_noise import add_text_noise
from harness.intake.page_images import RenderedPage
from harness.intake.render import geometry, paginate, wrap_chart

OPTIONS = PROJECT_ROOT / "conf" / "degradation"
SMALL = RenderConfig(dpi=72)
"""A 612 x 792 page: enough for operations whose cost, not behaviour, grows with size."""


def _option(name: str) -> DegradationConfig:
    return DegradationConfig.model_validate(yaml.safe_load((OPTIONS / f"{name}.yaml").read_text()))


def _three_page_chart() -> Chart:
    notes = [f"NOTE {n}\n" + "\n".join(f"note {n} line {i}: hypertension and type 2 diabetes" for i in range(6)) for n in "ABC"]
    return Chart(id="three-pages", text="\f".join(notes), meta={"encounter": "outpatient"})


def _bytes(pages: list[RenderedPage]) -> list[bytes]:
    return [page.image_path.read_bytes() for page in pages]


# -- configs ------------------------------------------------------------------------------------


def test_every_option_validates_and_names_itself() -> None:
    names = sorted(path.stem for path in OPTIONS.glob("*.yaml"))
    assert {"clean", "rendered", "fax_light", "fax_heavy", "scan_light", "missing_pages", "shuffled_pages", "ocr_noise"} <= set(
        names
    )
    for name in names:
        assert _option(name).name == name


def test_clean_changes_nothing(tmp_path: Path) -> None:
    assert _option("clean") == DegradationConfig()
    chart = _three_page_chart()
    degraded = degrade_chart(chart, _option("clean"), seed=3, work_dir=tmp_path)
    assert (degraded.text, degraded.pages, degraded.kept_ranges) == (chart.text, [], [(0, len(chart.text))])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"image_ops": [{"type": "fax"}]}, "set render"),
        ({"page_ops": {"drop_pages": 1}}, "set render"),
        ({"render": {}, "text_noise": 0.02}, "text-only"),
        ({"render": {}, "image_ops": [{"type": "fax", "resolution": "superfine"}]}, "resolution"),
        ({"render": {}, "image_ops": [{"type": "blur"}]}, "type"),
        ({"render": {"dpi": 200, "colour": True}}, "colour"),
    ],
)
def test_bad_configs_are_rejected(values: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DegradationConfig.model_validate({"name": "x", **values})


def test_config_module_stays_light() -> None:
    code = ("import sys, harness.config, harness.intake.degrade; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'PIL'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert out.stdout.strip() == "[]"


# -- text noise ---------------------------------------------------------------------------------


def test_text_noise_rate_and_determinism(tmp_path: Path) -> None:
    text = " ".join(f"Patient {i} denies chest pain; BP 140/90, HbA1c 7.2%, creatinine 1.{i % 10} mg/dl." for i in range(60))
    chart = Chart(id="noisy", text=text)
    config = _option("ocr_noise")
    first = degrade_chart(chart, config, seed=1, work_dir=tmp_path)
    assert first.text == degrade_chart(chart, config, seed=1, work_dir=tmp_path).text
    assert first.text != degrade_chart(chart, config, seed=2, work_dir=tmp_path).text
    assert first.kept_ranges == [(0, len(text))] and first.pages == []
    blocks = [op for op in difflib.SequenceMatcher(None, text, first.text, autojunk=False).get_opcodes() if op[0] != "equal"]
    assert 0.7 * 0.02 * len(text) <= len(blocks) <= 1.3 * 0.02 * len(text)


def test_text_noise_uses_the_confusion_table() -> None:
    rng = np.random.default_rng(0)
    assert add_text_noise("modern", 0.5, rng) != "modern"
    assert add_text_noise("xyz qqq", 0.5, rng) == "xyz qqq"  # nothing confusable
    assert add_text_noise("rn", 1.0, np.random.default_rng(0)) == "m"
    assert add_text_noise("0", 1.0, np.random.default_rng(0)) in {"O", "o"}


# -- page operations ----------------------------------------------------------------------------


def test_select_pages_drop_duplicate_shuffle() -> None:
    rng = np.random.default_rng
    kept = select_pages(5, PageOpsConfig(drop_pages=2), rng(0))
    assert len(kept) == 3 and kept == sorted(set(kept))
    assert select_pages(1, PageOpsConfig(drop_pages=3), rng(0)) == [0]
    assert len(select_pages(3, PageOpsConfig(drop_pages=9), rng(0))) == 1
    doubled = select_pages(3, PageOpsConfig(duplicate_pages=1), rng(0))
    assert len(doubled) == 4 and sorted(set(doubled)) == [0, 1, 2] and doubled == sorted(doubled)
    for seed in range(20):
        assert select_pages(2, PageOpsConfig(shuffle=True), rng(seed)) == [1, 0]
        assert sorted(select_pages(4, PageOpsConfig(shuffle=True), rng(seed))) == [0, 1, 2, 3]
    assert select_pages(6, PageOpsConfig(shuffle=True), rng(4)) == select_pages(6, PageOpsConfig(shuffle=True), rng(4))
    assert len({tuple(select_pages(6, PageOpsConfig(shuffle=True), rng(s))) for s in range(5)}) > 1


def test_missing_pages_drops_exactly_one_and_its_text(tmp_path: Path) -> None:
    chart = _three_page_chart()
    degraded = degrade_chart(chart, _option("missing_pages"), seed=0, work_dir=tmp_path)
    assert degraded.n_rendered_pages == 3 and len(degraded.pages) == 2
    delivered = {page.source_page for page in degraded.pages}
    (lost,) = {0, 1, 2} - delivered
    notes = chart.text.split("\f")
    lost_start = sum(len(n) + 1 for n in notes[:lost])
    lost_range = (lost_start, lost_start + len(notes[lost]))
    for start, end in degraded.kept_ranges:
        assert end <= lost_range[0] or start >= lost_range[1]
    for page in degraded.pages:
        assert any(start <= page.source_start and page.source_end <= end for start, end in degraded.kept_ranges)
    assert [page.index for page in degraded.pages] == [0, 1]
    assert degraded.text is None


def test_page_ops_are_seeded(tmp_path: Path) -> None:
    chart = _three_page_chart()
    config = DegradationConfig(name="mixed", render=SMALL, page_ops=PageOpsConfig(drop_pages=1, duplicate_pages=1, shuffle=True))
    runs = {seed: degrade_chart(chart, config, seed=seed, work_dir=tmp_path / str(seed)) for seed in range(6)}
    again = degrade_chart(chart, config, seed=0, work_dir=tmp_path / "again")
    assert _bytes(again.pages) == _bytes(runs[0].pages)
    assert [p.source_page for p in again.pages] == [p.source_page for p in runs[0].pages]
    assert len({tuple(p.source_page for p in run.pages) for run in runs.values()}) > 1
    assert all(len(run.pages) == 3 for run in runs.values())


def test_copy_forward_prepends_a_labelled_copy(tmp_path: Path) -> None:
    chart = _three_page_chart()
    grid = geometry(RenderConfig())
    clean = paginate(chart, wrap_chart(chart, grid.columns), grid.rows)
    pages = paginate(chart, copy_forward(wrap_chart(chart, grid.columns), grid.rows, np.random.default_rng(5)), grid.rows)
    changed = [i for i, (a, b) in enumerate(zip(clean, pages, strict=True)) if a.lines != b.lines]
    assert len(changed) == 1 and changed[0] > 0
    target = pages[changed[0]]
    assert target.lines[0].span is None and "Copied from prior note" in target.lines[0].text
    end = next(i for i, line in enumerate(target.lines) if i > 0 and line.span is None)
    block = target.lines[1:end]
    assert block and set(block) <= {line for page in clean[: changed[0]] for line in page.lines}
    assert target.lines[end + 1 :] == clean[changed[0]].lines
    # End to end: the copied evidence is duplicated, and no text is lost.
    degraded = degrade_chart(chart, _option("copy_forward"), seed=5, work_dir=tmp_path)
    assert degraded.kept_ranges == [(0, len(chart.text))]
    spans = Counter(span for page in degraded.pages for span in page.line_spans)
    assert max(spans.values()) == 2


# -- image operations ---------------------------------------------------------------------------

FAX_EVERYTHING = FaxOp(resolution="standard", speckle_density=0.002, streaks=3, dropped_lines=0.01, skew_degrees=1.5)


@pytest.mark.parametrize(
    "op",
    [
        FAX_EVERYTHING,
        FaxOp(resolution="fine", binarize="dither", skew_degrees=1.0, jpeg_quality=60),
        ScanOp(dpi=150, blur_radius=0.8, noise_sigma=8, rotation_degrees=1.0, jpeg_quality=70),
    ],
    ids=["fax-standard", "fax-fine-dither-jpeg", "scan"],
)
def test_image_ops_are_seeded_and_write_pngs(op: FaxOp | ScanOp, tmp_path: Path) -> None:
    chart = Chart(id="one-page", text="Assessment: essential hypertension.\nPlan: continue lisinopril 10 mg daily.")
    config = DegradationConfig(name="op", render=RenderConfig(), image_ops=[op])
    first = degrade_chart(chart, config, seed=7, work_dir=tmp_path / "a")
    same = degrade_chart(chart, config, seed=7, work_dir=tmp_path / "b")
    other = degrade_chart(chart, config, seed=8, work_dir=tmp_path / "c")
    assert _bytes(first.pages) == _bytes(same.pages) != _bytes(other.pages)
    page = first.pages[0]
    rendered = page.image_path.with_name("render-p000.png")
    assert page.image_path != rendered and rendered.is_file()  # the clean page is kept, never overwritten
    with Image.open(page.image_path) as image:
        assert image.format == "PNG" and image.mode == "L"
        image.verify()


def test_fax_is_bilevel_on_the_fax_grid(tmp_path: Path) -> None:
    chart = Chart(id="fax", text="Diagnosis: acute bronchitis.")
    for resolution, size in (("standard", (1734, 1078)), ("fine", (1734, 2156))):
        config = DegradationConfig(
            name=resolution, render=RenderConfig(), image_ops=[FAX_EVERYTHING.model_copy(update={"resolution": resolution})]
        )
        page = degrade_chart(chart, config, seed=0, work_dir=tmp_path).pages[0]
        with Image.open(page.image_path) as image:
            assert image.size == size  # 8.5 x 11 in at 204 x 98 or 204 x 196 dpi
            assert tuple(round(d) for d in image.info["dpi"]) == (204, 98 if resolution == "standard" else 196)
            assert set(np.unique(np.asarray(image)).tolist()) == {0, 255}
            # The transmission header sits in the top strip, above the chart header.
            top = np.asarray(image)[: round(0.3 * image.info["dpi"][1])]
            assert (top[:, : image.width // 2] == 0).mean() > 0.01


@pytest.mark.slow  # augraphy's image pipeline on three renders
def test_augraphy_is_seeded_and_leaves_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    chart = Chart(id="aug", text="Impression: community-acquired pneumonia, right lower lobe.")
    config = DegradationConfig(name="aug", render=SMALL, image_ops=[AugraphyOp()])
    first = degrade_chart(chart, config, seed=1, work_dir=tmp_path / "a")
    same = degrade_chart(chart, config, seed=1, work_dir=tmp_path / "b")
    other = degrade_chart(chart, config, seed=2, work_dir=tmp_path / "c")
    assert _bytes(first.pages) == _bytes(same.pages) != _bytes(other.pages)
    assert list(workdir.iterdir()) == []
    assert Path.cwd() == workdir
    with Image.open(first.pages[0].image_path) as image:
        assert image.format == "PNG" and image.mode == "L"


def test_results_do_not_depend_on_chart_order(tmp_path: Path) -> None:
    charts = [Chart(id=f"c{i}", text=f"Chart {i}: chronic obstructive pulmonary disease.") for i in range(3)]
    config = DegradationConfig(name="fax", render=SMALL, image_ops=[FAX_EVERYTHING])
    forward = {c.id: _bytes(degrade_chart(c, config, 4, tmp_path / "f").pages) for c in charts}
    backward = {c.id: _bytes(degrade_chart(c, config, 4, tmp_path / "b").pages) for c in reversed(charts)}
    assert forward == backward
    assert forward["c0"] != forward["c1"]


def test_kept_ranges_merge_across_whitespace_only() -> None:
    text = "alpha beta\ngamma\n\nDELTA lost\nepsilon"
    page = RenderedPage(
        index=0, image_path=Path("x.png"), source_start=0, source_end=len(text), line_spans=((0, 10), (11, 16), (17, 17))
    )
    tail = RenderedPage(index=1, image_path=Path("y.png"), source_start=30, source_end=len(text), line_spans=((30, 37),))
    assert kept_ranges(text, [tail, page]) == [(0, 16), (30, 37)]


def test_an_image_operation_without_an_implementation_is_refused(tmp_path: Path) -> None:
    """Dispatch is by op type: an op the config knows but no code implements must not run as Augraphy."""
    from harness.intake.degrade.config import _Config
    from harness.intake.degrade.image_ops import apply_image_ops

    class Stamp(_Config):
        type: str = "stamp"

    page = tmp_path / "page.png"
    Image.new("L", (40, 40), 255).save(page)
    with pytest.raises(TypeError, match="no image operation implements Stamp"):
        apply_image_ops([Stamp()], page, tmp_path / "out.png", lambda *key: np.random.default_rng(0), 0)
