"""Checked reading of the reference model's files (``extractors.reference.model_format``): a JSON value handed out
only as the type asked for (``Field``) and arrays only with the dtype and shape asked for (``Arrays``), each failure a
``ModelFormatError`` naming the file and the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np

DOCUMENT = "model.json"
"""The model's document: settings, lexicon, term statistics, the classifier's vocabulary, the re-ranker's layout."""
ARRAYS = "model.npz"
"""The model's numeric arrays (an uncompressed zip of ``.npy`` files, as ``numpy.savez`` writes)."""


class ModelFormatError(ValueError):
    """A model document or array that ``encode`` would not have written; the message names the file and the field."""


class Field:
    """A value of the document and where it sits (``lexicon[3][2]``), to name in messages."""

    def __init__(self, value: Any, where: str):
        self.value = value
        self.where = where

    def fail(self, problem: str) -> NoReturn:
        raise ModelFormatError(f"{DOCUMENT}: {self.where or 'the document'}: {problem}")

    def _expect(self, kind: type, what: str) -> Any:
        if not isinstance(self.value, kind) or (isinstance(self.value, bool) and kind is not bool):
            self.fail(f"expected {what}, found {_describe(self.value)}")
        return self.value

    def __getitem__(self, key: str) -> Field:
        value = self._expect(dict, "an object")
        if key not in value:
            self.fail(f"missing {key!r}")
        return Field(value[key], f"{self.where}.{key}" if self.where else key)

    def items(self, length: int | None = None) -> list[Field]:
        """The elements of a list (of exactly ``length`` elements, if given)."""
        value = self._expect(list, "a list")
        if length is not None and len(value) != length:
            self.fail(f"expected {length} elements, found {len(value)}")
        return [Field(item, f"{self.where}[{i}]") for i, item in enumerate(value)]

    def string(self) -> str:
        return self._expect(str, "a string")

    def choice(self, allowed: tuple[str, ...]) -> str:
        value = self.string()
        if value not in allowed:
            self.fail(f"{value!r} is none of {', '.join(allowed)}")
        return value

    def strings(self) -> list[str]:
        return [item.string() for item in self.items()]

    def count(self, minimum: int = 0) -> int:
        """An integer of at least ``minimum`` and below 2**53 (exact as a float: the features divide and log counts)."""
        value = self._expect(int, "an integer")
        if not minimum <= value < 2**53:
            self.fail(f"{value} is below {minimum}" if value < minimum else f"{value} is not below 2**53")
        return value

    def counts(self, minimum: int = 0) -> dict[str, int]:
        """An object of counts (at least ``minimum`` each), in the document's order.

        A bad count is named by its position, not its key: keys are terms, which come from the charts' evidence.
        """
        value = self._expect(dict, "an object of counts")
        return {key: Field(n, f"{self.where} (entry {i})").count(minimum) for i, (key, n) in enumerate(value.items())}

    def pair_counts(self) -> dict[tuple[str, str], int]:
        """A list of ``[term, code, count]``."""
        found = {}
        for item in self.items():
            term, code, n = item.items(3)
            found[(term.string(), code.string())] = n.count()
        return found

    def present_if(self, wanted: bool, what: str) -> Field | None:
        """This field, which must be null exactly when the settings leave ``what`` out; None when it is null."""
        if wanted and self.value is None:
            self.fail(f"missing, though the settings use {what}")
        if not wanted and self.value is not None:
            self.fail(f"present, though the settings leave {what} out")
        return None if self.value is None else self


def _describe(value: Any) -> str:
    names = {type(None): "null", dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


class Arrays:
    """The arrays of ``model.npz``, handed out only with the dtype and shape the caller expects."""

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        self.arrays = arrays

    def take(self, name: str, dtypes: Any, shape: tuple[int | None, ...]) -> np.ndarray:
        """Array ``name``, whose dtype must be one of ``dtypes`` (one or a tuple) and shape ``shape`` (None: any length)."""
        array = self.arrays.get(name)
        if array is None:
            raise ModelFormatError(f"{ARRAYS}: no array {name!r}")
        allowed = [np.dtype(d) for d in (dtypes if isinstance(dtypes, tuple) else (dtypes,))]
        if array.dtype not in allowed:
            raise ModelFormatError(f"{ARRAYS}: {name}: dtype {array.dtype}, expected {' or '.join(map(str, allowed))}")
        if array.ndim != len(shape) or any(want is not None and have != want for have, want in zip(array.shape, shape)):
            expected = ", ".join("any" if want is None else str(want) for want in shape)
            raise ModelFormatError(f"{ARRAYS}: {name}: shape {array.shape}, expected ({expected})")
        return array

    def fail(self, name: str, problem: str) -> NoReturn:
        raise ModelFormatError(f"{ARRAYS}: {name}: {problem}")
