"""The compiled prediction path and the batch-fed training path.

``predict`` runs a function compiled once per model and batch shape
(``pixel_regressor._inference``); ``fit`` feeds in-memory arrays to Keras one
batch at a time (``pixel_regressor._batches``). These tests check that both
keep the estimator's guarantees: the same numbers as the plain Keras call,
predictions independent of the batch, reproducible seeded fits, bounded
memory, no retracing.
"""

import contextlib
import gc
import importlib.util
import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.base import clone

from pixel_regressor import (
    BrightPixelRegressor,
    _inference,
    make_bright_pixel_dataset,
    make_bright_spot_dataset,
)
from pixel_regressor.models import HEADS

SIDE = 12
# Small versions of each head, quick to fit.
SMALL = {"dense": {"filters": (4,), "dense_units": 8}}


def _python(code, backend=None, timeout=600):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if backend is not None:
        env["KERAS_BACKEND"] = backend
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def data():
    return make_bright_pixel_dataset(400, image_size=SIDE, noise=30, random_state=0)


def _images_for(head, data):
    """``data`` (bright pixels in noise), or blurred spots for ``spot_fit``,
    which refuses training spots that are not Gaussians (and whose Gaussian
    fit on noise alone is ill-conditioned)."""
    if head != "spot_fit":
        return data
    return make_bright_spot_dataset(len(data[0]), image_size=SIDE, random_state=0)


@pytest.fixture(scope="module", params=sorted(HEADS))
def fitted(request, data):
    X, y = _images_for(request.param, data)
    params = SMALL.get(request.param, {})
    return BrightPixelRegressor(request.param, epochs=1, random_state=0, **params).fit(
        X, y
    )


def test_batch_size_bounds_the_pixels_of_a_batch():
    for height, width in [(1, 1), (12, 12), (50, 50), (1000, 1000), (3000, 3000)]:
        size = _inference.batch_size(height, width)
        pixels = max(height * width, _inference.MIN_IMAGE_PIXELS)
        assert size >= 1 and size & (size - 1) == 0  # a power of two
        assert size == 1 or size * pixels <= _inference.PIXEL_BUDGET
        assert 2 * size * pixels > _inference.PIXEL_BUDGET
    assert _inference.batch_size(50, 50) == 256


def test_compiled_and_uncompiled_paths_agree(fitted, data):
    X, _ = _images_for(fitted.head, data)
    images = X.reshape(-1, SIDE, SIDE, 1)
    compiled = fitted._predict_batch(images, path="compiled")
    plain = fitted._predict_batch(images, path="keras")
    assert compiled.dtype == plain.dtype == np.float64
    np.testing.assert_allclose(compiled, plain, rtol=1e-6, atol=1e-5)
    # and the default path (for the default head, computed at the peak)
    np.testing.assert_allclose(fitted.predict(X), plain, rtol=1e-6, atol=1e-5)
    # and the model's own predict
    np.testing.assert_allclose(
        compiled, fitted.model_.predict(images, verbose=0), rtol=1e-6, atol=1e-5
    )


def test_prediction_does_not_depend_on_the_batch(fitted, data):
    X, _ = _images_for(fitted.head, data)
    reference = fitted.predict(X)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_array_equal(fitted.predict(X[order]), reference[order])
    for i in (0, 1, 17, 399):
        np.testing.assert_array_equal(
            fitted.predict(X[i : i + 1]), reference[i : i + 1]
        )
    # other neighbours, and more images than one batch holds
    size = _inference.batch_size(SIDE, SIDE)
    others, _ = make_bright_pixel_dataset(size + 5, image_size=SIDE, random_state=3)
    mixed = np.concatenate([others, X[:10]])
    np.testing.assert_array_equal(fitted.predict(mixed)[-10:], reference[:10])


