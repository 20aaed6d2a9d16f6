"""Rule packs: versioned YAML data that tells the rule engine how to turn findings into codes.

A pack is plain data, validated against the schema below; it can never run code
(``yaml.safe_load`` semantics: tags such as ``!!python/object`` are refused).
``load_pack`` reports every problem with the file, the line and the field; the file must be a regular
file of at most ``harness.user_paths.MAX_READ_WHOLE_BYTES`` (4 MiB): a device, FIFO or folder is refused.

Bundled packs live in ``coders/packs/<name>.yaml``; a released pack is never
edited: a change ships as a new file ``icd10cm_<year>_v<N+1>.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from coders.codeset import ICD10CM_YEARS, canonical_code, code_set
from harness.contracts import Assertion
from harness.errors import HarnessError
from harness.user_paths import UnreadableFileError, read_text_whole

PACKS_DIR = Path(__file__).parent / "packs"
"""Where bundled packs live; a bare pack name resolves to ``PACKS_DIR / f"{name}.yaml"``."""

Loc = tuple[str | int, ...]


class RulePackError(HarnessError, ValueError):
    """A rule pack that cannot be loaded: names the file and lists every problem."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        detail = f" {problems[0]}" if len(problems) == 1 else "".join(f"\n  - {p}" for p in problems)
        super().__init__(f"{source}:{detail}")


def _canonical_icd10cm(code: str) -> str:
    if canonical_code(code, "icd10cm") != code:
        raise ValueError(f"write codes in canonical form: {canonical_code(code, 'icd10cm')!r}, not {code!r}")
    return code


PackCode = Annotated[str, AfterValidator(_canonical_icd10cm)]
"""An ICD-10-CM code or code family in canonical form (``E11.65``); it stands for itself and its descendants."""


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CodeSetRef(_Schema):
    """The code set (system and fiscal year) a pack codes into."""

    system: Literal["icd10cm"] = "icd10cm"
    """Code system of the pack's codes; only ICD-10-CM has a tabular to drive rules."""
    year: int
    """Fiscal year of the code set (the April tabular of that year)."""

    @field_validator("year")
    @classmethod
    def _available(cls, year: int) -> int:
        if year not in ICD10CM_YEARS:
            raise ValueError(f"ICD-10-CM {year} is not available; available years: {', '.join(map(str, ICD10CM_YEARS))}")
        return year


class _Rule(_Schema):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    """Identifier of the rule within the pack; recorded in each code's ``rule_trace``."""
    description: str = ""
    """Why the rule exists, for the coding lead reading the pack."""

    all_systems: ClassVar[bool] = False
    """Whether the rule also acts on codes outside the pack's code system (e.g. ICD-10-PCS procedures)."""

    def referenced_codes(self) -> list[tuple[Loc, str]]:
        """Codes the rule names, each with its location inside the rule (checked against the code set)."""
        return []

    def billable_codes(self) -> list[tuple[Loc, str]]:
        """Codes the rule assigns itself, each with its location: they must be billable in the code set."""
        return []


class AssertionFilter(_Rule):
    """Keep only support from findings whose assertion is listed (applies to every code system)."""

    type: Literal["assertion_filter"]
    keep: list[Assertion] = Field(min_length=1)
    """Assertions whose findings are coded, e.g. ``[present]``."""
    also_keep: dict[Assertion, list[PackCode]] = Field(default_factory=dict)
    """Per assertion, code families still coded with that assertion (e.g. chronic conditions listed as history)."""

    all_systems: ClassVar[bool] = True

    def referenced_codes(self) -> list[tuple[Loc, str]]:
        return [(("also_keep", a, i), c) for a, codes in self.also_keep.items() for i, c in enumerate(codes)]


class MinConfidence(_Rule):
    """Drop support from findings below a confidence threshold (applies to every code system)."""

    type: Literal["min_confidence"]
    threshold: float = Field(ge=0.0, le=1.0)
    """Findings with confidence below this are ignored."""

    all_systems: ClassVar[bool] = True


