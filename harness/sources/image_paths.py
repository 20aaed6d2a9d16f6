"""Page image paths of user charts, resolved against the chart file's folder and checked before anything opens them.

A chart file is data, so it must not make the harness read ``/etc/passwd``, hang on a pipe or stream ``/dev/zero``:
a path must stay inside the file's folder (unless ``dataset.allow_outside_paths``) and name a regular file no
bigger than ``dataset.max_image_bytes``. Only ``stat`` is called here; no image is read.
"""

from __future__ import annotations

import stat
from pathlib import Path

from harness.config import DatasetConfig
from harness.contracts import Chart
from harness.sources.loaded import FileValue, LineProblem


def resolve_image_paths(chart: Chart, folder: Path, config: DatasetConfig) -> None:
    """Replace each page's image path by its checked absolute path (``folder`` is the chart file's, resolved)."""
    for position, page in enumerate(chart.pages):
        if page.image_path:
            page.image_path = str(_checked(Path(page.image_path), folder, config, f"pages[{position}].image_path"))


def _checked(image_path: Path, folder: Path, config: DatasetConfig, field: str) -> Path:
    try:
        path = (folder / image_path).resolve()  # symlinks too: a link inside the folder may point out of it
    except (OSError, RuntimeError, ValueError) as error:  # a symlink loop, a NUL in the name
        raise _problem(field, image_path, f" cannot be used as a path ({type(error).__name__})") from None
    if not config.allow_outside_paths and not path.is_relative_to(folder):
        raise _problem(field, path, f" is outside the chart file's folder {folder} (dataset.allow_outside_paths=true accepts it)")
    try:
        found = path.stat()
    except FileNotFoundError:
        raise _problem(field, path, " does not exist") from None
    except (OSError, ValueError) as error:  # a folder on the way that may not be read, a name too long
        raise _problem(field, image_path, f" cannot be used as a path ({type(error).__name__})") from None
    if stat.S_ISDIR(found.st_mode):
        raise _problem(field, path, " is a folder, not an image file")
    if not stat.S_ISREG(found.st_mode):
        raise _problem(field, path, " is not a regular file (a device, pipe or socket)")
    if found.st_size > config.max_image_bytes:
        raise _problem(field, path, f" is {found.st_size} bytes, more than dataset.max_image_bytes ({config.max_image_bytes})")
    return path


def _problem(field: str, path: Path, problem: str) -> LineProblem:
    """``<field>: <path><problem>``, the path as the line's own value (a redacted problem leaves it out)."""
    return LineProblem(f"{field}: ", FileValue(path), problem)
