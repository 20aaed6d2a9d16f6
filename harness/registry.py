"""Name -> implementation registries for extractors, datasets and chart file readers.

Registry names equal Hydra option names (``conf/extractor/<name>.yaml`` has ``name: <name>``). A name comes from
one of two places:

- a decorator at the implementation, ``@EXTRACTORS.register("dictionary")``: a built-in module in one of the
  registry's packages needs nothing else, because a lookup that misses imports every module of those packages once
  (none imports an engine at module level, so this stays cheap);
- an entry point of an installed package (group ``coding_harness.extractors``, ``coding_harness.datasets``,
  ``coding_harness.readers``): a lazy ``module:attr`` target, imported only when its name is resolved, so a plugin
  adds a component without editing this package (README.md, "Plugins").

A name registered twice by different implementations is a ``ConfigError``: a plugin cannot shadow a built-in. Metric
plugins (group ``coding_harness.metrics``) live in a registry of this kind in ``harness.metrics.registry``.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import pkgutil
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from harness.errors import ConfigError

Implementation = TypeVar("Implementation")


class UnknownName(ConfigError, KeyError):
    """A registry lookup for a name nobody registered (a ``ValueError`` too, so config validators may raise it)."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry:
    """Component names and their implementations, registered by decorator or by entry point."""

    def __init__(self, kind: str, *, packages: tuple[str, ...], group: str):
        self.kind = kind
        """What the names are names of, for messages (``extractor``)."""
        self.packages = packages
        """Packages whose modules register built-ins by decorator; imported on the first miss."""
        self.group = group
        """Entry-point group through which installed plugins add names."""
        self._objects: dict[str, Any] = {}
        self._targets: dict[str, str] = {}  # name -> "module:attr", imported on first use
        self._origins: dict[str, str] = {}  # name -> where it was registered, to report a clash
        self._discovered = False
        self._lock = threading.RLock()

    def register(self, name: str) -> Callable[[Implementation], Implementation]:
        """A decorator that registers the class or function it decorates as ``name``."""

        def decorate(obj: Implementation) -> Implementation:
            self._add(name, f"{obj.__module__}:{obj.__qualname__}", obj=obj)
            return obj

        return decorate

    def names(self) -> list[str]:
        """Every registered name, built-in and plugin, sorted."""
        self._discover()
        return sorted(self._origins)

    def check(self, name: str) -> str:
        """``name`` if registered (a plugin's implementation is not imported), else ``UnknownName`` with close matches."""
        if name not in self._origins:
            self._discover()
        if name not in self._origins:
            raise UnknownName(self._unknown(name))
        return name

    def resolve(self, name: str) -> Any:
        """The implementation registered as ``name``."""
        self.check(name)
        if name not in self._objects:
            module_name, _, attrs = self._targets[name].partition(":")
            self._objects[name] = functools.reduce(getattr, filter(None, attrs.split(".")), importlib.import_module(module_name))
        return self._objects[name]

    def _add(self, name: str, origin: str, *, obj: Any = None, target: str | None = None) -> None:
        with self._lock:
            if self._origins.get(name, origin) != origin:
                raise ConfigError(f"{self.kind} {name!r} is registered twice: by {self._origins[name]} and by {origin}")
            self._origins[name] = origin
            if target is None:
                self._objects[name] = obj
            else:
                self._targets[name] = target

    def _discover(self) -> None:
        """Import the built-in packages' modules (their decorators register) and read the plugins' entry points, once."""
        with self._lock:
            if self._discovered:
                return
            self._discovered = True  # before importing: a module that looks a name up while loading must not recurse
            for package_name in self.packages:
                package = importlib.import_module(package_name)
                for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
                    importlib.import_module(module.name)
            for point in entry_points(group=self.group):
                self._add(point.name, point.value, target=point.value)

    def _unknown(self, name: str) -> str:
        known = sorted(self._origins)
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; registered: {', '.join(known) or 'none'}"


EXTRACTORS = Registry("extractor", packages=("extractors",), group="coding_harness.extractors")
"""Extractors: each takes its validated config dict and returns an object with ``fit`` and ``extract``."""

DATASETS = Registry("dataset", packages=("harness.sources",), group="coding_harness.datasets")
"""Chart sources: each takes a ``DatasetConfig`` and a ``Purpose`` and returns ``LoadedCharts`` (charts, skipped lines)."""

READERS = Registry("chart file format", packages=("harness.sources.readers",), group="coding_harness.readers")
"""Chart file readers by format (``dataset.format``): each is a ``harness.sources.readers.ChartReader`` class."""
