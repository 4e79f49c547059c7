"""Serving a fitted model without the estimator: SavedModel and ONNX.

``est.model_.export`` writes the Keras model alone; what it returns must be
what ``predict`` returns, to float32 rounding, on images of the training size
and of another size.
"""

import warnings

import numpy as np
import pytest

from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset

TRAIN_SIZE = (12, 12)
OTHER_SIZE = (20, 31)


@pytest.fixture(scope="module")
def fitted():
    X, y = make_bright_pixel_dataset(300, image_size=TRAIN_SIZE, random_state=0)
    return BrightPixelRegressor(random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def fitted_1d():
    """A model of one target column: the row of the bright pixel."""
    X, y = make_bright_pixel_dataset(300, image_size=TRAIN_SIZE, random_state=0)
    return BrightPixelRegressor(random_state=0).fit(X, y[:, 0])


def _images(shape, seed):
    """Images of ``shape`` as the exported model takes them: float32, 4-D."""
    X, y = make_bright_pixel_dataset(40, image_size=shape, random_state=seed)
    return X.reshape(-1, *shape, 1).astype(np.float32), y


@pytest.mark.parametrize("shape", [TRAIN_SIZE, OTHER_SIZE])
def test_saved_model_predicts_like_predict(fitted, tmp_path, shape):
    tf = pytest.importorskip("tensorflow")
    fitted.model_.export(tmp_path / "model", format="tf_saved_model", verbose=False)
    served = tf.saved_model.load(str(tmp_path / "model"))

    images, y = _images(shape, seed=1)
    out = np.asarray(served.serve(images))

    assert out.dtype == np.float32
    assert out.shape == (len(images), 2)
    np.testing.assert_allclose(out, fitted.predict(images), rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(np.rint(out), y)


def _onnx_session(model, path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    with warnings.catch_warnings():
        # Keras's tf2onnx shim probes for ``np.object``, which NumPy 2 flags.
        warnings.simplefilter("ignore", FutureWarning)
        model.export(path, format="onnx", verbose=False)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("shape", [TRAIN_SIZE, OTHER_SIZE])
def test_onnx_predicts_like_predict(fitted, tmp_path, shape):
    session = _onnx_session(fitted.model_, tmp_path / "model.onnx")
    (name,) = [i.name for i in session.get_inputs()]

    images, y = _images(shape, seed=2)
    (out,) = session.run(None, {name: images})

    assert out.dtype == np.float32
    assert out.shape == (len(images), 2)
    np.testing.assert_allclose(out, fitted.predict(images), rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(np.rint(out), y)


def test_onnx_takes_any_intensity_scale(fitted, tmp_path):
    # The normalisation is inside the model: images on 0..1 give the same
    # positions as on 0..255.
    session = _onnx_session(fitted.model_, tmp_path / "model.onnx")
    (name,) = [i.name for i in session.get_inputs()]

    images, y = _images(TRAIN_SIZE, seed=3)
    (out,) = session.run(None, {name: images / np.float32(255)})

    np.testing.assert_array_equal(np.rint(out), y)


def test_export_returns_2d_raw_outputs_for_a_1d_target(fitted_1d, tmp_path):
    # ``predict`` ravels a 1-D target; the exported model returns its raw
    # (n, 1) outputs.
    tf = pytest.importorskip("tensorflow")
    fitted_1d.model_.export(tmp_path / "model", format="tf_saved_model", verbose=False)
    served = tf.saved_model.load(str(tmp_path / "model"))

    images, y = _images(TRAIN_SIZE, seed=4)
    out = np.asarray(served.serve(images))
    expected = fitted_1d.predict(images)

    assert expected.shape == (len(images),)
    assert expected.dtype == np.float64
    assert out.shape == (len(images), 1)
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-6, atol=1e-4)
