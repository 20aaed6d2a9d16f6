"""Name -> ``module:attr`` registries, resolved on first use so start-up imports nothing heavy.

Registry names equal Hydra option names (``conf/extractor/<name>.yaml`` has ``name: <name>``).
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.errors import ConfigError


class UnknownName(ConfigError, KeyError):
    """A registry lookup for a name nobody registered."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry:
    """A lazy mapping from a component name to the object implementing it."""

    def __init__(self, kind: str, targets: dict[str, str]):
        self.kind = kind
        self._targets = dict(targets)

    def names(self) -> list[str]:
        return sorted(self._targets)

    def register(self, name: str, target: str) -> None:
        """Add ``name`` -> ``"package.module:attr"`` (for plugins; nothing is imported now)."""
        self._targets[name] = target

    def check(self, name: str) -> str:
        """``name`` if registered (for config validators: nothing is imported), else ``ValueError`` listing the known names."""
        if name not in self._targets:
            raise ValueError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}")
        return name

    def resolve(self, name: str) -> Any:
        try:
            target = self._targets[name]
        except KeyError:
            raise UnknownName(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}") from None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


EXTRACTORS = Registry(
    "extractor",
    {
        "dictionary": "extractors.dictionary.extractor:DictionaryExtractor",
        "reference": "extractors.reference.extractor:ReferenceExtractor",
        "oracle": "extractors.oracle:OracleExtractor",
        "transformers": "extractors.llm.transformers_backend:TransformersExtractor",
        "vllm": "extractors.llm.vllm_backend:VllmExtractor",
        "openai_server": "extractors.llm.openai_server:OpenAIServerExtractor",
        "simulated_accelerator": "extractors.simulated_accelerator:SimulatedAcceleratorExtractor",
    },
)
"""Extractors: each takes its validated config dict and returns an object with ``fit`` and ``extract``."""

DATASETS = Registry(
    "dataset",
    {
        "sample": "harness.sources.sample:load_sample",
        "codiesp_es": "harness.sources.codiesp:load_codiesp_es",
        "codiesp_en": "harness.sources.codiesp:load_codiesp_en",
        "jsonl": "harness.sources.user_files:load_user_charts",
        "parquet": "harness.sources.user_files:load_user_charts",
    },
)
"""Chart sources: each takes a ``DatasetConfig`` and a ``Purpose`` and returns ``LoadedCharts`` (charts, skipped lines)."""
