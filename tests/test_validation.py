"""Tests of :func:`pixel_regressor._validation.check_image_shape`, the one check
behind ``image_size`` and ``image_shape``."""

import re

import numpy as np
import pytest

from pixel_regressor._validation import check_image_shape


@pytest.mark.parametrize(
    "value",
    [(3, 5), [3, 5], (np.int64(3), np.int32(5)), np.array([3, 5])],
    ids=["tuple", "list", "numpy-ints", "array"],
)
def test_pairs_give_a_tuple_of_python_ints(value):
    shape = check_image_shape(value)
    assert shape == (3, 5)
    assert type(shape) is tuple
    assert all(type(side) is int for side in shape)


def test_int_is_a_square_where_allowed():
    assert check_image_shape(4, "image_size", allow_int=True) == (4, 4)
    assert check_image_shape(np.uint8(4), "image_size", allow_int=True) == (4, 4)


def test_none_where_allowed():
    assert check_image_shape(None, allow_none=True) is None


def test_one_inferred_side_where_allowed():
    assert check_image_shape((-1, 7), allow_inferred=True) == (-1, 7)
    assert check_image_shape([7, -1], allow_inferred=True) == (7, -1)


@pytest.mark.parametrize(
    ("value", "kwargs", "error", "message"),
    [
        (
            None,
            {},
            TypeError,
            "image_shape must be a (height, width) pair of ints, got None.",
        ),
        (
            4,
            {},
            TypeError,
            "image_shape must be a (height, width) pair of ints, got 4.",
        ),
        (
            (3, 4, 5),
            {"allow_none": True, "allow_inferred": True},
            TypeError,
            "image_shape must be None or a (height, width) pair of ints, one of "
            "which may be -1, got (3, 4, 5).",
        ),
        (
            "ab",
            {"allow_int": True},
            TypeError,
            "image_size must be an int (a square image) or a (height, width) pair "
            "of ints, got 'ab'.",
        ),
        (
            (3,),
            {"allow_none": True, "allow_int": True},
            TypeError,
            "image_size must be None, an int (a square image) or a (height, "
            "width) pair of ints, got (3,).",
        ),
        (
            True,
            {"allow_int": True},
            TypeError,
            "image_size must be an int (a square image) or a (height, width) pair "
            "of ints, got True.",
        ),
        (
            2.0,
            {"allow_int": True},
            TypeError,
            "image_size must be an int (a square image) or a (height, width) pair "
            "of ints, got 2.0.",
        ),
        (
            (3, 2.5),
            {"allow_int": True},
            TypeError,
            "image_size[1] (width) must be a positive int, got float 2.5.",
        ),
        (
            (True, 2),
            {},
            TypeError,
            "image_shape[0] (height) must be a positive int, got bool True.",
        ),
        (
            0,
            {"allow_int": True},
            ValueError,
            "image_size must be a positive int, got 0.",
        ),
        (
            (0, 3),
            {"allow_int": True},
            ValueError,
            "image_size[0] (height) must be a positive int, got 0.",
        ),
        (
            (3, -1),
            {},
            ValueError,
            "image_shape[1] (width) must be a positive int, got -1.",
        ),
        (
            (3, -2),
            {"allow_inferred": True},
            ValueError,
            "image_shape[1] (width) must be a positive int or -1, got -2.",
        ),
        (
            (-1, -1),
            {"allow_inferred": True},
            ValueError,
            "image_shape may hold at most one -1, got (-1, -1).",
        ),
        (
            np.zeros((2, 2), dtype=int),
            {},
            TypeError,
            "image_shape must be a (height, width) pair of ints, got array(",
        ),
    ],
)
def test_messages_name_the_parameter_and_what_it_accepts(value, kwargs, error, message):
    name = "image_size" if message.startswith("image_size") else "image_shape"
    with pytest.raises(error, match=re.escape(message)):
        check_image_shape(value, name, **kwargs)


