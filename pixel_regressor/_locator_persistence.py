"""A fitted :class:`~pixel_regressor.SpotLocator` saved to a directory and loaded.

The directory holds

- ``model/``: the spot model, saved by
  :meth:`BrightPixelRegressor.save <pixel_regressor.BrightPixelRegressor.save>`
  (``model.keras`` and ``estimator.json``);
- ``locator.json``: the locator's parameters, its fitted attributes and the
  SHA-256 digest of ``model/estimator.json`` (which records the digest of
  ``model.keras`` in turn), written last.

Loading trusts nothing it reads: the JSON is parsed with the limits of the
estimator's own files, its fields are checked one by one, the parameters by
the locator's own validation, and the spot model is loaded and checked by
:func:`pixel_regressor.load_model`.
"""

import dataclasses
import json
import keyword
import math
import numbers
import os
from pathlib import Path

import numpy as np

from . import _persistence
from ._io import atomic_directory, sha256_of, visible_entries

LOCATOR_FILE = "locator.json"
MODEL_DIR = "model"
SAVED_FILES = (LOCATOR_FILE, MODEL_DIR)
KIND = "pixel_regressor.SpotLocator"
FORMAT = 1
# Parameters not saved: the spot model (saved on its own) and a random state
# that is not a plain seed.
_MODEL_PARAM = "estimator"
# The most elements of an array attribute.
_MAX_ELEMENTS = 1 << 20


_NONFINITE = ("nan", "inf", "-inf")


def _number(value):
    """A number as JSON: a finite float, or ``"nan"``, ``"inf"``, ``"-inf"``."""
    if isinstance(value, numbers.Integral):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else repr(value)


def _plain(value, name):
    """``value`` as JSON, arrays tagged; TypeError for anything else."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Real):
        value = _number(value)
        return {"float": value} if isinstance(value, str) else value
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "values": [_number(v) for v in value.ravel().tolist()],
        }
    if isinstance(value, (tuple, list)):
        return [_plain(v, name) for v in value]
    from ._psf import SampledPSF

    if isinstance(value, SampledPSF):
        return {
            "sampled_psf": {
                "image": _plain(value.image, name),
                "oversampling": value.oversampling,
            }
        }
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _plain(v, f"{name}[{k!r}]") for k, v in value.items()}}
    for tag, kind in _records().items():
        if isinstance(value, kind):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(kind)}
            if "spots" in fields:
                spots = fields["spots"]
                fields["spots"] = {
                    column: spots[column].to_numpy() for column in spots.columns
                }
            return {tag: _plain(fields, name)["dict"]}
    raise TypeError(
        f"SpotLocator.save cannot save {name} of type {type(value).__name__}."
    )


def _records():
    """The fitted attributes' record types, by their tag in the file."""
    from .calibration import CameraCalibration, SpotConditions

    return {"camera_calibration": CameraCalibration, "spot_conditions": SpotConditions}


def _record(tag, data, name):
    """A :func:`_records` instance back: exactly its fields, each checked."""
    import pandas as pd

    kind = _records()[tag]
    names = {f.name for f in dataclasses.fields(kind)}
    if not isinstance(data, dict) or set(data) != names:
        raise ValueError(f"{name} does not hold the fields of a {kind.__name__}")
    fields = {key: _value(value, f"{name}.{key}") for key, value in data.items()}
    for key, value in fields.items():
        if key == "method":
            ok = isinstance(value, str)
        elif key in ("n_frames", "n_tiles", "n_spots"):
            ok = _persistence._is_int(value) and value >= 0
        elif key in ("photons", "background", "psf_sigma"):
            ok = (
                isinstance(value, list)
                and len(value) == 3
                and all(_persistence._is_number(v) and math.isfinite(v) for v in value)
            )
            value = tuple(float(v) for v in value) if ok else value
        elif key == "camera":
            ok = isinstance(value, (dict, _records()["camera_calibration"]))
        elif key == "spots":
            ok = isinstance(value, dict) and all(
                isinstance(v, np.ndarray) and v.ndim == 1 for v in value.values()
            )
            ok = ok and len({len(v) for v in value.values()}) <= 1
            value = pd.DataFrame(value) if ok else value
        else:
            ok = _persistence._is_number(value) and not isinstance(value, bool)
            value = float(value) if ok else value
        if not ok:
            raise ValueError(f"{name}.{key} is not a valid {kind.__name__} field")
        fields[key] = value
    return kind(**fields)


