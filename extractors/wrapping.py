"""``WrappingExtractor``: an extractor around another one that states only its change.

Whatever a wrapper does not state is the wrapped extractor's: its attributes (``calibrated``, ``model_id``,
``model_revision``, ...), ``fit``, ``close`` and its capabilities. A wrapper around ``vllm`` streams and reports the
engine; one around the dictionary does neither, and ``isinstance(wrapper, StreamingExtractor)`` says which.

The change goes in ``transform``, applied to every extraction whether ``extract`` or ``collect`` made it, so a wrapper
that post-processes findings keeps streaming. A wrapper that overrides ``extract`` instead does not pass streaming on
(``submit``/``collect`` would bypass its ``extract``), and says so with a warning when it wraps a streaming
extractor; to stream again it declares ``StreamingExtractor`` and implements ``submit``/``collect`` itself.

A wrapper's extractions are cached under its own identity, which contains the wrapped extractor's
(``cache_identity``): cached results of the wrapped extractor are never taken for the wrapper's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from extractors.base import Extractor, ReportsEngine, StreamingExtractor
from harness.contracts import Chart, Extraction
from harness.registry import EXTRACTORS

log = logging.getLogger(__name__)

C = TypeVar("C")


class WrappingConfig(BaseModel):
    """Settings every wrapper has (``conf/extractor/<wrapper>.yaml``); a wrapper's config model adds its own."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """Registry name of the wrapper."""
    train_split: str | None = None
    """Split the run fits on, passed to the wrapped extractor, which does the learning (None: it learns nothing)."""
    wraps: str
    """Registry name of the wrapped extractor (any but the wrapper itself)."""
    wrapped: dict[str, Any] = Field(default_factory=dict)
    """Settings of the wrapped extractor that override its ``conf/extractor/<wraps>.yaml`` (not ``name`` or
    ``train_split``: those are ``wraps`` and this config's ``train_split``)."""

    @field_validator("wraps")
    @classmethod
    def _registered(cls, wraps: str) -> str:
        return EXTRACTORS.check(wraps)

    @model_validator(mode="after")
    def _wraps_another(self) -> WrappingConfig:
        if self.wraps == self.name:
            raise ValueError(f"{self.name} cannot wrap itself: name the extractor it wraps in wraps, e.g. dictionary")
        for key, instead in (("name", "wraps"), ("train_split", "train_split")):
            if key in self.wrapped:
                raise ValueError(f"wrapped.{key} is not settable here: set {instead} of {self.name} instead")
        return self

    def wrapped_settings(self) -> dict[str, Any]:
        """The wrapped extractor's config: its option's YAML (where it has one), ``wrapped``, and the split."""
        from harness.config import config_option

        try:
            defaults = config_option("extractor", self.wraps)
        except FileNotFoundError:  # a plugin registered without a conf option: its model's defaults
            defaults = {}
        return {**defaults, **self.wrapped, "name": self.wraps, "train_split": self.train_split}


class WrappingExtractor(Extractor):
    """An extractor around another; a subclass states its ``name``, ``version``, ``config_model`` and its change."""

    config_model: ClassVar[type[WrappingConfig]] = WrappingConfig
    config: WrappingConfig

    def __init__(self, config: Mapping[str, Any]):
        super().__init__(config)
        self.wrapped: Extractor = EXTRACTORS.resolve(self.config.wraps)(self.config.wrapped_settings())
        """The extractor whose work this one changes."""
        if isinstance(self.wrapped, StreamingExtractor) and not isinstance(self, StreamingExtractor):
            log.warning("%s overrides extract, so the charts of %s are not streamed: put the change in transform, or "
                        "implement submit and collect", type(self).__name__, self.wrapped.name)

    def transform(self, extraction: Extraction) -> Extraction:
        """The wrapper's change to one extraction of the wrapped extractor (none here)."""
        return extraction

    # -- what is the wrapped extractor's unless a subclass says otherwise ------------------------------

    @property
    def calibrated(self) -> bool:
        return self.wrapped.calibrated

    @property
    def runs_untrained(self) -> bool:
        return self.wrapped.runs_untrained

    @property
    def model_id(self) -> str | None:
        return self.wrapped.model_id

    @property
    def model_revision(self) -> str | None:
        """The wrapped extractor's (it may change with ``fit``)."""
        return self.wrapped.model_revision

    @property
    def prompt_version(self) -> str | None:
        return self.wrapped.prompt_version

    def delegates(self, capability: type) -> bool:
        """The wrapped extractor's capabilities, except streaming where this wrapper overrides ``extract``."""
        if capability is StreamingExtractor and type(self).extract is not WrappingExtractor.extract:
            return False
        return isinstance(self.wrapped, capability)

    def cache_identity(self) -> dict[str, Any]:
        """The wrapper's own identity and the wrapped extractor's."""
        return {**super().cache_identity(), "wraps": self.wrapped.cache_identity()}

    def fit(self, train_charts: Sequence[Chart]) -> None:
        """The wrapped extractor learns."""
        self.wrapped.fit(train_charts)

    def close(self) -> None:
        self.wrapped.close()

    def extract(self, charts: Sequence[Chart]) -> list[Extraction]:
        """The wrapped extractor's extractions, changed by ``transform``."""
        return [self._changed(extraction) for extraction in self.wrapped.extract(charts)]

    def submit(self, charts: Sequence[Chart]) -> None:
        """Hand the charts to the wrapped extractor (where it streams)."""
        self._wrapped_as(StreamingExtractor).submit(charts)

    def collect(self, wait_s: float) -> list[Extraction]:
        """The wrapped extractor's finished extractions, changed by ``transform``."""
        return [self._changed(extraction) for extraction in self._wrapped_as(StreamingExtractor).collect(wait_s)]

    def run_params(self) -> Mapping[str, object]:
        """The wrapped extractor's engine (where it reports one)."""
        return self._wrapped_as(ReportsEngine).run_params()

    def _changed(self, extraction: Extraction) -> Extraction:
        return self.transform(extraction.model_copy(update={"extractor": self.name}))

    def _wrapped_as(self, capability: type[C]) -> C:
        if not isinstance(self.wrapped, capability):
            raise TypeError(f"{self.wrapped.name} is no {capability.__name__}, so {self.name} cannot pass it on")
        return self.wrapped
