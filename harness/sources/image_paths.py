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
from harness.sources.loaded import LineProblem


def resolve_image_paths(chart: Chart, folder: Path, config: DatasetConfig) -> None:
    """Replace each page's image path by its checked absolute path (``folder`` is the chart file's, resolved)."""
    for position, page in enumerate(chart.pages):
        if page.image_path:
            page.image_path = str(_checked(Path(page.image_path), folder, config, f"pages[{position}].image_path"))


def _checked(image_path: Path, folder: Path, config: DatasetConfig, field: str) -> Path:
    unusable = f"{field}: {image_path} cannot be used as a path"
    try:
        path = (folder / image_path).resolve()  # symlinks too: a link inside the folder may point out of it
    except (OSError, RuntimeError, ValueError) as error:  # a symlink loop, a NUL in the name
        raise LineProblem(f"{unusable} ({type(error).__name__})") from None
    if not config.allow_outside_paths and not path.is_relative_to(folder):
        raise LineProblem(f"{field}: {path} is outside the chart file's folder {folder} "
                          "(dataset.allow_outside_paths=true accepts it)")
    try:
        found = path.stat()
    except FileNotFoundError:
        raise LineProblem(f"{field}: {path} does not exist") from None
    except (OSError, ValueError) as error:  # a folder on the way that may not be read, a name too long
        raise LineProblem(f"{unusable} ({type(error).__name__})") from None
    if stat.S_ISDIR(found.st_mode):
        raise LineProblem(f"{field}: {path} is a folder, not an image file")
    if not stat.S_ISREG(found.st_mode):
        raise LineProblem(f"{field}: {path} is not a regular file (a device, pipe or socket)")
    if found.st_size > config.max_image_bytes:
        raise LineProblem(f"{field}: {path} is {found.st_size} bytes, more than dataset.max_image_bytes "
                          f"({config.max_image_bytes})")
    return path
