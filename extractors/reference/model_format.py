"""The reference model as data: a JSON document and numeric arrays, saved and loaded without pickle.

``encode`` turns a fitted ``ReferenceModel`` into a JSON-ready document and named arrays; ``decode`` rebuilds the
model from them. Loading cannot run code the files choose: JSON holds only strings, numbers, lists and objects,
the arrays are read with ``allow_pickle=False`` and must have the exact numeric dtypes expected, and every class
built is fixed here. ``decode`` checks each field before it is used (types, counts, shapes, dtypes, the indices of
sparse matrices and the links of trees, which scipy's and scikit-learn's compiled code follows unchecked) and
raises ``ModelFormatError`` naming the file and the field.

Stored: the settings, the lexicon's terms (replayed into a new lexicon, which rebuilds its indexes), the term
statistics, the chart classifier's vocabulary, idf, weights and training TF-IDF, and the re-ranker's trees and
isotonic calibration points. Rebuilt: what follows from those deterministically (the code profiles, the span
retriever refitted on the lexicon's learned terms, and the scikit-learn estimators around the trees and
calibrators, made as ``extractors.reference.model.new_reranker`` makes them, with the fitted attributes prediction
reads; the artifact's manifest pins the scikit-learn version this relies on). The loaded model predicts exactly as
the fitted one did. The fit's timings are the manifest's, not the model's: equal fits give equal bytes.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import Mapping
from typing import IO, Any, get_args

import numpy as np

from extractors.reference.candidates import FEATURES
from extractors.reference.chart_classifier import ChartClassifier
from extractors.reference.checked_fields import ARRAYS, DOCUMENT, Arrays, Field, ModelFormatError
from extractors.reference.model import ReferenceModel, Sources, new_classifier, new_lexicon, new_reranker
from extractors.reference.settings import ReferenceSettings
from extractors.reference.span_lexicon import COMPOUND_JOIN, SpanLexicon, TermPrecision, TermSource

SYSTEMS = ("icd10cm", "icd10pcs")
_KEYED_COUNTS = ("charts", "occurrences", "code_charts", "code_hits")
"""``TermPrecision`` counters keyed by a term or a code."""
_PAIR_COUNTS = ("hits", "annotated")
"""``TermPrecision`` counters keyed by (term, code)."""
_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Timestamp of every array in the zip (the earliest it holds): the same model gives the same bytes."""
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
"""How a zip starts (the second: an empty one), as ``numpy.load`` tells an ``.npz`` from an ``.npy`` or a pickle."""


# ------------------------------------------------------------------------------ writing


def encode(model: ReferenceModel) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The fitted ``model`` as a JSON-ready document and named arrays (``decode`` reverses it).

    Counters that are only looked up (term statistics, code counts) are written sorted, so equal models give equal
    bytes whatever order a set handed their keys over in; the lexicon keeps its order, which the code profiles' sums
    follow.
    """
    if model.sources is None:
        raise RuntimeError("the reference model is not fitted")
    sources = model.sources
    precision = sources.precision
    document: dict[str, Any] = {
        "language": model.language,
        "system": model.system,
        "settings": model.settings.model_dump(mode="json"),
        "lexicon": [[term, sources.lexicon.sources[term], dict(codes)] for term, codes in sources.lexicon.codes.items()],
        "precision": {**{name: dict(sorted(getattr(precision, name).items())) for name in _KEYED_COUNTS},
                      **{name: [[*pair, n] for pair, n in sorted(getattr(precision, name).items())] for name in _PAIR_COUNTS}},
        "code_charts": dict(sorted(sources.code_charts.items())),
        "n_charts": sources.n_charts,
        "classifier": None,
        "reranker": None,
    }
    arrays: dict[str, np.ndarray] = {}
    if sources.classifier is not None:
        document["classifier"], state = sources.classifier.state()
        arrays.update({f"classifier.{name}": array for name, array in state.items()})
    if model.reranker is not None:
        members = model.reranker.estimators_
        document["reranker"] = [len(member.calibrated_classifiers_) for member in members]
        for k, member in enumerate(members):
            for f, calibrated in enumerate(member.calibrated_classifiers_):
                prefix = f"reranker.{k}.{f}"
                trees = [tree.nodes for iteration in calibrated.estimator._predictors for tree in iteration]
                calibrator = calibrated.calibrators[0]
                arrays[f"{prefix}.nodes"] = np.concatenate(trees)
                arrays[f"{prefix}.tree_sizes"] = np.array([len(tree) for tree in trees], dtype=np.int64)
                arrays[f"{prefix}.baseline"] = calibrated.estimator._baseline_prediction
                arrays[f"{prefix}.calibration_x"] = calibrator.X_thresholds_
                arrays[f"{prefix}.calibration_y"] = calibrator.y_thresholds_
    return document, arrays


def document_bytes(document: dict[str, Any]) -> bytes:
    """The document as ``model.json`` holds it: compact UTF-8 JSON, keys in the order ``encode`` gave them."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def write_arrays(out: IO[bytes], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``model.npz`` to ``out``: ``numpy.savez``'s layout with fixed timestamps, so equal arrays give equal bytes."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME), "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