class DropCodes(_Rule):
    """Drop codes and whole code families."""

    type: Literal["drop_codes"]
    codes: list[PackCode] = Field(min_length=1)
    """Codes to drop; each also drops its descendants (``Z79`` drops ``Z79.01``)."""

    def referenced_codes(self) -> list[tuple[Loc, str]]:
        return [(("codes", i), c) for i, c in enumerate(self.codes)]


class Specificity(_Rule):
    """Choose the level of the hierarchy codes are reported at."""

    type: Literal["specificity"]
    mode: Literal["category", "most_specific"]
    """``category``: truncate to the 3-character category; ``most_specific``: when a code and one of
    its ancestors are both supported, keep only the descendant."""
    extend_to_unspecified: bool = False
    """``most_specific`` only: extend a non-billable code to its child when exactly one billable child
    ends in 9 and is described as unspecified (``N18`` -> ``N18.9``)."""

    @model_validator(mode="after")
    def _extension_needs_most_specific(self) -> Specificity:
        if self.extend_to_unspecified and self.mode != "most_specific":
            raise ValueError("extend_to_unspecified needs mode: most_specific")
        return self


class Billable(_Rule):
    """Report billable codes. A non-billable code (a category or subcategory with children) is extended, level by level,
    to its one child that ends in 0 or 9 and is described as unspecified (``R11.1`` -> ``R11.10``, ``M54.5`` ->
    ``M54.50``, ``N18`` -> ``N18.9``): a mention that says no more supports that child and no other. A code with no such
    child (``E11``: ``E11.9`` says "without complications"; ``T14.8``: the encounter is a 7th character) stays, and the
    chart goes to review naming it (``needs_specificity``); a coder, not the engine, picks the child."""

    type: Literal["billable"]


class CombinationCode(_Schema):
    """One combination code of the "with" convention and the conditions it stands for."""

    code: PackCode
    """The combination code, billable (``I13.0``)."""
    when: list[list[PackCode]] = Field(min_length=1)
    """Groups of code families; the code applies when every group has a supported code (``[[I50], [N18.3, N18.9]]``)."""
    supersedes: list[PackCode] = Field(default_factory=list)
    """Code families this code makes redundant besides the rule's (``G62.9`` polyneuropathy for ``E11.42``)."""


class Combination(_Rule):
    """The ICD-10-CM "with" convention (guideline I.A.15): a condition coded together with a condition the classification
    links to it gets the combination code. The linked condition's own code stays (the tabular's "use additional code":
    ``I50.-`` with ``I11.0``) unless a combination supersedes it; the condition's codes that the combination code makes
    redundant (``I10``; ``E11.9``; any ancestor of the combination code, ``E11``) are dropped."""

    type: Literal["combination"]
    condition: list[PackCode] = Field(min_length=1)
    """Code families of the condition (``[I10, I11, I12]`` for hypertension, ``[E11]`` for type 2 diabetes)."""
    supersedes: list[PackCode] = Field(default_factory=list)
    """Code families every combination code of the rule replaces (``[I10, I11, I12, I13]``; ``[E11.8, E11.9]``)."""
    first_match: bool = False
    """Code only the first combination that applies (hypertension: ``I13`` before ``I11`` and ``I12``); else every one
    that applies (diabetes: one code per complication, guideline I.C.4.a)."""
    combinations: list[CombinationCode] = Field(min_length=1)
    """Combination codes, most specific first."""

    def referenced_codes(self) -> list[tuple[Loc, str]]:
        found: list[tuple[Loc, str]] = [(("condition", i), c) for i, c in enumerate(self.condition)]
        found += [(("supersedes", i), c) for i, c in enumerate(self.supersedes)]
        for i, combo in enumerate(self.combinations):
            found.append((("combinations", i, "code"), combo.code))
            found += [(("combinations", i, "when", g, j), c) for g, group in enumerate(combo.when) for j, c in enumerate(group)]
            found += [(("combinations", i, "supersedes", j), c) for j, c in enumerate(combo.supersedes)]
        return found

    def billable_codes(self) -> list[tuple[Loc, str]]:
        return [(("combinations", i, "code"), combo.code) for i, combo in enumerate(self.combinations)]