def _value(data, name):
    """A saved value back, checked: numbers, strings, lists, arrays, dicts and
    the records of :func:`_records`."""
    if data is None or isinstance(data, (bool, str, int, float)):
        return data
    if isinstance(data, list):
        return [_value(v, name) for v in data]
    if isinstance(data, dict) and len(data) == 1:
        ((tag, inner),) = data.items()
        if tag == "dict" and isinstance(inner, dict):
            return {k: _value(v, f"{name}[{k!r}]") for k, v in inner.items()}
        if tag in _records():
            return _record(tag, inner, name)
        if tag == "sampled_psf":
            from ._psf import SampledPSF

            if not isinstance(inner, dict) or set(inner) != {"image", "oversampling"}:
                raise ValueError(f"{name} is not a saved SampledPSF")
            # Its own checks: a finite, non-negative 2-D image of sum <= 1.
            return SampledPSF(
                _value(inner["image"], name), inner["oversampling"], normalize=False
            )
    if isinstance(data, dict) and set(data) == {"float"}:
        if data["float"] not in _NONFINITE:
            raise ValueError(f"{name} holds an odd float {data['float']!r}")
        return float(data["float"])
    if isinstance(data, dict) and set(data) == {"dtype", "shape", "values"}:
        dtype, shape, values = data["dtype"], data["shape"], data["values"]
        try:
            dtype = np.dtype(dtype) if isinstance(dtype, str) else None
        except TypeError:
            dtype = None
        if (
            dtype is None
            or dtype.kind not in "biuf"
            or dtype.itemsize > 8
            or not isinstance(shape, list)
            or not all(
                _persistence._is_int(v) and 0 <= v <= _MAX_ELEMENTS for v in shape
            )
            or math.prod(shape) > _MAX_ELEMENTS
            or not isinstance(values, list)
            or len(values) != math.prod(shape)
            or not all(_persistence._is_number(v) or v in _NONFINITE for v in values)
        ):
            raise ValueError(f"{name} is not a numeric array of its shape")
        try:
            return np.array(
                [float(v) if isinstance(v, str) else v for v in values], dtype=dtype
            ).reshape(shape)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{name} is not a numeric array of its dtype") from None
    raise ValueError(f"{name} holds a value of an unknown kind")


def _fitted_attributes(locator):
    return {
        name: value
        for name, value in vars(locator).items()
        if name.endswith("_") and not name.startswith("_") and name != "estimator_"
    }