# ------------------------------------------------------------------------------ reading


def read_document(payload: bytes) -> Any:
    """The parsed ``model.json``; ``ModelFormatError`` when it is not JSON."""
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:  # ValueError: bad JSON or bad UTF-8
        raise ModelFormatError(f"{DOCUMENT}: not valid JSON ({str(exc) or type(exc).__name__})") from None


def read_arrays(payload: bytes) -> dict[str, np.ndarray]:
    """The arrays of ``model.npz``, read without pickle; ``ModelFormatError`` when it is not such a file."""
    if not payload.startswith(_ZIP_MAGIC):  # np.load would take anything else for one array, or a pickle
        raise ModelFormatError(f"{ARRAYS}: not a zip of .npy arrays")
    arrays: dict[str, Any] = {}
    name = None
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            for name in archive.files:
                arrays[name] = archive[name]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, MemoryError, OverflowError) as exc:
        # ValueError: an array of objects (which needs pickle), a bad header, a cut-off array
        where = ARRAYS if name is None else f"{ARRAYS}: {name}"
        if "allow_pickle" in str(exc):
            raise ModelFormatError(f"{where}: an array of pickled Python objects, which is never loaded") from None
        raise ModelFormatError(f"{where}: unreadable ({str(exc) or type(exc).__name__})") from None
    for name, array in arrays.items():
        if not isinstance(array, np.ndarray):  # a member that is not an .npy file reads as its bytes
            raise ModelFormatError(f"{ARRAYS}: {name}: not a .npy array")
    return arrays


def decode(document: Any, arrays: Mapping[str, np.ndarray]) -> ReferenceModel:
    """Rebuild the model ``encode`` wrote, checking every field; ``ModelFormatError`` names the first bad one."""
    root = Field(document, "")
    settings = _settings(root["settings"])
    model = ReferenceModel(settings, root["language"].string(), root["system"].choice(SYSTEMS))
    stored = Arrays(arrays)
    lexicon = _lexicon(root["lexicon"], settings)
    precision = _precision(root["precision"], settings)
    classifier_field = root["classifier"].present_if(settings.use_classifier, "the chart classifier")
    classifier = None if classifier_field is None else _classifier(classifier_field, stored, settings)
    model.sources = Sources.assemble(settings, lexicon, precision, classifier, Counter(root["code_charts"].counts()),
                                     root["n_charts"].count())
    reranker_field = root["reranker"].present_if(settings.use_reranker, "the re-ranker")
    model.reranker = None if reranker_field is None else _reranker(reranker_field, stored, settings)
    return model


def _settings(field: Field) -> ReferenceSettings:
    from pydantic import ValidationError

    try:
        return ReferenceSettings.model_validate(field._expect(dict, "an object"))
    except ValidationError as exc:
        error = exc.errors()[0]
        field.fail(f"{'.'.join(map(str, error['loc']))}: {error['msg']}")


