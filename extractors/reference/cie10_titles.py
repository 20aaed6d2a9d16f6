"""Spanish ICD-10 titles (CIE-10) as lexicon terms for ICD-10-CM codes.

The WHO ICD-10 in Spanish, as packaged on PyPI by ``cie`` (MIT; titles scraped from the
official Spanish edition), names 3- and 4-character codes: "Quiste radicular" (K04.8),
"Hipertelorismo" (Q75.2). Spanish charts mention many codes that no training chart holds, and
these titles are the only Spanish names available for them.

ICD-10-CM refines the WHO codes further, so a title goes to the ICD-10-CM code with the same
characters when it exists, then down to its vaguest child while it is not billable: the child whose
description says "unspecified" most often (on a tie, one ending in 9, else the first). "Dispareunia"
(N94.1) names N94.10 "Unspecified dyspareunia" and "Neumonía" (J18) J18.9 "Pneumonia, unspecified
organism", which is how an annotator codes a mention that gives no more detail. A WHO code that
ICD-10-CM lacks is left out.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
import re
import zipfile

from coders.codeset import code_set

_PACKAGE = "cie"
_ARCHIVE = "cie-10.zip"
_NOTES = re.compile(r"\([^)]*\)|\[[^\]]*\]")
"""Cross-references and alternatives in a title ("Amiloidosis de la piel (E85.–)")."""
_UNSPECIFIED = re.compile(
    r"(?:,\s*(?:\w+\s+)?|\s+)(?:no especificad[oa]s?|sin otra especificaci[oó]n|no clasificad[oa]s? en otra parte)$", re.I)
"""A qualifier that charts leave out ("Neumonía, organismo no especificado"): the title is also a term without it."""


def _rows() -> list[dict[str, str]]:
    try:
        files = importlib.metadata.files(_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise RuntimeError(f"Spanish ICD-10 titles need the PyPI package {_PACKAGE!r}; install the project again "
                           f"(pip install -e .)") from exc
    archive = next((f for f in files if f.name == _ARCHIVE), None)
    if archive is None:
        raise RuntimeError(f"the package {_PACKAGE!r} has no {_ARCHIVE}; reinstall it (pip install cie==0.208)")
    with zipfile.ZipFile(archive.locate()) as zipped:
        name = next(n for n in zipped.namelist() if n.endswith(".csv"))
        return list(csv.DictReader(io.TextIOWrapper(zipped.open(name), encoding="utf-8")))


def _cm_code(who: str, year: int) -> str | None:
    """The ICD-10-CM code a WHO code's title names (see the module docstring), or None."""
    table = code_set("icd10cm", year)
    code = who if len(who) <= 3 else f"{who[:3]}.{who[3:]}"
    if code not in table:
        return None
    while not table.is_billable(code):
        children = table.children(code)
        vagueness = {c: (table.description(c).lower().count("unspecified"), c.endswith("9")) for c in children}
        vaguest = max(children, key=vagueness.__getitem__, default=None)  # first of equals: the list is in code order
        if vaguest is None or vagueness[vaguest][0] == 0:
            break
        code = vaguest
    return code


def cie10_titles(year: int) -> list[tuple[str, str]]:
    """``(Spanish title, ICD-10-CM code)`` of every WHO ICD-10 code that ICD-10-CM also has."""
    titles = []
    for row in _rows():
        who = row["code"].strip()
        if "-" in who:  # a chapter or block ("A00-B99"), not a code
            continue
        code = _cm_code(who, year)
        if code is None:
            continue
        title = " ".join(_NOTES.sub(" ", row["description"]).split())
        titles.extend((form, code) for form in (title, _UNSPECIFIED.sub("", title)) if form)
    return list(dict.fromkeys(titles))
