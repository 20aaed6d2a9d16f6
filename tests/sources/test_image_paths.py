"""Page image paths in user chart files: resolved against the file's folder, stat-checked, never opened here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.config import DatasetConfig
from harness.sources import DataError, load_split


def write_chart(folder: Path, *image_paths: str) -> Path:
    pages = [{"index": i, "offset": 0, "image_path": p} for i, p in enumerate(image_paths)]
    path = folder / "charts.jsonl"
    path.write_text(json.dumps({"id": "c1", "text": "", "pages": pages}) + "\n")
    return path


def load(path: Path, **fields) -> list[str | None]:
    [chart] = load_split(DatasetConfig(name="jsonl", path=str(path), **fields)).charts
    return [page.image_path for page in chart.pages]


def test_relative_paths_resolve_against_the_chart_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "p1.png").write_bytes(b"png")
    (tmp_path / "p2.png").symlink_to(tmp_path / "scans" / "p1.png")  # a link that stays inside is fine
    path = write_chart(tmp_path, "scans/p1.png", "p2.png", str(tmp_path / "scans" / "p1.png"))
    monkeypatch.chdir("/")  # not against the working directory
    assert load(path) == [str(tmp_path / "scans" / "p1.png")] * 3


@pytest.mark.parametrize("image_path,problem", [
    ("/etc/passwd", "/etc/passwd is outside the chart file's folder"),
    ("../../..", "is outside the chart file's folder"),
    ("/dev/zero", "/dev/zero is outside the chart file's folder"),
    ("scans/../../elsewhere.png", "elsewhere.png is outside the chart file's folder"),
])
def test_paths_outside_the_folder_are_refused(tmp_path: Path, image_path: str, problem: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    with pytest.raises(DataError) as raised:
        load(write_chart(folder, image_path))
    assert "charts.jsonl:1: pages[0].image_path: " in str(raised.value)
    assert str(raised.value).endswith(f"{problem} {folder} (dataset.allow_outside_paths=true accepts it)")


def test_allow_outside_paths_accepts_a_regular_file_anywhere(tmp_path: Path) -> None:
    assert load(write_chart(tmp_path, "/etc/passwd"), allow_outside_paths=True) == ["/etc/passwd"]
    with pytest.raises(DataError, match=r"/dev/zero is not a regular file \(a device, pipe or socket\)"):
        load(write_chart(tmp_path, "/dev/zero"), allow_outside_paths=True)


def test_pipes_folders_missing_and_oversize_files_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")  # opening it would block
    (tmp_path / "big.png").write_bytes(b"\0" * 101)
    (tmp_path / "ok.png").write_bytes(b"\0" * 100)
    (tmp_path / "pages").mkdir()
    cases = {"pipe.png": f"{tmp_path / 'pipe.png'} is not a regular file",
             "pages": f"{tmp_path / 'pages'} is a folder, not an image file",
             "gone.png": f"{tmp_path / 'gone.png'} does not exist",
             "big.png": f"{tmp_path / 'big.png'} is 101 bytes, more than dataset.max_image_bytes (100)"}
    for image_path, problem in cases.items():
        with pytest.raises(DataError) as raised:
            load(write_chart(tmp_path, "ok.png", image_path), max_image_bytes=100)
        assert f"charts.jsonl:1: pages[1].image_path: {problem}" in str(raised.value)
    assert load(write_chart(tmp_path, "ok.png"), max_image_bytes=100) == [str(tmp_path / "ok.png")]


def test_a_bad_image_is_a_bad_line_that_skip_passes_over(tmp_path: Path) -> None:
    path = tmp_path / "charts.jsonl"
    good = {"id": "c1", "text": "x"}
    path.write_text("\n".join(json.dumps(c) for c in [
        good, {"id": "c2", "text": "", "pages": [{"index": 0, "offset": 0, "image_path": "/dev/zero"}]}]) + "\n")
    loaded = load_split(DatasetConfig(name="jsonl", path=str(path), on_bad_line="skip"))
    assert [c.id for c in loaded.charts] == ["c1"]
    assert [s.where for s in loaded.skipped] == [f"{path}:2"]
