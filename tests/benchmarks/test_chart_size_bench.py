"""``harness bench chart-size`` prints one row per size, each row's seconds per MB from its own seconds."""

from __future__ import annotations

import re

import pytest

from harness.benchmarks.chart_size import main

pytestmark = pytest.mark.slow  # fits the dictionary and extracts charts of real note text


def test_chart_size_bench_prints_seconds_per_mb_for_every_size(capsys) -> None:
    assert main(["--sizes", "0.05,0.1,0.2"]) == 0
    out = capsys.readouterr().out
    rows = {float(mb): (float(s), float(per_mb), int(findings)) for mb, s, per_mb, findings
            in re.findall(r"│\s+([0-9.]+) │\s+([0-9.]+) │\s+([0-9.]+) │\s+(\d+) │", out)}
    assert set(rows) == {0.05, 0.1, 0.2}, out
    for mb, (seconds, per_mb, findings) in rows.items():
        assert abs(per_mb - seconds / mb) <= 0.005 / mb + 0.005 and findings > 0
    assert rows[0.2][2] > rows[0.05][2]  # more text, more terms found
    assert "seconds per MB, largest chart / smallest:" in out


def test_chart_size_bench_refuses_sizes_that_are_not_numbers(capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--sizes", "1,big"])
    assert stopped.value.code == 2 and "--sizes '1,big' is not a list of numbers" in capsys.readouterr().err