def _lexicon(field: Field, settings: ReferenceSettings) -> SpanLexicon:
    """Replay the terms into a new lexicon, which rebuilds its indexes; each must come back under its own key."""
    lexicon = new_lexicon(settings)
    for i, entry in enumerate(field.items()):
        term_field, source_field, codes_field = entry.items(3)
        term, source = term_field.string(), source_field.choice(get_args(TermSource))
        codes = codes_field.counts(minimum=1)
        if not codes:
            codes_field.fail("no codes")
        for code, n in codes.items():
            if source == "compound":
                lexicon.add_compound(term.split(COMPOUND_JOIN), code, n)
            else:
                lexicon.add(term, code, source, n)
        if len(lexicon.codes) != i + 1 or term not in lexicon.codes:
            term_field.fail("not a term the lexicon keeps as written (a repeat, empty, longer than max_term_words, "
                            "or a compound whose parts are not distinct and sorted)")
    return lexicon


def _precision(field: Field, settings: ReferenceSettings) -> TermPrecision:
    return TermPrecision(**{name: Counter(field[name].counts()) for name in _KEYED_COUNTS},
                         **{name: Counter(field[name].pair_counts()) for name in _PAIR_COUNTS},
                         prior=settings.term_prior, weight=settings.term_prior_weight)


def _classifier(field: Field, arrays: Arrays, settings: ReferenceSettings) -> ChartClassifier:
    codes, vocabulary = field["codes"].strings(), field["vocabulary"].strings()
    if codes != sorted(set(codes)):
        field["codes"].fail("not sorted and distinct")
    if not vocabulary or len(set(vocabulary)) != len(vocabulary):
        field["vocabulary"].fail("empty or with repeats")
    gold = [item.strings() for item in field["gold"].items()]
    words, n_codes = len(vocabulary), len(codes)
    data, indices, indptr = _csr(arrays, "classifier.charts", (words, len(gold)))
    state = {"idf": arrays.take("classifier.idf", np.float64, (words,)),
             "weights": arrays.take("classifier.weights", np.float64, (words, n_codes)),
             "bias": arrays.take("classifier.bias", np.float64, (n_codes,)),
             "charts_data": data, "charts_indices": indices, "charts_indptr": indptr}
    return new_classifier(settings).restore(codes, vocabulary, gold, state)