def test_the_estimators_check_is_the_one_check():
    from pixel_regressor import BrightPixelRegressor

    X = np.zeros((4, 12))
    y = np.zeros((4, 2))
    with pytest.raises(TypeError, match=r"image_shape must be None or a \(height"):
        BrightPixelRegressor(image_shape=(2, 3, 4)).fit(X, y)
    with pytest.raises(ValueError, match="at most one -1"):
        BrightPixelRegressor(image_shape=(-1, -1)).fit(X, y)


def test_fit_checks_image_shape_once(monkeypatch):
    from pixel_regressor import BrightPixelRegressor, _validation, estimator

    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return _validation.check_image_shape(*args, **kwargs)

    monkeypatch.setattr(estimator, "check_image_shape", counting)
    X, y = np.zeros((4, 12)), np.zeros((4, 2))
    X[np.arange(4), [0, 3, 5, 7]] = 1
    BrightPixelRegressor(image_shape=(3, -1), epochs=1).fit(X, y)
    assert len(calls) == 1


# --------------------------------------------------------------------------
# Boolean images and predict's return_std


def test_boolean_images_are_refused_naming_the_dtype():
    from pixel_regressor._validation import images_from_array

    with pytest.raises(TypeError, match="X holds bool values, not real pixel values"):
        images_from_array(np.zeros((2, 3, 3), dtype=bool), None)
    images = images_from_array(np.zeros((2, 3, 3), dtype=np.uint8), None)
    assert images.shape == (2, 3, 3, 1)


@pytest.fixture(scope="module")
def tiny_model():
    from pixel_regressor import BrightPixelRegressor

    X = np.zeros((4, 3, 4), dtype=np.float32)
    X[np.arange(4), [0, 1, 2, 1], [0, 3, 1, 2]] = 1
    y = np.array([[0, 0], [1, 3], [2, 1], [1, 2]], dtype=float)
    return BrightPixelRegressor(epochs=1, random_state=0).fit(X, y), X, y


def test_fit_refuses_boolean_images():
    from pixel_regressor import BrightPixelRegressor

    X = np.zeros((4, 3, 4), dtype=bool)
    X[np.arange(4), [0, 1, 2, 1], [0, 3, 1, 2]] = True
    y = np.array([[0, 0], [1, 3], [2, 1], [1, 2]], dtype=float)
    with pytest.raises(TypeError, match="X holds bool values"):
        BrightPixelRegressor(epochs=1).fit(X, y)


def test_predict_refuses_boolean_images(tiny_model):
    model, X, _ = tiny_model
    assert model.predict(X.astype(np.uint8)).shape == (4, 2)
    with pytest.raises(TypeError, match="X holds bool values"):
        model.predict(X.astype(bool))


@pytest.mark.parametrize("return_std", ["yes", 1, None, [True]], ids=repr)
def test_return_std_must_be_a_bool(return_std):
    from pixel_regressor import BrightPixelRegressor

    # Refused before anything else: the model need not even be fitted.
    with pytest.raises((TypeError, ValueError), match="return_std"):
        BrightPixelRegressor().predict(np.zeros((1, 4, 4)), return_std=return_std)


def test_return_std_takes_a_numpy_bool(tiny_model):
    model, X, _ = tiny_model
    y_pred = model.predict(X, return_std=np.False_)
    assert isinstance(y_pred, np.ndarray) and y_pred.shape == (4, 2)


def test_cli_refuses_a_boolean_image(tmp_path, capsys):
    from pixel_regressor.cli import main

    model = tmp_path / "model"
    model.mkdir()
    (model / "estimator.json").write_text("{}")
    image = tmp_path / "mask.npy"
    np.save(image, np.eye(8, dtype=bool))
    assert main(["predict", "--model", str(model), str(image)]) == 1
    err = capsys.readouterr().err
    assert "holds bool values, not real pixel values" in err
    assert "Traceback" not in err
