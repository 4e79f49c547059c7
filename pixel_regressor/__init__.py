"""Find the one bright pixel in a grayscale image, the scikit-learn way.

``pixel_regressor`` offers a dataset generator in the style of
:mod:`sklearn.datasets` and a scikit-learn regressor built on Keras (through
scikeras) that learns to return the ``(row, col)`` coordinate of the bright
pixel.

Importing the package is cheap: NumPy, scikit-learn, Keras and TensorFlow are
imported only when a public object that needs them is first used.
"""

import importlib

from ._keras_registration import register_when_keras_is_imported as _register
from ._tensorflow_logs import quiet_tensorflow_import as _quiet_tensorflow_import

__version__ = "0.1.0"

# public name -> module that defines it (loaded on first access)
_LAZY = {
    "make_bright_pixel_dataset": "datasets",
    "iter_bright_pixel_batches": "datasets",
    "make_bright_spot_dataset": "datasets",
    "adu_to_photons": "datasets",
    "make_spot_frames": "datasets",
    "SampledPSF": "_psf",
    "calibrate_camera": "calibration",
    "measure_spot_conditions": "calibration",
    "BrightPixelSequence": "streaming",
    "BrightPixelRegressor": "estimator",
    "SpotLocator": "locator",
    "load_locator": "locator",
    "load_model": "estimator",
    "skops_trusted_types": "estimator",
    "mean_pixel_error": "metrics",
    "exact_pixel_accuracy": "metrics",
    "mean_pixel_error_scorer": "metrics",
    "exact_pixel_accuracy_scorer": "metrics",
    "localization_crlb": "metrics",
    "match_localizations": "metrics",
    "jaccard_index": "metrics",
    "matched_rmse": "metrics",
    "localization_efficiency": "metrics",
    "read_frames": "io",
    "iter_frame_batches": "io",
    "read_localizations": "io",
    "write_localizations": "io",
}
_SUBMODULES = {
    "calibration",
    "datasets",
    "detection",
    "estimator",
    "locator",
    "io",
    "metrics",
    "models",
    "plotting",
    "streaming",
    "cli",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)


# Make the package's Keras layers known to ``keras.saving.load_model`` as soon
# as Keras is imported (now, if it already is), without importing it here.
_register()
# Without TensorFlow's start-up lines on the standard error, whoever imports it
# first (see _tensorflow_logs); installed last, so that it runs first.
_quiet_tensorflow_import()
