"""Checks for what :func:`~pixel_regressor.load_model` and unpickling read.

Nothing read from a file is trusted: the metadata is parsed with limits and
every field is checked for its type, its range and its agreement with the
others; the Keras archive's members are size-checked from the zip's central
directory before anything is decompressed; the loaded model must match the
metadata. Every failure is a ``ValueError`` naming what is wrong.

The fitted state has one check, whichever way an estimator is loaded
(:func:`~pixel_regressor.load_model`, pickle, joblib, :func:`copy.deepcopy`
and skops, which unpickle through ``__setstate__``):
:func:`check_fitted_state` for the fitted attributes, before the model is
opened, then :func:`check_model_matches` for the Keras model. Each fitted
attribute is a row of :data:`_FITTED`, with its check.
"""

import io
import json
import math
import numbers
import re
import tempfile
import zipfile
from pathlib import Path

__all__ = [
    "FORMAT",
    "check_fitted_state",
    "check_keras_archive",
    "check_model_matches",
    "estimator_from_metadata",
    "keras_archive_bytes",
    "load_keras_archive",
    "load_keras_bytes",
    "metadata",
    "monitor_of",
    "read_metadata",
]

# The saved format's version; load_model reads every version up to it.
# 1: no digest of model.keras. 2: "model_sha256".
FORMAT = 2
_FORMATS = (1, 2)
# Limits far above any real save: the metadata file (feature names of a
# 1000x1000 image are about 10 MB), the Keras archive and its members once
# decompressed, and its number of members.
MAX_METADATA_BYTES = 64 << 20
MAX_ARCHIVE_BYTES = 1 << 30
MAX_UNCOMPRESSED_BYTES = 1 << 30
MAX_MEMBERS = 10_000
# Any int field larger than this is not a real image side, count or epoch.
_MAX_INT = 2**31 - 1
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Parameters stored as JSON lists that the estimator takes as tuples.
_TUPLE_PARAMS = ("filters", "image_shape")
# Parameters that are not saved: objects, and the seed of the first fit.
UNSAVED_PARAMS = ("callbacks", "random_state")
# The metadata's keys besides the fitted attributes (see _FITTED).
_REQUIRED = {"format", "pixel_regressor_version", "params"}
_OPTIONAL = {"model_sha256"}
# The fitted attributes stored under another key than their name.
_META_KEYS = {"_y_1d": "y_1d"}
# The members Keras writes to a .keras archive; others are refused.
_KERAS_MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------


def metadata(estimator, model_sha256):
    """The contents of ``estimator.json`` for a fitted ``estimator``."""
    from . import __version__

    params = {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in estimator.get_params().items()
        if k not in UNSAVED_PARAMS
    }
    # The head the network was built with: set_params(head=...) after fitting
    # changes the parameter, not the network, and the saved pair must agree.
    params["head"] = estimator._fitted_head().name
    meta = {
        "format": FORMAT,
        "pixel_regressor_version": __version__,
        "params": params,
        "model_sha256": model_sha256,
    }
    for name, _, _ in _FITTED:
        if hasattr(estimator, name):
            meta[_META_KEYS.get(name, name)] = _as_json(getattr(estimator, name))
    return meta


def _as_json(value):
    """``value`` with its arrays, tuples and NumPy numbers as JSON's types."""
    if isinstance(value, dict):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    if hasattr(value, "tolist"):  # NumPy arrays and numbers
        return value.tolist()
    return value


def keras_archive_bytes(model):
    """The bytes of ``model``'s ``.keras`` archive."""
    with tempfile.TemporaryDirectory(prefix="pixel-regressor-") as directory:
        path = Path(directory) / "model.keras"
        model.save(path)
        return path.read_bytes()


# ---------------------------------------------------------------------------
# the metadata
# ---------------------------------------------------------------------------


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _no_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def read_metadata(path):
    """Parse the JSON file ``path``, with limits; ValueError if it is bad."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise ValueError(
            f"it is {size} bytes, more than the {MAX_METADATA_BYTES} an estimator "
            "file may have"
        )
    with open(path, "rb") as file:
        # read(n) allocates n bytes up front: ask for what stat said, plus one
        # to notice a file that grew since.
        data = file.read(size + 1)
    if len(data) > size:
        raise ValueError("it changed while being read")
    try:
        text = data.decode("utf-8")
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"it is not UTF-8 text: {exc}") from None
    except ValueError as exc:  # JSONDecodeError, huge ints, our refusals
        raise ValueError(f"it is not valid JSON: {exc}") from None


def _is_int(value):
    """An int (Python's or NumPy's), not a boolean."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    """A real number (an int or a float, not a boolean)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_int(key, value, minimum):
    if not _is_int(value) or not minimum <= value <= _MAX_INT:
        raise ValueError(
            f"{key} must be an integer in [{minimum}, {_MAX_INT}], got {_short(value)}"
        )
    return int(value)


