"""Importing :mod:`pixel_regressor` is cheap, and its public names are lazy.

Each check runs in a fresh interpreter, so that what this test session has
already imported does not hide an import the package makes.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pixel_regressor

PUBLIC_NAMES = {
    "make_bright_pixel_dataset",
    "iter_bright_pixel_batches",
    "BrightPixelSequence",
    "BrightPixelRegressor",
    "SpotLocator",
    "load_locator",
    "load_model",
    "skops_trusted_types",
    "mean_pixel_error",
    "exact_pixel_accuracy",
    "mean_pixel_error_scorer",
    "exact_pixel_accuracy_scorer",
    "make_bright_spot_dataset",
    "adu_to_photons",
    "localization_crlb",
    "read_frames",
    "iter_frame_batches",
    "read_localizations",
    "write_localizations",
    "make_spot_frames",
    "SampledPSF",
    "calibrate_camera",
    "measure_spot_conditions",
    "match_localizations",
    "jaccard_index",
    "matched_rmse",
    "localization_efficiency",
}
HEAVY = ["tensorflow", "keras", "sklearn", "numpy", "scikeras", "jax", "torch"]
LAYERS_FILE = Path(pixel_regressor.__file__).with_name("_layers.py")


def _run(code):
    """Run ``code`` in a fresh interpreter; return what it printed, as JSON."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _loaded_after(statements):
    """Which of HEAVY are imported after running ``statements``."""
    return set(
        _run(
            f"""
            import json, sys
            {statements}
            print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
            """
        )
    )


def test_import_imports_nothing_heavy():
    assert _loaded_after("import pixel_regressor") == set()


def test_generating_data_leaves_keras_tensorflow_and_sklearn_out():
    loaded = _loaded_after(
        "import pixel_regressor; "
        "X, y = pixel_regressor.make_bright_pixel_dataset(3, image_size=4)"
    )
    assert loaded == {"numpy"}


def test_generating_a_bunch_leaves_keras_and_tensorflow_out():
    loaded = _loaded_after(
        "from pixel_regressor import make_bright_pixel_dataset; "
        "b = make_bright_pixel_dataset(3, image_size=4, return_X_y=False)"
    )
    assert "sklearn" in loaded  # the Bunch
    assert not loaded & {"tensorflow", "keras", "scikeras"}


def test_generating_spots_and_their_bound_leave_keras_and_tensorflow_out():
    loaded = _loaded_after(
        "from pixel_regressor import make_bright_spot_dataset, localization_crlb; "
        "X, y = make_bright_spot_dataset(3, image_size=12, hot_pixels=1); "
        "localization_crlb(12, psf_sigma=1.3, photons=100, background=1); "
        "from pixel_regressor import make_spot_frames; "
        "frames, truth = make_spot_frames(2, shape=16, random_state=0)"
    )
    assert "numpy" in loaded
    assert not loaded & {"tensorflow", "keras", "scikeras", "jax", "torch"}


def test_sampled_psfs_leave_keras_and_tensorflow_out():
    loaded = _loaded_after(
        "import numpy as np; "
        "from pixel_regressor import SampledPSF, make_bright_spot_dataset; "
        "psf = SampledPSF(np.ones((9, 9)), 3); "
        "X, y = make_bright_spot_dataset(3, image_size=12, psf=psf); "
        "from pixel_regressor import localization_crlb; "
        "localization_crlb(12, psf=psf, photons=100, background=1)"
    )
    assert not loaded & {"tensorflow", "keras", "scikeras", "jax", "torch"}


def test_metrics_leave_keras_and_tensorflow_out():
    loaded = _loaded_after(
        "from pixel_regressor import mean_pixel_error, exact_pixel_accuracy_scorer; "
        "mean_pixel_error([[0, 0]], [[3, 4]])"
    )
    assert not loaded & {"tensorflow", "keras", "scikeras"}


def test_version_is_a_string():
    assert isinstance(pixel_regressor.__version__, str)
    assert pixel_regressor.__version__.count(".") >= 1


def test_version_matches_the_installed_metadata():
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("pixel-regressor")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        pytest.skip("pixel-regressor is not installed")
    assert installed == pixel_regressor.__version__


def test_all_lists_the_public_names():
    assert set(pixel_regressor.__all__) == PUBLIC_NAMES


def test_dir_lists_the_public_names():
    listed = set(dir(pixel_regressor))
    assert listed >= PUBLIC_NAMES
    assert {"datasets", "metrics", "estimator"} <= listed
    assert "__version__" in listed


def test_public_names_resolve_lazily():
    names = _run(
        """
        import json, sys
        import pixel_regressor
        before = "pixel_regressor.datasets" in sys.modules
        f = pixel_regressor.make_bright_pixel_dataset
        print(json.dumps([before, "pixel_regressor.datasets" in sys.modules,
                          f.__module__]))
        """
    )
    assert names == [False, True, "pixel_regressor.datasets"]


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        pixel_regressor.no_such_thing  # noqa: B018
    assert not hasattr(pixel_regressor, "no_such_thing")
    with pytest.raises(ImportError):
        from pixel_regressor import no_such_thing  # noqa: F401


@pytest.mark.slow  # two new interpreters that import TensorFlow
@pytest.mark.skipif(
    not LAYERS_FILE.exists(), reason="pixel_regressor/_layers.py not written yet"
)
def test_importing_keras_registers_the_layers(run_concurrently):
    orders = {
        "package-first": "import pixel_regressor; import keras",
        "keras-first": "import keras; import pixel_regressor",
    }
    results = run_concurrently(
        [
            f"""
            import json, sys
            {statements}
            assert "pixel_regressor._layers" in sys.modules
            print(json.dumps(sorted(keras.saving.get_custom_objects())))
            """
            for statements in orders.values()
        ]
    )
    for order, result in zip(orders, results):
        assert result.returncode == 0, (order, result.stderr[-3000:])
        registered = json.loads(result.stdout.strip().splitlines()[-1])
        assert any(name.startswith("pixel_regressor>") for name in registered), order