def test_odd_image_sizes_do_not_depend_on_the_batch(data):
    # 13x13 = 169 pixels: images do not start on a vector boundary.
    X, y = data
    reg = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y)
    odd, _ = make_bright_pixel_dataset(300, image_size=13, noise=30, random_state=4)
    odd = odd.reshape(-1, 13, 13)
    reference = reg.predict(odd)
    order = np.random.default_rng(1).permutation(len(odd))
    np.testing.assert_array_equal(reg.predict(odd[order]), reference[order])
    for i in (0, 7, 299):
        np.testing.assert_array_equal(reg.predict(odd[i : i + 1]), reference[i : i + 1])


def test_predict_shapes_and_dtype(data):
    X, y = data
    reg = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y[:, 0])
    pred = reg.predict(X)
    assert pred.shape == (len(X),) and pred.dtype == np.float64


def test_cache_is_per_model_and_not_pickled(data):
    X, y = data
    images = X.reshape(-1, SIDE, SIDE, 1)
    reg = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y)
    expected = reg._predict_batch(images, path="compiled")
    assert reg.model_ in _inference._CACHE
    assert not any("cache" in name.lower() for name in vars(reg))
    again = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(
        again._predict_batch(images, path="compiled"), expected
    )
    assert again.model_ is not reg.model_ and again.model_ in _inference._CACHE
    assert "model_" not in vars(clone(reg))
    before = len(_inference._CACHE)
    del reg, again
    gc.collect()
    assert len(_inference._CACHE) <= before - 2


def test_predict_sees_further_training(data):
    X, y = data
    reg = BrightPixelRegressor("dense", epochs=1, random_state=0, **SMALL["dense"]).fit(
        X, y
    )
    first = reg.predict(X)
    reg.partial_fit(X, y)
    np.testing.assert_array_equal(
        reg.predict(X), reg._predict_batch(X.reshape(-1, SIDE, SIDE, 1), path="keras")
    )
    assert not np.array_equal(reg.predict(X), first)