def _within(value, bounds):
    """Whether the number ``value`` lies in ``bounds``, to rounding."""
    low, high = bounds
    slack = 1e-9
    return low - slack * abs(low) <= value <= high + slack * abs(high)


def _short(value, limit=80):
    """A repr of ``value`` at most ``limit`` characters long."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<a deeply nested {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_history(history, n_iter):
    if not isinstance(history, dict):
        raise ValueError(f"history_ must be an object, got {_short(history)}")
    out = {}
    for key, values in history.items():
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise ValueError(
                f"history_[{key!r}] must be a list of numbers, got {_short(values)}"
            )
        if len(values) != n_iter:
            raise ValueError(
                f"history_[{key!r}] has {len(values)} values, but n_iter_ is {n_iter}"
            )
        out[key] = [float(v) for v in values]
    if n_iter and "loss" not in out:
        raise ValueError(f"history_ has no 'loss' although n_iter_ is {n_iter}")
    return out


def _params(estimator_class, params):
    if not isinstance(params, dict):
        raise ValueError(f"params must be an object, got {_short(params)}")
    defaults = estimator_class().get_params()
    unknown = sorted(set(params) - set(defaults) | set(params) & set(UNSAVED_PARAMS))
    if unknown:
        raise ValueError(f"params has unknown or unsaved keys {unknown}")
    out = {}
    for name, value in params.items():
        if (
            isinstance(value, bool)
            and not isinstance(defaults[name], bool)
            and name != "verbose"
        ):
            raise ValueError(f"params[{name!r}] must not be a boolean")
        if isinstance(value, dict):
            raise ValueError(f"params[{name!r}] must not be an object")
        if isinstance(value, list):
            if name not in _TUPLE_PARAMS:
                raise ValueError(f"params[{name!r}] must not be a list")
            value = tuple(value)
        out[name] = value
    estimator = estimator_class(**out)
    try:
        estimator._check_settings()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"params are not valid: {exc}") from None
    return estimator


# ---------------------------------------------------------------------------
# the fitted state
# ---------------------------------------------------------------------------
# Each check takes the attribute's value (as JSON or unpickling gives it) and
# the attributes checked before it (and "head", the spec of the head the
# model was built with), and returns the value the estimator keeps.


def _as_list(value):
    """An array as nested lists, so that one check reads JSON and arrays."""
    if hasattr(value, "tolist") and not _is_number(value):
        return value.tolist()
    return value


def _image_shape(shape, fitted):
    shape = _as_list(shape)
    if (
        not isinstance(shape, (list, tuple))
        or len(shape) != 2
        or not all(_is_int(n) and 1 <= n <= _MAX_INT for n in shape)
    ):
        raise ValueError(
            f"image_shape_ must be two positive integers, got {_short(shape)}"
        )
    return tuple(int(n) for n in shape)


def _n_features(n_features, fitted):
    n_features = _check_int("n_features_in_", n_features, 1)
    shape = fitted["image_shape_"]
    if n_features != shape[0] * shape[1]:
        raise ValueError(
            f"n_features_in_ is {n_features}, but image_shape_ {list(shape)} has "
            f"{shape[0] * shape[1]} pixels"
        )
    return n_features


def _n_outputs(n_outputs, fitted):
    return _check_int("n_outputs_", n_outputs, 1)


def _y_1d(y_1d, fitted):
    import numpy as np

    if not isinstance(y_1d, (bool, np.bool_)):
        raise ValueError(f"y_1d must be true or false, got {_short(y_1d)}")
    if y_1d and fitted["n_outputs_"] != 1:
        raise ValueError(f"y_1d is true, but n_outputs_ is {fitted['n_outputs_']}")
    return bool(y_1d)


def _n_iter(n_iter, fitted):
    return _check_int("n_iter_", n_iter, 0)


def _history(history, fitted):
    return _check_history(history, fitted["n_iter_"])


def _feature_names(names, fitted):
    import numpy as np

    names = _as_list(names)
    n_features = fitted["n_features_in_"]
    if (
        not isinstance(names, list)
        or len(names) != n_features
        or not all(isinstance(n, str) for n in names)
    ):
        raise ValueError(f"feature_names_in_ must be a list of {n_features} strings")
    return np.asarray(names, dtype=object)


def _std_of(key, fitted):
    """The head's ``std`` kind; a ValueError if it has none."""
    kind = fitted["head"].std
    if kind is None:
        raise ValueError(f"{key} is given, but the head has no std")
    return kind


