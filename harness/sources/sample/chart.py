"""Assembling one sample chart: plan, note, pages, and the gold codes with their evidence spans.

Gold and distractors are read off the rendered mentions, so every span is exactly the
text at its offset, and a chart whose plan and text disagree is refused, not written.
"""

from __future__ import annotations

import random
from itertools import pairwise

from coders.codeset import Icd10cm
from harness.contracts import Chart, GoldCode, Page, Span
from harness.sources.sample.inventory import Inventory
from harness.sources.sample.planner import Planner
from harness.sources.sample.writer import Mention, Segment, Writer

PAGE_BREAK = "\f"
"""Separator between pages in the chart text (not part of any page)."""


def _paginate(sections: list[list[Segment]], rng: random.Random) -> list[list[list[Segment]]]:
    """Sections grouped into 2-4 pages, breaking only between sections.

    The header and chief complaint stay on page 1 and the signature never sits alone on the last page.
    """
    n_pages = rng.choice((2, 3, 3, 4))
    cuts = sorted(rng.sample(range(2, len(sections) - 1), n_pages - 1))
    bounds = [0, *cuts, len(sections)]
    return [sections[a:b] for a, b in pairwise(bounds)]


def _render(pages: list[list[list[Segment]]], running_header: str) -> tuple[str, list[int], list[tuple[Mention, int]]]:
    """The chart text, each page's offset, and each mention with its offset."""
    text_parts: list[str] = []
    page_offsets: list[int] = []
    mentions: list[tuple[Mention, int]] = []
    offset = 0
    for page_index, page in enumerate(pages):
        if page_index:
            text_parts.append(PAGE_BREAK)
            offset += len(PAGE_BREAK)
        page_offsets.append(offset)
        segments: list[Segment] = [f"{running_header} | Page {page_index + 1} of {len(pages)}"]
        for section in page:
            segments += ["\n\n", *section]
        for segment in segments:
            if isinstance(segment, Mention):
                mentions.append((segment, offset))
                piece = segment.text
            else:
                piece = segment
            text_parts.append(piece)
            offset += len(piece)
    return "".join(text_parts), page_offsets, mentions


def build_chart(index: int, rng: random.Random, provenance: dict[str, object], inventory: Inventory, table: Icd10cm) -> Chart:
    """Chart ``sample-<index>``, every draw from ``rng``; its meta opens with ``provenance`` (split, generator, seed)."""
    plan = Planner(inventory, table, rng).plan()
    writer = Writer(plan, rng, index)
    pages = _paginate(writer.sections(), rng)
    chart_id = f"sample-{index:04d}"
    text, page_offsets, mentions = _render(pages, f"SYNTHETIC RECORD - NOT A REAL PATIENT | {writer.name} | MRN {writer.mrn}")
    page_texts = text.split(PAGE_BREAK)
    chart_pages = [Page(index=i, offset=o, text=t) for i, (o, t) in enumerate(zip(page_offsets, page_texts, strict=True))]
    layout = Chart(id=chart_id, text=text, pages=chart_pages)  # validates the pages; maps offsets to pages

    evidence: dict[str, list[Span]] = {}
    distractors: list[dict[str, object]] = []
    for mention, start in mentions:
        end = start + len(mention.text)
        role = plan.roles[mention.key]
        condition = plan.codes[mention.key]
        if role.assertion == "present" and not role.reason:
            evidence.setdefault(mention.key, []).append(Span(start=start, end=end, text=mention.text, page=layout.page_of(start)))
        else:
            distractors.append(
                {
                    "code": condition.code,
                    "assertion": role.assertion,
                    "reason": role.reason,
                    "text": mention.text,
                    "start": start,
                    "end": end,
                }
            )
    missing = [c.key for c in plan.present() if c.key not in evidence]
    if missing:
        raise RuntimeError(f"{chart_id}: planned conditions never mentioned: {missing}")
    gold = [GoldCode(code=plan.codes[key].code, system="icd10cm", evidence=spans) for key, spans in evidence.items()]
    gold_codes = {g.code for g in gold}
    clash = sorted({str(d["code"]) for d in distractors} & gold_codes)
    if clash:
        raise RuntimeError(f"{chart_id}: codes both gold and distractor: {clash}")
    meta = {
        **provenance,
        "age": plan.age,
        "sex": plan.sex,
        "encounter": plan.encounter,
        "scenario": plan.scenario,
        "copied_forward": writer.copied_forward,
        "distractors": distractors,
    }
    return Chart(id=chart_id, language="en", text=text, pages=chart_pages, gold=gold, meta=meta)
