"""Extractors (registered by name in ``harness.registry.EXTRACTORS``); modules load on first use."""

from extractors.base import Extractor

__all__ = ["Extractor"]