def _std_coefficients(rows, fitted):
    """``std_coefficients_``: n_outputs rows of numbers in the range of their
    fit, as many as the head's ``std`` kind has (see
    ``_uncertainty.n_coefficients``)."""
    import numpy as np

    from ._uncertainty import COEFFICIENT_RANGE, n_coefficients

    n_terms = n_coefficients(_std_of("std_coefficients_", fitted))
    n_outputs = fitted["n_outputs_"]
    rows = _as_list(rows)
    if (
        not isinstance(rows, list)
        or len(rows) != n_outputs
        or not all(
            isinstance(row, list)
            and len(row) == n_terms
            and all(
                _is_number(v) and math.isfinite(v) and _within(v, COEFFICIENT_RANGE)
                for v in row
            )
            for row in rows
        )
    ):
        low, high = COEFFICIENT_RANGE
        raise ValueError(
            f"std_coefficients_ must be {n_outputs} row(s) of {n_terms} positive "
            f"numbers in [{low:.3g}, {high:.3g}] (the variance's coefficients, "
            f"as fitted), got {_short(rows)}"
        )
    return np.asarray(rows, dtype=np.float64)


def _miss_odds(values, fitted):
    """``miss_odds_``: ``[tau, beta]``, each in the range of its fit."""
    import numpy as np

    from ._uncertainty import ODDS_RANGE

    _std_of("miss_odds_", fitted)
    values = _as_list(values)
    if (
        not isinstance(values, list)
        or len(values) != 2
        or not all(_is_number(v) and math.isfinite(v) for v in values)
        or not all(_within(v, bounds) for v, bounds in zip(values, ODDS_RANGE))
    ):
        (tau_low, tau_high), (beta_low, beta_high) = ODDS_RANGE
        raise ValueError(
            f"miss_odds_ must be [tau, beta], two numbers with tau > 0 in "
            f"[{tau_low:.3g}, {tau_high:.3g}] and beta in [{beta_low:.3g}, "
            f"{beta_high:.3g}] (as fitted), got {_short(values)}"
        )
    return np.asarray(values, dtype=np.float64)


def _training_conditions(values, fitted):
    """``training_conditions_``: a dict of the floats of
    ``_conditions.KEYS`` (its optional keys may be absent), finite, each
    range's low at most its high, the shares in [0, 1], the image size and
    the widths positive."""
    from ._conditions import KEYS, OPTIONAL_KEYS

    _std_of("training_conditions_", fitted)
    required = set(KEYS) - set(OPTIONAL_KEYS)
    ok = (
        isinstance(values, dict)
        and required <= set(values) <= set(KEYS)
        and set(OPTIONAL_KEYS) & set(values) in (set(), set(OPTIONAL_KEYS))
        and all(_is_number(v) and math.isfinite(v) for v in values.values())
    )
    if ok:
        values = {key: float(value) for key, value in values.items()}
        ok = (
            all(
                values[f"{name}_low"] <= values[f"{name}_high"]
                for name in ("signal", "width", "dispersion")
                if f"{name}_low" in values
            )
            and all(0 <= values[key] <= 1 for key in ("edge_share", "saturated_share"))
            and values["detection_z"] >= 0
            and all(
                values[key] > 0 for key in ("width_low", "image_height", "image_width")
            )
        )
    if not ok:
        raise ValueError(
            f"training_conditions_ must be an object of the numbers {list(KEYS)} "
            f"(both dispersion keys or neither; each low at most "
            f"its high, shares in [0, 1], detection_z >= 0), got {_short(values)}"
        )
    return values


# The fitted attributes, in the order they are checked: (name, required,
# check). Saving, load_model and unpickling all go through this table; a new
# fitted attribute is one row and its check.
_FITTED = (
    ("image_shape_", True, _image_shape),
    ("n_features_in_", True, _n_features),
    ("n_outputs_", True, _n_outputs),
    ("_y_1d", True, _y_1d),
    ("n_iter_", True, _n_iter),
    ("history_", True, _history),
    ("feature_names_in_", False, _feature_names),
    ("std_coefficients_", False, _std_coefficients),
    ("miss_odds_", False, _miss_odds),
    ("training_conditions_", False, _training_conditions),
)
_REQUIRED |= {_META_KEYS.get(name, name) for name, required, _ in _FITTED if required}
_OPTIONAL |= {_META_KEYS.get(n, n) for n, required, _ in _FITTED if not required}


