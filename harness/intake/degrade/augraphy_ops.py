"""Augraphy document-augmentation pipelines (optional dependency ``augraphy``; seconds per page).

Augraphy is not reproducible out of the box, so each call pins down what it touches:

- it draws from Python's ``random``, NumPy's and OpenCV's global generators, and from Numba's own
  generators (one pair per thread, which ``np.random.seed`` from Python does not reach): all are
  seeded, Numba runs on one thread for the call, and Python's and NumPy's states are restored;
- it writes ``./fonts`` and ``./augraphy_cache`` and reads earlier pages back from that cache: it
  runs in a fresh temporary working directory, so nothing lands in the project;
- its scribbles step downloads handwriting fonts, or else picks a system font in an order that
  changes between processes: ``fonts/`` is pre-filled with DejaVu Sans Mono, so it does neither.

``os.chdir`` is process-wide: do not call this from several threads at once.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections.abc import Callable
from functools import lru_cache

from PIL import Image

from harness.intake.render import load_font


def augraphy(image: Image.Image, preset: str, seed: int) -> Image.Image:
    """Run the Augraphy ``preset`` pipeline on a greyscale page, deterministically for ``seed``."""
    import matplotlib.font_manager  # noqa: F401  (Augraphy's system-font fallback needs it loaded)
    import numpy as np

    try:
        import cv2
        import numba
        from augraphy import default_augraphy_pipeline
    except ImportError as error:
        raise ImportError("image op 'augraphy' needs the augraphy package: pip install augraphy==8.2.6") from error
    pipelines = {"default": default_augraphy_pipeline}
    home = os.getcwd()
    python_state, numpy_state, threads = random.getstate(), np.random.get_state(), numba.get_num_threads()
    try:
        with tempfile.TemporaryDirectory(prefix="augraphy-") as scratch:
            os.chdir(scratch)
            os.mkdir("fonts")
            shutil.copy(load_font(12).path, "fonts")
            numba.set_num_threads(1)
            random.seed(seed)
            np.random.seed(seed)
            cv2.setRNGSeed(seed)
            for seed_numba in _numba_seeders():
                seed_numba(seed)
            out = pipelines[preset]()(np.asarray(image))
            os.chdir(home)  # leave the folder before it is removed
    finally:
        os.chdir(home)
        numba.set_num_threads(threads)
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    if out.ndim == 3:
        out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
    return Image.fromarray(out)


@lru_cache(maxsize=1)
def _numba_seeders() -> tuple[Callable[[int], None], ...]:
    """Compiled functions that seed Numba's ``random`` and ``np.random`` states in the calling and the worker thread."""
    import numba
    import numpy as np

    def seed_both(seed: int) -> None:
        np.random.seed(seed)
        random.seed(seed)

    def seed_worker(seed: int) -> None:
        for _ in numba.prange(1):
            np.random.seed(seed)
            random.seed(seed)

    return numba.njit(seed_both), numba.njit(parallel=True)(seed_worker)