class Excludes1(_Rule):
    """Resolve Excludes1 conflicts of the tabular: of two codes that may not be coded together, keep
    the higher-confidence one (ties: the more specific, then the smaller code)."""

    type: Literal["excludes1"]


class Validity(_Rule):
    """Drop codes that do not exist in the pack's code-set year."""

    type: Literal["validity"]
    billable_only: bool = False
    """Also drop codes that exist but are not billable leaves (categories, subcategories)."""


class MaxCodes(_Rule):
    """Keep at most ``limit`` codes per chart, the most confident first."""

    type: Literal["max_codes"]
    limit: int = Field(ge=1)
    """Largest number of codes of the pack's system kept for one chart."""


Rule = Annotated[
    AssertionFilter | MinConfidence | DropCodes | Specificity | Combination | Billable | Excludes1 | Validity | MaxCodes,
    Field(discriminator="type"),
]
"""One rule of a pack, chosen by its ``type``."""


class RulePack(_Schema):
    """A versioned, ordered list of coding rules for one code set."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    """Pack name; equals the file name without ``.yaml`` (and the Hydra ``rules=`` option)."""
    version: int = Field(ge=1)
    """Revision of the pack; with the name it identifies the pack in results (``name@version``)."""
    code_set: CodeSetRef
    """Code system and year the pack codes into; codes it names must exist there."""
    description: str
    """What the pack does and for whom, in a few sentences."""
    confidence_merge: Literal["max", "noisy_or"] = "max"
    """How findings supporting the same code combine: ``max`` (conservative, keeps calibration) or
    ``noisy_or`` (1 - prod(1 - c): repeated mentions raise confidence)."""
    rules: list[Rule]
    """Rules applied in order to every chart's candidate codes."""

    @property
    def pack_version(self) -> str:
        """``<name>@<version>``, recorded on every code the pack assigns."""
        return f"{self.name}@{self.version}"

    @model_validator(mode="after")
    def _ids_unique_and_codes_exist(self) -> RulePack:
        problems: list[tuple[Loc, str]] = []
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.id in seen:
                problems.append((("rules", i, "id"), f"duplicate rule id {rule.id!r}"))
            seen.add(rule.id)
        codes = code_set(self.code_set.system, self.code_set.year)
        label = f"ICD-10-CM {self.code_set.year}"
        for i, rule in enumerate(self.rules):
            for loc, code in rule.referenced_codes():
                if code not in codes:
                    problems.append((("rules", i, *loc), f"code {code!r} does not exist in {label}"))
            for loc, code in rule.billable_codes():
                if code in codes and not codes.is_billable(code):
                    problems.append((("rules", i, *loc), f"code {code!r} is not billable in {label}: name a billable child"))
        if problems:
            # ctx carries each problem's location so the loader can point at its line
            summary = "; ".join(message for _, message in problems)
            raise PydanticCustomError("pack_problems", "{summary}", {"summary": summary, "problems": problems})
        return self


def bundled_packs() -> list[str]:
    """Names of the packs shipped in ``coders/packs``."""
    return sorted(p.stem for p in PACKS_DIR.glob("*.yaml"))