def _fitted_head(estimator):
    """The spec of the head ``estimator``'s model was built with."""
    from .models import HEADS

    name = vars(estimator).get("_built_head", estimator.head)
    if not isinstance(name, str) or name not in HEADS:
        raise ValueError(
            f"_built_head (the head the model was built with, else head) must be "
            f"one of {sorted(HEADS)}, got {_short(name)}"
        )
    return HEADS[name]


def check_fitted_state(estimator):
    """Check every fitted attribute of ``estimator``, in place.

    The one check of a loaded estimator's fitted state, before its Keras
    model is opened (:func:`check_model_matches` checks that): each
    attribute of :data:`_FITTED` is present if required, of its type, in
    its range and consistent with the others and with the head the model
    was built with; it is replaced by the value its check returns (arrays
    as NumPy arrays, shapes as tuples).

    Raises
    ------
    ValueError
        Naming the first attribute that is missing or wrong.
    """
    state = vars(estimator)
    fitted = {"head": _fitted_head(estimator)}
    for name, required, check in _FITTED:
        if name not in state:
            if required:
                raise ValueError(f"the fitted attribute {name} is missing")
            continue
        fitted[name] = check(state[name], fitted)
    for name, value in fitted.items():
        if name != "head":
            setattr(estimator, name, value)


def estimator_from_metadata(estimator_class, meta):
    """An estimator of ``estimator_class`` holding the checked ``meta``.

    Everything but the Keras model, its fitted state checked by
    :func:`check_fitted_state`: the caller loads the model, checks it with
    :func:`check_model_matches` and wraps it.
    """
    if not isinstance(meta, dict):
        raise ValueError(f"it holds {type(meta).__name__}, not an object")
    version = meta.get("format")
    if not _is_int(version):
        raise ValueError(f"format must be an integer, got {_short(version)}")
    if version not in _FORMATS:
        newer = version > FORMAT
        raise ValueError(
            f"format {version} is not one this version of pixel_regressor reads "
            f"({', '.join(map(str, _FORMATS))})"
            + ("; it was written by a newer version" if newer else "")
        )
    missing = sorted(_REQUIRED - set(meta))
    if version >= 2 and "model_sha256" not in meta:
        missing.append("model_sha256")
    if missing:
        raise ValueError(f"missing keys {missing}")
    unknown = sorted(set(meta) - _REQUIRED - _OPTIONAL)
    if unknown:
        raise ValueError(f"unknown keys {[_short(k) for k in unknown]}")
    if not isinstance(meta["pixel_regressor_version"], str):
        raise ValueError("pixel_regressor_version must be a string")
    if "model_sha256" in meta and (
        not isinstance(meta["model_sha256"], str)
        or not _SHA256.fullmatch(meta["model_sha256"])
    ):
        raise ValueError("model_sha256 must be 64 lowercase hex digits")

    estimator = _params(estimator_class, meta["params"])
    for name, _, _ in _FITTED:
        key = _META_KEYS.get(name, name)
        if key in meta:
            setattr(estimator, name, meta[key])
    check_fitted_state(estimator)
    return estimator


# ---------------------------------------------------------------------------
# the Keras archive
# ---------------------------------------------------------------------------


def check_keras_archive(source):
    """Check a ``.keras`` zip (a path or bytes) before Keras opens it.

    Reads only the zip's central directory: the declared size of every
    member, which Python's :mod:`zipfile` never inflates beyond. Refuses an
    archive that is not a zip, holds other members than Keras writes,
    encrypted ones, or more than ``MAX_UNCOMPRESSED_BYTES`` in all.
    """
    if isinstance(source, (bytes, bytearray)):
        size = len(source)
        source = io.BytesIO(source)
    else:
        size = Path(source).stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        raise ValueError(
            f"it is {size} bytes, more than the {MAX_ARCHIVE_BYTES} a model may have"
        )
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise ValueError(
            f"it is not a valid zip archive (corrupt or truncated): {exc}"
        ) from None
    if len(members) > MAX_MEMBERS:
        raise ValueError(f"it has {len(members)} members")
    names = [m.filename for m in members]
    unexpected = sorted(set(names) - _KERAS_MEMBERS)
    if unexpected or len(set(names)) != len(names):
        shown = [_short(n, 40) for n in unexpected[:5]] or "duplicates"
        raise ValueError(f"it holds members Keras does not write: {shown}")
    if "config.json" not in names:
        raise ValueError("it holds no config.json")
    if any(m.flag_bits & 0x1 for m in members):
        raise ValueError("it holds encrypted members")
    total = sum(m.file_size for m in members)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise ValueError(
            f"its members would decompress to {total} bytes, more than the "
            f"{MAX_UNCOMPRESSED_BYTES} a model may have"
        )