def _csr(arrays: Arrays, prefix: str, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The data, column indices and row pointers of a CSR matrix of ``shape``, checked to stay inside it."""
    data = arrays.take(f"{prefix}_data", np.float64, (None,))
    indices = arrays.take(f"{prefix}_indices", _INDEX_DTYPES, (len(data),))
    indptr = arrays.take(f"{prefix}_indptr", _INDEX_DTYPES, (shape[0] + 1,))
    if indptr[0] != 0 or indptr[-1] != len(data) or (np.diff(indptr) < 0).any():
        arrays.fail(f"{prefix}_indptr", f"row pointers that do not run from 0 up to the {len(data)} values")
    if len(indices) and (indices.min() < 0 or indices.max() >= shape[1]):
        arrays.fail(f"{prefix}_indices", f"a column index outside 0..{shape[1] - 1}")
    return data, indices, indptr


def _reranker(field: Field, arrays: Arrays, settings: ReferenceSettings) -> Any:
    """The fitted re-ranker: ``new_reranker``'s estimators, given the stored trees and calibration points."""
    from sklearn.base import clone
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import Bunch

    voting = new_reranker(settings)
    folds = field.items()
    if len(folds) != len(voting.estimators):
        field.fail(f"{len(folds)} members, the settings make {len(voting.estimators)}")
    voting.le_ = LabelEncoder().fit([0, 1])  # candidate labels: gold or not
    voting.classes_ = voting.le_.classes_
    voting.estimators_ = []
    for k, ((_, template), count) in enumerate(zip(voting.estimators, folds)):
        member = clone(template)
        member.classes_, member.n_features_in_ = voting.classes_, len(FEATURES)
        member.calibrated_classifiers_ = [_calibrated(arrays, f"reranker.{k}.{f}", member.estimator, voting.classes_)
                                          for f in range(count.count(minimum=1))]
        voting.estimators_.append(member)
    voting.named_estimators_ = Bunch(**{name: member for (name, _), member in zip(voting.estimators, voting.estimators_)})
    return voting


def _calibrated(arrays: Arrays, prefix: str, template: Any, classes: np.ndarray) -> Any:
    """One fold of a member: a gradient-boosting classifier with its trees, and its isotonic calibrator."""
    from sklearn.base import clone
    from sklearn.calibration import _CalibratedClassifier
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
    from sklearn.ensemble._hist_gradient_boosting.common import X_BITSET_INNER_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.isotonic import IsotonicRegression

    booster = clone(template)
    booster.classes_, booster.n_features_in_, booster.n_trees_per_iteration_ = classes, len(FEATURES), 1
    booster.is_categorical_, booster._preprocessor = None, None
    booster._baseline_prediction = arrays.take(f"{prefix}.baseline", np.float64, (1, 1))
    booster._bin_mapper = _BinMapper()  # predicting from raw features reads only which features are categorical: none
    booster._bin_mapper.is_categorical_ = np.zeros(len(FEATURES), dtype=np.uint8)
    booster._bin_mapper.bin_thresholds_ = []
    no_categories = np.zeros((0, 8), dtype=X_BITSET_INNER_DTYPE)
    booster._predictors = [[TreePredictor(nodes, no_categories, no_categories)] for nodes in _trees(arrays, prefix)]
    x = arrays.take(f"{prefix}.calibration_x", np.float64, (None,))
    y = arrays.take(f"{prefix}.calibration_y", np.float64, (len(x),))
    if not len(x) or not np.isfinite(x).all() or (np.diff(x) <= 0).any() or not np.isfinite(y).all():
        arrays.fail(f"{prefix}.calibration_x", "calibration points that are not finite, strictly increasing and non-empty")
    calibrator = IsotonicRegression(out_of_bounds="clip")  # as CalibratedClassifierCV makes it
    calibrator.increasing_ = True
    calibrator.X_min_, calibrator.X_max_ = x[0], x[-1]  # the fit keeps the smallest and largest input as points
    calibrator.X_thresholds_, calibrator.y_thresholds_ = x, y
    calibrator._build_f(x, y)
    return _CalibratedClassifier(booster, [calibrator], classes=classes, method="isotonic")


def _trees(arrays: Arrays, prefix: str) -> list[np.ndarray]:
    """The nodes of each tree, checked so that prediction stays inside its tree and ends on a leaf.

    Trees are stored as scikit-learn lays them out (a node's children come after it), so a split whose children lie
    after it and inside the tree, on one of the features, with leaves flagged 0 or 1 and no categorical split, can
    only lead down to a leaf.
    """
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = arrays.take(f"{prefix}.nodes", PREDICTOR_RECORD_DTYPE, (None,))
    sizes = arrays.take(f"{prefix}.tree_sizes", np.int64, (None,))
    if not len(sizes) or sizes.min() < 1 or sizes.max() > len(nodes) or sizes.sum() != len(nodes):
        arrays.fail(f"{prefix}.tree_sizes", f"tree sizes that do not divide the {len(nodes)} nodes into trees")
    starts = np.cumsum(sizes) - sizes
    local = np.arange(len(nodes)) - np.repeat(starts, sizes)  # each node's index in its tree
    size = np.repeat(sizes, sizes)
    split = nodes["is_leaf"] == 0
    bad = (nodes["is_leaf"] > 1) | (nodes["is_categorical"] != 0)
    bad |= split & ((nodes["feature_idx"] < 0) | (nodes["feature_idx"] >= len(FEATURES)))
    for child in (nodes["left"].astype(np.int64), nodes["right"].astype(np.int64)):
        bad |= split & ((child <= local) | (child >= size))
    if bad.any():
        node = int(np.flatnonzero(bad)[0])
        arrays.fail(f"{prefix}.nodes", f"node {local[node]} of tree {int(np.searchsorted(starts, node, 'right')) - 1} "
                                       f"links outside its tree, splits on no feature or on a category")
    return np.split(nodes, starts[1:])
