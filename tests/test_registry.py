"""The registries: names equal the ``conf/`` options, built-ins register by decorator where they are defined, plugins by
entry point, and an unknown name is one clear error that suggests the close ones."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ROOT
from pydantic import ValidationError

from harness.config import DatasetConfig
from harness.errors import ConfigError
from harness.registry import DATASETS, EXTRACTORS, READERS, Registry, UnknownName

GROUPS = {"extractor": EXTRACTORS, "dataset": DATASETS}
"""Hydra config groups that name a registry entry."""


def options(group: str) -> dict[str, dict]:
    """Each option of ``conf/<group>/`` and its YAML."""
    paths = (PROJECT_ROOT / "conf" / group).glob("*.yaml")
    return {path.stem: yaml.safe_load(path.read_text(encoding="utf-8")) for path in paths}


def built_in(registry: Registry) -> set[str]:
    """The registry's names less those installed plugins add (their options ship with the plugin)."""
    return set(registry.names()) - {point.name for point in entry_points(group=registry.group)}


@pytest.mark.parametrize("group", GROUPS)
def test_registry_names_equal_the_config_options(group: str) -> None:
    found = options(group)
    assert built_in(GROUPS[group]) == set(found)
    assert {option: config["name"] for option, config in found.items()} == {option: option for option in found}


def test_every_reader_has_a_dataset_option_of_its_format() -> None:
    formats = {config.get("format") for config in options("dataset").values()}
    assert built_in(READERS) <= formats
    assert all(DATASETS.resolve(name) is DATASETS.resolve("jsonl") for name in built_in(READERS))


def test_an_unknown_name_is_a_config_error_with_the_close_names() -> None:
    with pytest.raises(UnknownName) as raised:
        EXTRACTORS.resolve("dictionry")
    assert isinstance(raised.value, ConfigError) and isinstance(raised.value, ValueError)
    assert str(raised.value) == ("unknown extractor 'dictionry' (did you mean 'dictionary'?); "
                                 f"registered: {', '.join(EXTRACTORS.names())}")
    with pytest.raises(ValidationError, match=r"unknown chart file format 'jsnl' \(did you mean 'jsonl'\?\)"):
        DatasetConfig(name="jsonl", format="jsnl")
    with pytest.raises(UnknownName, match=r"^unknown dataset 'nothing like it'; registered: "):
        DATASETS.check("nothing like it")


def test_a_name_registered_twice_by_different_implementations_is_an_error() -> None:
    things = Registry("thing", packages=(), group="coding_harness.tests.none")

    def first() -> None: ...

    def second() -> None: ...

    assert things.register("one")(first) is first
    things.register("one")(first)  # the same implementation again (a module imported twice) is no clash
    with pytest.raises(ConfigError, match=r"^thing 'one' is registered twice: by test_registry:.*first and by .*second$"):
        things.register("one")(second)
    assert things.resolve("one") is first


def test_a_miss_imports_the_packages_so_their_decorators_register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "walked_package"
    (package / "deeper").mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent('''
        from harness.registry import Registry

        THINGS = Registry("thing", packages=("walked_package",), group="coding_harness.tests.none")
    '''))
    (package / "deeper" / "__init__.py").write_text("")
    (package / "deeper" / "widget.py").write_text(textwrap.dedent('''
        from walked_package import THINGS


        @THINGS.register("widget")
        class Widget:
            pass
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("walked_package", "walked_package.deeper", "walked_package.deeper.widget"):
        monkeypatch.delitem(sys.modules, name, raising=False)  # undone after the test, with whatever it imported

    from walked_package import THINGS

    assert "walked_package.deeper.widget" not in sys.modules
    assert THINGS.resolve("widget").__module__ == "walked_package.deeper.widget"
    assert THINGS.names() == ["widget"]


def test_entry_points_name_plugins_that_load_only_when_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    group = "coding_harness.tests.plugins"
    points = [EntryPoint(name="far_away", value="email.mime.audio:MIMEAudio", group=group)]
    monkeypatch.setattr("harness.registry.entry_points", lambda group: points if group == points[0].group else [])
    monkeypatch.delitem(sys.modules, "email.mime.audio", raising=False)
    things = Registry("thing", packages=(), group=group)
    assert things.names() == ["far_away"]
    assert "email.mime.audio" not in sys.modules  # listing and checking a plugin's name loads nothing
    assert things.check("far_away") == "far_away" and "email.mime.audio" not in sys.modules
    assert things.resolve("far_away").__name__ == "MIMEAudio"


def test_looking_up_every_name_imports_no_engine() -> None:
    """A miss imports every module of the built-in packages: none may load an engine or a heavy library at import."""
    code = textwrap.dedent('''
        import sys
        from harness.registry import DATASETS, EXTRACTORS, READERS
        for registry in (EXTRACTORS, DATASETS, READERS):
            registry.names()
        print(" ".join(sorted({"torch", "vllm", "transformers", "mlflow", "hydra", "datasets", "pyarrow"} & set(sys.modules))))
    ''')
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""