def resolve_pack_path(name_or_path: str | Path) -> Path:
    """A bare name (``icd10cm_2026_v2``) -> its bundled file; anything path-like is taken as a path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or "\\" in text or text.endswith((".yaml", ".yml")):
        return Path(name_or_path)
    path = PACKS_DIR / f"{text}.yaml"
    if not path.exists():
        raise RulePackError(text, [f"unknown rule pack {text!r}; bundled packs: {', '.join(bundled_packs())}"])
    return path


def load_pack(name_or_path: str | Path) -> RulePack:
    """Load and validate a pack by bundled name or path; raises ``RulePackError`` listing every problem."""
    path = resolve_pack_path(name_or_path)
    try:
        text = read_text_whole(path)  # a regular file of at most MAX_READ_WHOLE_BYTES: never /dev/zero or a FIFO
    except UnreadableFileError as exc:
        raise RulePackError(str(path), [exc.problem]) from None
    node, data = _parse_yaml(text, str(path))
    if not isinstance(data, dict):
        raise RulePackError(str(path), ["the pack must be a YAML mapping with name, version, code_set, description, rules"])
    try:
        pack = RulePack.model_validate(data)
    except ValidationError as exc:
        raise RulePackError(str(path), _describe(exc, node)) from None
    if pack.name != path.stem:
        raise RulePackError(str(path), [f"name {pack.name!r} does not match the file name {path.name!r}"])
    return pack


class _PackLoader(yaml.SafeLoader):
    """``SafeLoader`` that also refuses duplicate keys (the second would silently win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the plain data of a YAML document."""
    loader = _PackLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or str(exc)
        if "constructor for the tag" in problem:
            problem += " (packs are plain YAML data: tags that build objects are not allowed)"
        raise RulePackError(source, [f"YAML error: {where}{problem}"]) from None
    except yaml.YAMLError as exc:
        raise RulePackError(source, [f"YAML error: {exc}"]) from None
    finally:
        loader.dispose()
    return node, data


def _describe(exc: ValidationError, root: yaml.Node | None) -> list[str]:
    """Readable problems, one per pydantic error, in file order, with the YAML line where one is known."""
    problems: list[tuple[int, str]] = []
    for error in exc.errors():
        loc, kind, ctx = tuple(error["loc"]), error["type"], error.get("ctx", {})
        if kind == "pack_problems":
            problems.extend(_problem(root, p_loc, msg) for p_loc, msg in ctx["problems"])
            continue
        if kind == "union_tag_invalid":
            msg = f"unknown rule type {ctx['tag']!r}; known types: {ctx['expected_tags']}"
            loc = (*loc, "type")
        elif kind == "union_tag_not_found":
            msg = "rule has no 'type'"
        elif kind == "extra_forbidden":
            msg = f"unknown field {loc[-1]!r}"
        elif kind == "missing":
            msg = f"missing required field {loc[-1]!r}"
        elif kind in ("value_error", "assertion_error"):
            msg = str(ctx["error"])
        elif isinstance(error["input"], (dict, list)):
            msg = error["msg"]
        else:
            msg = f"bad value {error['input']!r}: {error['msg']}"
        problems.append(_problem(root, loc, msg))
    return [text for _, text in sorted(problems, key=lambda p: p[0])]


def _problem(root: yaml.Node | None, loc: Loc, msg: str) -> tuple[int, str]:
    """(line, ``line N: rules[2] (id).field: msg``), walking the YAML nodes along the pydantic location."""
    node, parts, line = root, [], None
    for item in loc:
        if isinstance(node, yaml.MappingNode):
            values = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
            if item not in values and values.get("type") is not None and getattr(values["type"], "value", None) == item:
                continue  # pydantic names the union member; the YAML does not
            node = values.get(item)
            parts.append(f".{item}")
        elif isinstance(node, yaml.SequenceNode) and isinstance(item, int) and item < len(node.value):
            node = node.value[item]
            rule_id = _scalar(node, "id")
            parts.append(f"[{item}]" + (f" ({rule_id})" if rule_id else ""))
        else:
            node = None
            parts.append(f"[{item}]" if isinstance(item, int) else f".{item}")
        if node is not None:
            line = node.start_mark.line + 1
    where = "".join(parts).lstrip(".") or "pack"
    return (line, f"line {line}: {where}: {msg}") if line else (0, f"{where}: {msg}")


def _scalar(node: yaml.Node, key: str) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == key and isinstance(v, yaml.ScalarNode):
                return v.value
    return None