def _check_target(directory):
    """Refuse to replace a directory that holds more than a saved locator."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise ValueError(f"{directory} exists and is not a directory.")
    others = sorted(
        p.name for p in visible_entries(directory) if p.name not in SAVED_FILES
    )
    if others:
        raise ValueError(
            f"{directory} holds other files than a saved locator ({others[:5]}); "
            "save into an empty or new directory, or an earlier save."
        )


def save(locator, path):
    """Write a fitted locator to the directory ``path``, all or nothing."""
    from sklearn.utils.validation import check_is_fitted

    from . import __version__

    check_is_fitted(locator)
    params = locator.get_params(deep=False)
    params.pop(_MODEL_PARAM)
    if not (
        params.get("random_state") is None
        or isinstance(params.get("random_state"), numbers.Integral)
    ):
        params["random_state"] = None
    params = {name: _plain(value, name) for name, value in params.items()}
    fitted = {
        name: _plain(value, name) for name, value in _fitted_attributes(locator).items()
    }
    directory = Path(os.path.abspath(path))
    directory.parent.mkdir(parents=True, exist_ok=True)
    _check_target(directory)
    with atomic_directory(
        directory, may_replace=_check_target, last=LOCATOR_FILE
    ) as tmp:
        locator.estimator_.save(tmp / MODEL_DIR)
        meta = {
            "kind": KIND,
            "format": FORMAT,
            "pixel_regressor_version": __version__,
            "params": params,
            "fitted": fitted,
            "model_sha256": sha256_of(tmp / MODEL_DIR / "estimator.json"),
        }
        (tmp / LOCATOR_FILE).write_text(
            json.dumps(meta, indent=2, allow_nan=False), encoding="utf-8"
        )
    return Path(path)


def is_saved_locator(path):
    """Whether ``path`` is a directory with a ``locator.json``."""
    return (Path(path) / LOCATOR_FILE).is_file()


def _check_positive(name, value, *, integer=False):
    if integer:
        ok = _persistence._is_int(value) and value >= 1
    else:
        ok = _persistence._is_number(value) and math.isfinite(value) and value > 0
    if not ok:
        kind = "an integer >= 1" if integer else "a finite number > 0"
        raise ValueError(f"{name} must be {kind}, got {_persistence._short(value)}")


def _meta(meta_file):
    meta = _persistence.read_metadata(meta_file)
    if not isinstance(meta, dict):
        raise ValueError("it does not hold a JSON object")
    if meta.get("kind") != KIND:
        raise ValueError(f"its kind is not {KIND!r}")
    version = meta.get("format")
    if not _persistence._is_int(version) or version < 1:
        raise ValueError(f"its format {_persistence._short(version)} is not known")
    if version > FORMAT:
        raise ValueError(
            f"it is of format {version}, written by a newer pixel_regressor "
            f"({_persistence._short(meta.get('pixel_regressor_version'))}); this "
            f"version reads format {FORMAT}"
        )
    for key in ("params", "fitted"):
        if not isinstance(meta.get(key), dict):
            raise ValueError(f"its {key!r} is not a JSON object")
    if not isinstance(meta.get("model_sha256"), str):
        raise ValueError("its 'model_sha256' is not a string")
    return meta


def _array(fitted, name, shape, *, nan=False):
    value = fitted.get(name)
    ok = isinstance(value, np.ndarray) and value.shape == shape
    if ok:
        finite = np.isfinite(value) | (np.isnan(value) if nan else False)
        ok = bool(finite.all()) and bool((value[~np.isnan(value)] >= 0).all())
    if not ok:
        raise ValueError(f"{name} is not a non-negative array of shape {shape}")


def _check_calibration(fitted):
    """The camera and calibration attributes, checked in place; a save that
    predates them (frames as they are, the model's own deviations) gets
    their neutral values."""
    from .calibration import CameraCalibration, _as_camera
    from .locator import _STD_BINS as bins

    fitted.setdefault("camera_", None)
    fitted.setdefault("conditions_", None)
    fitted.setdefault("std_scale_", np.ones(bins))
    fitted.setdefault("detection_ranges_", None)
    camera = fitted["camera_"]
    if isinstance(camera, dict):
        fitted["camera_"] = _as_camera(camera, None, None)
    elif isinstance(camera, CameraCalibration):
        if not (
            camera.gain > 0 and camera.em_gain >= 1 and math.isfinite(camera.offset)
        ):
            raise ValueError("camera_ holds a gain, em_gain or offset out of range")
    elif camera is not None:
        raise ValueError("camera_ is not a camera")
    conditions = fitted["conditions_"]
    if conditions is not None and type(conditions).__name__ != "SpotConditions":
        raise ValueError("conditions_ is not a SpotConditions")
    _array(fitted, "std_scale_", (bins,))
    if not (fitted["std_scale_"] > 0).all():
        raise ValueError("std_scale_ holds a factor that is not positive")
    if fitted["detection_ranges_"] is not None:
        _array(fitted, "detection_ranges_", (4, 2), nan=True)
    for name in ("photons_range_", "background_range_"):
        value = fitted.get(name)
        if value is None:
            continue
        if not (
            isinstance(value, list)
            and len(value) == 2
            and all(_persistence._is_number(v) and 0 < v < math.inf for v in value)
        ):
            raise ValueError(f"{name} is not a (low, high) pair of positive numbers")
        fitted[name] = tuple(float(v) for v in value)


def load(path):
    """A fitted :class:`SpotLocator` from a directory written by :func:`save`."""
    from .estimator import load_model
    from .locator import SpotLocator

    directory = Path(path)
    meta_file, model_dir = directory / LOCATOR_FILE, directory / MODEL_DIR
    if not meta_file.is_file():
        raise FileNotFoundError(
            f"{meta_file} not found: {directory} is not a directory written by "
            "SpotLocator.save."
        )
    try:
        meta = _meta(meta_file)
        known = SpotLocator().get_params(deep=False)
        params = {}
        for name, data in meta["params"].items():
            if name not in known or name == _MODEL_PARAM:
                raise ValueError(f"its parameter {name!r} is not a SpotLocator's")
            value = _value(data, name)
            params[name] = tuple(value) if isinstance(known[name], tuple) else value
        locator = SpotLocator(**params)
        locator._validate_params()
        locator._check_ranges()
        fitted = {}
        for name, data in meta["fitted"].items():
            if (
                not name.isidentifier()
                or keyword.iskeyword(name)
                or not name.endswith("_")
                or name.startswith("_")
                or hasattr(SpotLocator, name)
                or name == "estimator_"
            ):
                raise ValueError(f"its fitted attribute {name!r} is not allowed")
            fitted[name] = _value(data, name)
        for name in ("psf_sigma_", "threshold_"):
            _check_positive(name, fitted.get(name))
        _check_positive("box_size_", fitted.get("box_size_"), integer=True)
        if fitted["box_size_"] != locator.box_size:
            raise ValueError(
                f"box_size_ {fitted['box_size_']} differs from box_size "
                f"{locator.box_size}"
            )
        if locator.psf_sigma != "auto" and fitted["psf_sigma_"] != locator.psf_sigma:
            raise ValueError(
                f"psf_sigma_ {fitted['psf_sigma_']} differs from psf_sigma "
                f"{locator.psf_sigma}"
            )
        _check_calibration(fitted)
    except RecursionError:
        raise ValueError(f"{meta_file} is corrupt: it is nested too deeply.") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{meta_file} is corrupt or not a saved SpotLocator: {exc}"
        ) from None
    if not (model_dir / "estimator.json").is_file():
        raise FileNotFoundError(
            f"{model_dir / 'estimator.json'} not found: {directory} is not a "
            "complete SpotLocator save."
        )
    if sha256_of(model_dir / "estimator.json") != meta["model_sha256"]:
        raise ValueError(
            f"{model_dir} differs from the spot model recorded in {meta_file} "
            "(the files come from different saves, or were modified)."
        )
    estimator = load_model(model_dir)
    locator.set_params(estimator=estimator)
    try:
        model, _ = locator._spot_model()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{model_dir} is not a spot model: {exc}") from None
    for name, value in fitted.items():
        setattr(locator, name, value)
    locator.estimator_ = model
    if locator.camera == "auto" and locator.camera_ is not None:
        # Its spot model takes photoelectrons of this camera: a later fit,
        # which keeps the model, keeps the camera too.
        locator.set_params(camera=locator.camera_)
    return locator
