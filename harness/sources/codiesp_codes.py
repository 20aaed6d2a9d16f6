"""The valid-code list that CodiEsp scoring restricts to, as the reference evaluation defines it.

The official CodiEsp D/P scorer drops predicted codes outside the task's list of valid codes
(CIE-10-ES 2018) before computing MAP and micro P/R/F1. That list is not part of the data we
have, so the harness uses, per code system:

- diagnoses (``icd10cm``): every code of the ICD-10-CM tabular of the code-set year (2026 here),
  plus every diagnosis code of the CodiEsp train and dev gold (about 4% of CodiEsp codes are
  CIE-10-ES codes absent from ICD-10-CM 2026);
- procedures (``icd10pcs``): every procedure code of the train and dev gold (no ICD-10-PCS table
  ships with the harness; CodiEsp also uses PCS code prefixes).

The reference pipeline proposes only codes of its lexicon (training gold and, for English, ICD-10-CM
terms) and of its training charts' gold, so every code it predicts on dev is on this list and the
restriction is a no-op for it (``tests/extractors/test_reference.py`` checks this): the harness's metrics then
equal the official ones, except MAP, which the harness averages over every chart with gold codes
(a chart without predictions counts 0) where trectools averages over charts with predictions
(``harness.metrics.coding.evaluate``).
"""

from __future__ import annotations

from harness.config import DatasetConfig
from harness.contracts import DEFAULT_CODE_SET_YEAR, CodeSystem


def valid_codes(system: CodeSystem, *, data_dir: str | None = None, year: int = DEFAULT_CODE_SET_YEAR,
                splits: tuple[str, ...] = ("train", "dev"), language: str = "es") -> frozenset[str]:
    """Canonical codes a CodiEsp prediction of ``system`` may carry (see the module docstring)."""
    from coders.codeset import code_set
    from harness.sources import load_charts

    codes: set[str] = set(code_set("icd10cm", year).codes()) if system == "icd10cm" else set()
    for split in splits:
        config = DatasetConfig(name=f"codiesp_{language}", split=split, data_dir=data_dir, code_systems=[system],
                               unknown_gold_codes="keep", code_set_year=year)
        codes.update(g.code for chart in load_charts(config) for g in chart.gold)
    return frozenset(codes)
