"""OCR-like character confusions in plain text (for text-only pipelines)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from numpy.random import Generator

CONFUSIONS: dict[str, tuple[str, ...]] = {
    "rn": ("m",),
    "cl": ("d",),
    "vv": ("w",),
    "m": ("rn",),
    "d": ("cl",),
    "w": ("vv",),
    "0": ("O", "o"),
    "O": ("0",),
    "o": ("0",),
    "l": ("1", "I"),
    "1": ("l", "I"),
    "I": ("l", "1"),
    "e": ("c",),
    "c": ("e",),
    "5": ("S",),
    "S": ("5",),
    "8": ("B",),
    "B": ("8",),
    "h": ("b",),
    "u": ("v",),
    "á": ("a",),
    "é": ("e",),
    "í": ("i",),
    "ó": ("o",),
    "ú": ("u",),
    "ñ": ("n",),
}
"""What OCR misreads each pattern as; multi-character patterns win over their letters."""

_PATTERN = re.compile("|".join(re.escape(k) for k in sorted(CONFUSIONS, key=len, reverse=True)))


def add_text_noise(text: str, rate: float, rng: Generator) -> str:
    """Replace confusable patterns so that about ``rate * len(text)`` confusions occur.

    Each confusable site (non-overlapping, scanned left to right) is hit with the same
    probability, capped at 1 when the text has too few sites. Lengths change (``m`` -> ``rn``),
    as they do in OCR output.
    """
    sites = list(_PATTERN.finditer(text))
    if not sites or rate <= 0:
        return text
    p = min(1.0, rate * len(text) / len(sites))
    hits = rng.random(len(sites)) < p
    picks = rng.random(len(sites))
    out, pos = [], 0
    for site, hit, pick in zip(sites, hits, picks):
        if not hit:
            continue
        options = CONFUSIONS[site.group()]
        out.append(text[pos : site.start()])
        out.append(options[int(pick * len(options))])
        pos = site.end()
    out.append(text[pos:])
    return "".join(out)
