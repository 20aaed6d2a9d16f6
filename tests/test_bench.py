"""The throughput benchmark runs and prints its table (numbers are for people, not assertions)."""

from __future__ import annotations

from harness.bench import main


def test_bench_prints_every_step(capsys) -> None:
    assert main(["--limit", "1", "--degradation", "fax_light"]) == 0
    out = capsys.readouterr().out
    for step in ("render", "degrade (fax_light", "OCR: harness intake", "OCR: bare tesseract", "harness OCR / bare tesseract"):
        assert step in out