def _keras_message(exc):
    """Keras's error, without its misleading "File not found" for a bad zip."""
    text = f"{type(exc).__name__}: {exc}"
    if "File not found" in text:
        return "Keras cannot read it as a .keras archive"
    return text


def load_keras_archive(path):
    """Load the checked ``.keras`` archive ``path`` in safe mode."""
    import keras

    check_keras_archive(path)
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad archive
        raise ValueError(_keras_message(exc)) from None


def load_keras_bytes(data):
    """Load a ``.keras`` archive given as bytes, in safe mode."""
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"the model must be bytes, got {type(data).__name__}")
    check_keras_archive(data)
    with tempfile.TemporaryDirectory(prefix="pixel-regressor-") as directory:
        path = Path(directory) / "model.keras"
        path.write_bytes(data)
        return load_keras_archive(path)


def check_model_matches(estimator, model):
    """Check that the Keras ``model`` is the one ``estimator`` describes.

    Its input and output shapes, its layers (the head's own, by name and
    class, and none of another head's: see ``HeadSpec.layers``), the shape
    of its read-out and the finiteness of its weights. ``estimator``'s
    fitted state is checked beforehand (:func:`check_fitted_state`).
    """
    head = _fitted_head(estimator)
    any_image_size = head.any_image_size
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, TypeError, ValueError):
        raise ValueError("it is not a Keras model with inputs and outputs") from None
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"the model has {len(inputs)} inputs and {len(outputs)} outputs, "
            "not 1 and 1"
        )
    _check_layers(model, head)
    in_shape, out_shape = tuple(inputs[0].shape), tuple(outputs[0].shape)
    if len(out_shape) != 2 or out_shape[1] != estimator.n_outputs_:
        raise ValueError(
            f"the model's output shape is {out_shape}, but the estimator has "
            f"n_outputs_={estimator.n_outputs_}"
        )
    expected = (None, *estimator.image_shape_, 1)
    if len(in_shape) != 4 or in_shape[3] != 1:
        raise ValueError(
            f"the model's input shape is {in_shape}, not that of grayscale images"
        )
    matches = all(
        a == b or (any_image_size and a is None) for a, b in zip(in_shape, expected)
    )
    if not matches:
        raise ValueError(
            f"the model's input shape is {in_shape}, but the estimator's "
            f"image_shape_ is {estimator.image_shape_}"
        )
    _check_weights(model, head, estimator.n_outputs_)


def _check_layers(model, head):
    """The head's layers are ``model``'s, and no other head's."""
    from .models import HEADS

    classes = {layer.name: type(layer).__name__ for layer in model.layers}
    for name in sorted({name for spec in HEADS.values() for name in spec.layers}):
        expected, found = head.layers.get(name), classes.get(name)
        if expected != found:
            has = f"a {found} layer {name!r}" if found else f"no layer {name!r}"
            should = f"a {expected}" if expected else "none"
            raise ValueError(
                f"the model has {has}, where a head={head.name!r} network has "
                f"{should}: it is not the network of head={head.name!r}"
            )


def _check_weights(model, head, n_outputs):
    """``model``'s read-out maps ``(row, col)`` to ``n_outputs`` targets, and
    its weights are finite."""
    import numpy as np

    if "readout" in head.layers:
        shapes = [tuple(w.shape) for w in model.get_layer("readout").weights]
        if shapes != [(2, n_outputs), (n_outputs,)]:
            raise ValueError(
                f"the model's read-out has weights of shapes {shapes}, not "
                f"[(2, {n_outputs}), ({n_outputs},)] (n_outputs_={n_outputs})"
            )
    if not all(np.isfinite(w).all() for w in model.get_weights()):
        raise ValueError("the model's weights are not all finite")


def monitor_of(history):
    """The loss early stopping watched: the validation loss if there was one."""
    return "val_loss" if "val_loss" in history else "loss"