def test_batch_fed_fit_is_reproducible(data):
    X, y = data
    weights = np.random.default_rng(0).uniform(0.5, 1.5, len(X))
    fits = [
        BrightPixelRegressor(
            "dense", epochs=2, batch_size=64, random_state=7, **SMALL["dense"]
        ).fit(
            X[:300],
            y[:300],
            sample_weight=weights[:300],
            validation_data=(X[300:], y[300:]),
        )
        for _ in range(2)
    ]
    for a, b in zip(fits[0].model_.get_weights(), fits[1].model_.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert fits[0].history_ == fits[1].history_
    assert set(fits[0].history_) == {"loss", "mae", "val_loss", "val_mae"}
    # another seed, another batch order
    other = BrightPixelRegressor(
        "dense", epochs=2, batch_size=64, random_state=8, **SMALL["dense"]
    ).fit(X[:300], y[:300])
    assert fits[0].history_["loss"] != other.history_["loss"]


def test_batch_fed_fit_keeps_the_scikeras_bookkeeping(data):
    X, y = data
    reg = BrightPixelRegressor(epochs=2, random_state=0).fit(X, y)
    assert reg.keras_regressor_.model_ is reg.model_
    assert reg.keras_regressor_.current_epoch == 2
    reg.partial_fit(X, y)
    assert reg.keras_regressor_.current_epoch == reg.n_iter_ == 3
    assert len(reg.history_["loss"]) == 3


def test_no_retracing_warnings_over_many_fits():
    out = _python(
        """
        import logging, warnings
        warnings.simplefilter("always")
        from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset
        X, y = make_bright_pixel_dataset(64, image_size=8, random_state=0)
        # TensorFlow warns once 5 of the last 10 calls to a function traced:
        # a function shared by the models would trace at least once a fit.
        for i in range(6):
            reg = BrightPixelRegressor(epochs=1, random_state=i).fit(X, y)
            reg.predict(X)
            reg._predict_batch(X.reshape(-1, 8, 8, 1), path="compiled")
            reg._predict_batch(X[:3].reshape(3, 8, 8, 1), path="compiled")
        print("done")
        """
    )
    assert "done" in out.stdout
    assert "retracing" not in (out.stdout + out.stderr).lower()


@pytest.mark.slow
def test_memory_left_by_each_fit_stays_small():
    # TensorFlow keeps each model's traced and XLA-compiled functions for the
    # life of the process (documented in the model selection guide): about
    # 10 MB per fitted and predicting model. A leak of the estimator's own
    # (data, models) would be far larger.
    out = _python(
        """
        import gc
        from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset

        def rss():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024

        X, y = make_bright_pixel_dataset(3000, image_size=48, random_state=0)
        marks = []
        for i in range(11):
            BrightPixelRegressor(epochs=1, random_state=i).fit(X, y).predict(X)
            gc.collect()
            if i in (2, 10):
                marks.append(rss())
        print((marks[1] - marks[0]) / 8, X.nbytes)
        """
    )
    per_fit, nbytes = (float(v) for v in out.stdout.split()[-2:])
    assert per_fit < 20 * 2**20, per_fit / 2**20
    assert per_fit < nbytes  # the training data (27.6 MB) is not kept


def test_predict_memory_is_bounded(run_concurrently):
    # Before: one image was padded to 32, a 1500x1500 image took ~1 GB.
    paths = ["auto", "compiled"]
    code = """
        import numpy as np
        from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset

        def status(key):
            for line in open("/proc/self/status"):
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024

        X, y = make_bright_pixel_dataset(100, image_size=10, random_state=0)
        reg = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y)
        reg._predict_batch(X.reshape(-1, 10, 10, 1), path={path!r})
        image = np.zeros((1, 1500, 1500, 1), np.float32)
        image[0, 700, 900] = 1.0
        # Reset the peak to the current resident size: the fit's own peak
        # must not count.
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
        before = status("VmRSS")
        pred = reg._predict_batch(image, path={path!r})
        print(status("VmHWM") - before, image.nbytes, *pred[0])
        """
    # One interpreter per path, side by side.
    results = run_concurrently([code.format(path=path) for path in paths])
    for path, result in zip(paths, results):
        assert result.returncode == 0, (path, result.stderr[-3000:])
        added, nbytes, row, col = (float(v) for v in result.stdout.split()[-4:])
        assert (row, col) == pytest.approx((700, 900), abs=0.01), path
        # The image, the batch, XLA's buffers and its compiler's own memory
        # for a new shape (about 40 MB in all here); padded to 32 images as
        # before, over 1 GB.
        assert added < 200 * 2**20, (path, added / nbytes)


def test_compiled_function_takes_unaligned_and_read_only_batches(fitted, data):
    # TensorFlow reads a batch in place, which needs 64-byte alignment (its
    # kernels abort the process otherwise): others are copied first.
    X, _ = _images_for(fitted.head, data)
    images = X[:8].reshape(8, SIDE, SIDE, 1).astype(np.float32)
    function = _inference._function(fitted.model_, (8, SIDE, SIDE))
    expected = np.asarray(function(images.copy()))
    raw = np.empty(images.nbytes + 128, dtype=np.uint8)
    for offset in (4, 16, 32):
        start = offset - raw.ctypes.data % 64 + 64
        unaligned = raw[start : start + images.nbytes].view(np.float32)
        unaligned = unaligned.reshape(images.shape)
        unaligned[...] = images
        assert unaligned.ctypes.data % 64 == offset
        read_only = unaligned.copy()
        read_only.flags.writeable = False
        np.testing.assert_array_equal(np.asarray(function(unaligned)), expected)
        np.testing.assert_array_equal(np.asarray(function(read_only)), expected)
    np.testing.assert_allclose(
        fitted._predict_batch(images, path="compiled"), expected, rtol=1e-6
    )


@pytest.mark.parametrize("path", ["auto", "compiled"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_on_a_fortran_ordered_memory_map_reads_it_batch_by_batch(
    data, tmp_path, dtype, path
):
    import tracemalloc

    fitted = BrightPixelRegressor(epochs=1, random_state=0).fit(*data)
    # 100,000 images: many batches of 2**20 pixels.
    X, _ = make_bright_pixel_dataset(100_000, image_size=SIDE, random_state=1)
    mapped = np.memmap(
        tmp_path / "images.dat", dtype=dtype, mode="w+", shape=X.shape, order="F"
    )
    mapped[:] = X
    mapped.flush()
    del mapped
    mapped = np.memmap(
        tmp_path / "images.dat", dtype=dtype, mode="r", shape=X.shape, order="F"
    )
    expected = fitted.predict(X)
    del X

    def predict(images):
        return fitted._predict_batch(fitted._images_for_predict(images), path=path)

    predict(mapped[:10])  # compiled before measuring
    tracemalloc.start()
    try:
        pred = predict(mapped)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(pred, expected)
    # The output and a few batches' temporaries; a whole copy would be
    # mapped.nbytes.
    assert peak < 0.5 * mapped.nbytes, peak / mapped.nbytes


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs jax")
def test_jax_compiled_path():
    out = _python(
        """
        import json, numpy as np
        from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset
        X, y = make_bright_pixel_dataset(300, image_size=12, noise=30, random_state=0)
        result = {}
        heads = [("soft_argmax", {}), ("dense", {"filters": (4,)}), ("spot", {})]
        for head, params in heads:
            reg = BrightPixelRegressor(head, epochs=1, random_state=0, **params)
            reg.fit(X, y)
            pred = reg.predict(X)
            plain = reg._predict_batch(X.reshape(-1, 12, 12, 1), path="keras")
            compiled = reg._predict_batch(X.reshape(-1, 12, 12, 1), path="compiled")
            order = np.random.default_rng(0).permutation(len(X))
            result[head] = [
                float(max(np.abs(pred - plain).max(), np.abs(compiled - plain).max())),
                bool(np.array_equal(reg.predict(X[order]), pred[order])),
                bool(np.array_equal(reg.predict(X[5:6]), pred[5:6])),
                str(pred.dtype),
            ]
        print(json.dumps(result))
        """,
        backend="jax",
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for diff, permuted, single, dtype in result.values():
        assert diff < 1e-4
        assert permuted and single
        assert dtype == "float64"


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kernel_size", [(3, 3), (2, 5), (1, 1)])
def test_shifted_convolutions_are_the_convolution(padding, kernel_size):
    # How the compiled JAX function computes one input channel's convolution.
    import keras

    from pixel_regressor._layers import PixelConv2D, shifted_convolutions

    rng = np.random.default_rng(0)
    images = rng.normal(size=(3, 9, 7, 1)).astype("float32")
    kwargs = {"padding": padding, "activation": "relu"}
    reference = keras.layers.Conv2D(5, kernel_size, **kwargs)
    layer = PixelConv2D(5, kernel_size, **kwargs)
    reference.build(images.shape)
    layer.build(images.shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in layer.weights]
    reference.set_weights(weights)
    layer.set_weights(weights)
    expected = np.asarray(reference(images))
    assert expected.max() > 0  # not all cut by the ReLU
    with shifted_convolutions():
        shifted = np.asarray(layer(images))
    np.testing.assert_allclose(shifted, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer(images), expected, rtol=1e-5, atol=1e-5)
    if keras.backend.backend() == "tensorflow" and kernel_size != (1, 1):
        import tensorflow as tf

        def operations(context):
            with context:
                function = tf.function(layer, autograph=False)
                graph = function.get_concrete_function(images).graph
            return {operation.type for operation in graph.get_operations()}

        # A convolution outside the context only.
        assert "Conv2D" in operations(contextlib.nullcontext())
        assert "Conv2D" not in operations(shifted_convolutions())


# ----------------------------------------------------------------------------
# the default head computed at its peak (``_inference._pixel_peak``)
def _pixel_model(w, b, temperature, readout=None, n_outputs=2):
    from pixel_regressor.models import build_soft_argmax_model

    model = build_soft_argmax_model(n_outputs=n_outputs, readout=readout, seed=0)
    heatmap = model.get_layer("heatmap")
    heatmap.kernel.assign(np.full((1, 1, 1, 1), w, np.float32))
    heatmap.bias.assign(np.full((1,), b, np.float32))
    model.get_layer("temperature").log_scale.assign(np.log(temperature))
    return model


def _hard_images(rng, dtype, height=9, width=11):
    """Spots, noise, peaks on every border and corner, ties, constants."""
    images = rng.uniform(0, 50, (40, height, width)).round()
    corners = [(0, 0), (0, width - 1), (height - 1, 0), (height - 1, width - 1)]
    edges = [(0, 4), (height - 1, 3), (5, 0), (2, width - 1)]
    for i, (r, c) in enumerate(corners + edges):
        images[i, r, c] = 200
    images[10, 3, 3] = images[10, 6, 8] = 200  # tied maxima far apart
    images[11, 4, 4] = images[11, 4, 5] = 200  # tied neighbours
    images[12] = 7  # constant
    images[13] = 0
    images[14, 5, 5] = 120  # a low-contrast peak among bright pixels
    images[14, 5, 4] = images[14, 5, 6] = 119
    return images.astype(dtype)[..., None]


@pytest.mark.parametrize(
    ("w", "b", "temperature"),
    [(1.0, 0.0, 100.0), (0.3, -0.1, 5.0), (0.5, 0.2, 0.5), (2.0, -3.0, 10.0)],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int64])
def test_peak_path_gives_the_models_output(w, b, temperature, dtype):
    readout = (np.array([[1.0, 0.5, 0.0], [2.0, 0.0, -1.0]]), np.array([3.0, 0.0, 1.0]))
    model = _pixel_model(w, b, temperature, readout=readout, n_outputs=3)
    assert _inference._pixel_peak_weights(model) is not None
    images = _hard_images(np.random.default_rng(0), dtype)
    peak = _inference.predict(model, images, 3)
    keras_out = _inference.predict(model, images, 3, path="keras")
    assert peak.dtype == np.float64 and peak.shape == (len(images), 3)
    np.testing.assert_allclose(peak, keras_out, rtol=1e-6, atol=1e-5)
    # The same from strided and Fortran-ordered views of the images.
    np.testing.assert_allclose(
        _inference.predict(model, np.asfortranarray(images), 3), peak, atol=1e-6
    )
    wide = np.repeat(images, 2, axis=0)[::2]
    assert not wide.flags.c_contiguous
    np.testing.assert_allclose(_inference.predict(model, wide, 3), peak, atol=1e-6)


def test_peak_path_is_only_for_increasing_per_pixel_heatmaps(data):
    X, y = data
    images = X.reshape(-1, SIDE, SIDE, 1)
    decreasing = _pixel_model(-1.0, 1.0, 10.0)
    assert _inference._pixel_peak_weights(decreasing) is None
    # computed by the compiled function instead: the darkest pixel wins
    np.testing.assert_allclose(
        _inference.predict(decreasing, images, 2),
        _inference.predict(decreasing, images, 2, path="keras"),
        atol=1e-5,
    )
    for head, params in [
        ("soft_argmax", {"filters": (2,)}),
        ("soft_argmax", {"kernel_size": 3}),
        ("dense", SMALL["dense"]),
        ("spot", {}),
    ]:
        model = BrightPixelRegressor(head, epochs=1, random_state=0, **params)
        assert _inference._pixel_peak_weights(model.fit(X, y).model_) is None, params
    default = BrightPixelRegressor(epochs=1, random_state=0).fit(X, y)
    assert _inference._pixel_peak_weights(default.model_) is not None
    with pytest.raises(ValueError, match="path must be one of"):
        _inference.predict(default.model_, images, 2, path="fast")


def test_peak_path_finds_the_brightest_of_float64_pixels_float32_would_tie():
    # 1 - 1e-9 and 1 are one float32 number: the compiled path sees a tie,
    # warns, and takes the first; the peak path reads float64 and is right.
    model = _pixel_model(1.0, 0.0, 100.0)
    images = np.zeros((2, 8, 8, 1))
    images[:, 1, 1] = 1 - 1e-9
    images[:, 6, 5] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        peak = _inference.predict(model, images, 2)
    np.testing.assert_allclose(peak, [[6, 5], [6, 5]], atol=1e-6)
    with pytest.warns(UserWarning, match="float32"):
        compiled = _inference.predict(model, images, 2, path="compiled")
    np.testing.assert_allclose(compiled, [[1, 1], [1, 1]], atol=1e-6)


@pytest.mark.parametrize(("bad", "message"), [(np.nan, "NaN"), (np.inf, "infinity")])
def test_peak_path_refuses_non_finite_values(bad, message):
    model = _pixel_model(1.0, 0.0, 100.0)
    images = np.zeros((300, 8, 8, 1), np.float32)
    images[280, 3, 3] = bad
    with pytest.raises(ValueError, match=message):
        _inference.predict(model, images, 2)
    images[280, 3, 3] = -bad
    with pytest.raises(ValueError, match=message):
        _inference.predict(model, images, 2)


@pytest.mark.slow
def test_compiled_path_does_not_read_the_source_file(tmp_path):
    # The package's files edited after import (an upgrade while a process
    # runs) must not change what a compiled function computes: TensorFlow's
    # AutoGraph re-reads a function's source when it traces it, at the line
    # numbers of the code imported, and traced the wrong lines (the
    # function then returned None).
    import shutil

    import pixel_regressor

    package = tmp_path / "pixel_regressor"
    shutil.copytree(os.path.dirname(pixel_regressor.__file__), package)
    out = _python(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import numpy as np
        from pixel_regressor import BrightPixelRegressor, _inference
        from pixel_regressor import make_bright_pixel_dataset
        assert _inference.__file__.startswith({str(tmp_path)!r})
        X, y = make_bright_pixel_dataset(200, image_size=12, random_state=0)
        reg = BrightPixelRegressor("dense", epochs=1, filters=(4,), dense_units=8)
        reg.fit(X, y)
        images = X.reshape(-1, 12, 12, 1)
        expected = reg._predict_batch(images, path="keras")
        with open(_inference.__file__) as file:
            source = file.read()
        with open(_inference.__file__, "w") as file:
            file.write("\\n\\n" + source)
        pred = reg._predict_batch(images, path="compiled")
        print(float(np.abs(pred - expected).max()))
        """
    )
    assert float(out.stdout.split()[-1]) < 1e-5


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@pytest.fixture(scope="module")
def pixel_model():
    return _pixel_model(1.0, 0.0, 100.0)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    w=st.floats(0.01, 10.0),
    b=st.floats(-5.0, 5.0),
    temperature=st.floats(0.01, 1000.0),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 9), st.integers(1, 9)),
    dtype=st.sampled_from(["uint8", "int32", "float32", "float64"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_peak_path_matches_keras_for_any_weights_and_images(
    pixel_model, w, b, temperature, shape, dtype, seed
):
    # Integer levels (float32 holds them all), so that the two paths see the
    # same float32 values; with few levels, ties are common.
    rng = np.random.default_rng(seed)
    levels = int(rng.choice([2, 5, 256]))
    images = rng.integers(0, levels, shape).astype(dtype)[..., None]
    heatmap = pixel_model.get_layer("heatmap")
    heatmap.kernel.assign(np.full((1, 1, 1, 1), w, np.float32))
    heatmap.bias.assign(np.full((1,), b, np.float32))
    pixel_model.get_layer("temperature").log_scale.assign(np.log(temperature))
    np.testing.assert_allclose(
        _inference.predict(pixel_model, images, 2),
        _inference.predict(pixel_model, images, 2, path="keras"),
        atol=1e-4,
    )
