"""Checks for what :func:`~pixel_regressor.load_model` and unpickling read.

Nothing read from a file is trusted: the metadata is parsed with limits and
every field is checked for its type, its range and its agreement with the
others; the Keras archive's members are size-checked from the zip's central
directory before anything is decompressed; the loaded model must match the
metadata. Every failure is a ``ValueError`` naming what is wrong.
"""

import io
import json
import math
import re
import tempfile
import zipfile
from pathlib import Path

__all__ = [
    "FORMAT",
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
_REQUIRED = {
    "format",
    "pixel_regressor_version",
    "params",
    "image_shape_",
    "n_features_in_",
    "n_outputs_",
    "y_1d",
    "history_",
    "n_iter_",
}
_OPTIONAL = {
    "feature_names_in_",
    "model_sha256",
    "std_coefficients_",
    "miss_odds_",
    "training_conditions_",
}
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
    meta = {
        "format": FORMAT,
        "pixel_regressor_version": __version__,
        "params": params,
        "image_shape_": [int(n) for n in estimator.image_shape_],
        "n_features_in_": int(estimator.n_features_in_),
        "n_outputs_": int(estimator.n_outputs_),
        "y_1d": bool(estimator._y_1d),
        "history_": {
            str(k): [float(v) for v in values]
            for k, values in estimator.history_.items()
        },
        "n_iter_": int(estimator.n_iter_),
        "model_sha256": model_sha256,
    }
    if hasattr(estimator, "feature_names_in_"):
        meta["feature_names_in_"] = [str(n) for n in estimator.feature_names_in_]
    if hasattr(estimator, "std_coefficients_"):
        meta["std_coefficients_"] = [
            [float(v) for v in row] for row in estimator.std_coefficients_
        ]
    if hasattr(estimator, "miss_odds_"):
        meta["miss_odds_"] = [float(v) for v in estimator.miss_odds_]
    if hasattr(estimator, "training_conditions_"):
        meta["training_conditions_"] = {
            str(k): float(v) for k, v in estimator.training_conditions_.items()
        }
    return meta


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
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    """A JSON number (an int or a float, not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(meta, key, minimum):
    value = meta[key]
    if not _is_int(value) or not minimum <= value <= _MAX_INT:
        raise ValueError(
            f"{key} must be an integer in [{minimum}, {_MAX_INT}], got {_short(value)}"
        )
    return value


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


def _std_coefficients(rows, n_outputs, kind):
    """``std_coefficients_``: n_outputs rows of positive finite numbers, as
    many as the head's ``std`` kind has (see ``_uncertainty.n_coefficients``)."""
    import numpy as np

    from ._uncertainty import n_coefficients

    n_terms = n_coefficients(kind)
    if (
        not isinstance(rows, list)
        or len(rows) != n_outputs
        or not all(
            isinstance(row, list)
            and len(row) == n_terms
            and all(_is_number(v) and math.isfinite(v) and v > 0 for v in row)
            for row in rows
        )
    ):
        raise ValueError(
            f"std_coefficients_ must be {n_outputs} row(s) of {n_terms} positive "
            "numbers (the variance's coefficients), "
            f"got {_short(rows)}"
        )
    return np.asarray(rows, dtype=np.float64)


def _miss_odds(values):
    """``miss_odds_``: ``[tau, beta]``, finite, ``tau`` > 0."""
    import numpy as np

    if (
        not isinstance(values, list)
        or len(values) != 2
        or not all(_is_number(v) and math.isfinite(v) for v in values)
        or not values[0] > 0
    ):
        raise ValueError(
            "miss_odds_ must be [tau, beta], two finite numbers with tau > 0, "
            f"got {_short(values)}"
        )
    return np.asarray(values, dtype=np.float64)


def _training_conditions(values, fitted):
    """``training_conditions_``: a dict of the floats of
    ``_conditions.KEYS`` (its optional keys may be absent), finite, each
    range's low at most its high, the shares in [0, 1], the image size and
    the widths positive."""
    from ._conditions import KEYS, OPTIONAL_KEYS

    if fitted["head"].std is None:
        raise ValueError("training_conditions_ is given, but the head has no std")
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


def estimator_from_metadata(estimator_class, meta):
    """An estimator of ``estimator_class`` holding the checked ``meta``.

    Everything but the Keras model: the caller loads it, checks it with
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

    shape = meta["image_shape_"]
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(_is_int(n) and 1 <= n <= _MAX_INT for n in shape)
    ):
        raise ValueError(
            f"image_shape_ must be two positive integers, got {_short(shape)}"
        )
    n_features = _check_int(meta, "n_features_in_", 1)
    if n_features != shape[0] * shape[1]:
        raise ValueError(
            f"n_features_in_ is {n_features}, but image_shape_ {shape} has "
            f"{shape[0] * shape[1]} pixels"
        )
    n_outputs = _check_int(meta, "n_outputs_", 1)
    y_1d = meta["y_1d"]
    if not isinstance(y_1d, bool):
        raise ValueError(f"y_1d must be true or false, got {_short(y_1d)}")
    if y_1d and n_outputs != 1:
        raise ValueError(f"y_1d is true, but n_outputs_ is {n_outputs}")
    n_iter = _check_int(meta, "n_iter_", 0)
    history = _check_history(meta["history_"], n_iter)
    if "feature_names_in_" in meta:
        names = meta["feature_names_in_"]
        if (
            not isinstance(names, list)
            or len(names) != n_features
            or not all(isinstance(n, str) for n in names)
        ):
            raise ValueError(
                f"feature_names_in_ must be a list of {n_features} strings"
            )
        import numpy as np

        estimator.feature_names_in_ = np.asarray(names, dtype=object)

    kind = estimator._head().std
    for key in ("std_coefficients_", "miss_odds_", "training_conditions_"):
        if key in meta and kind is None:
            raise ValueError(f"{key} is given, but the head has no std")
    if "std_coefficients_" in meta:
        estimator.std_coefficients_ = _std_coefficients(
            meta["std_coefficients_"], n_outputs, kind
        )
    if "miss_odds_" in meta:
        estimator.miss_odds_ = _miss_odds(meta["miss_odds_"])
    if "training_conditions_" in meta:
        estimator.training_conditions_ = _training_conditions(
            meta["training_conditions_"], {"head": estimator._head()}
        )

    estimator.image_shape_ = tuple(shape)
    estimator.n_features_in_ = n_features
    estimator.n_outputs_ = n_outputs
    estimator._y_1d = y_1d
    estimator.history_ = history
    estimator.n_iter_ = n_iter
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


def check_model_matches(estimator, model, *, any_image_size):
    """Check that the Keras ``model`` is the one ``estimator`` describes."""
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, TypeError, ValueError):
        raise ValueError("it is not a Keras model with inputs and outputs") from None
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"the model has {len(inputs)} inputs and {len(outputs)} outputs, "
            "not 1 and 1"
        )
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


def monitor_of(history):
    """The loss early stopping watched: the validation loss if there was one."""
    return "val_loss" if "val_loss" in history else "loss"
