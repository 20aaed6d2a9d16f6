"""Map offsets in intake (OCR) text back to the source chart, so evidence survives rendering and OCR.

Each delivered page's OCR text is aligned with the chart text printed on it
(Levenshtein opcodes); every OCR character then points at the source character
it was read from, or at the nearest one when OCR inserted it.
"""

from __future__ import annotations

from collections.abc import Sequence


def page_offset_map(ocr: str, source: str, source_start: int) -> list[int]:
    """``map[i]`` = chart offset of OCR character ``i`` (``len(ocr) + 1`` entries; the last is the page end)."""
    from rapidfuzz.distance import Levenshtein

    mapping = [source_start] * (len(ocr) + 1)
    for op in Levenshtein.opcodes(ocr, source):
        for k in range(op.src_start, op.src_end):
            # equal and replace pair characters one to one; a deletion (OCR-only character) takes the next source position
            step = k - op.src_start if op.tag in ("equal", "replace") else 0
            mapping[k] = source_start + min(op.dest_start + step, op.dest_end)
    mapping[len(ocr)] = source_start + len(source)
    return mapping


def intake_offset_map(bodies: Sequence[str], sources: Sequence[tuple[str, int]], separator: str) -> list[int]:
    """Offset map for the whole intake text (page bodies joined with ``separator``)."""
    mapping: list[int] = []
    for i, (body, (source, start)) in enumerate(zip(bodies, sources)):
        page = page_offset_map(body, source, start)
        mapping.extend(page[:-1])
        if i < len(bodies) - 1:
            mapping.extend([page[-1]] * len(separator))
        else:
            mapping.append(page[-1])
    return mapping or [0]
