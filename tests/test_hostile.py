"""Spot models outside their training conditions: honest deviations, or a
warning (``training_conditions_``, ``OutsideTrainingWarning``)."""

import pickle
import warnings

import numpy as np
import pytest

from pixel_regressor import BrightPixelRegressor, load_model, make_bright_spot_dataset
from pixel_regressor.exceptions import OutsideTrainingWarning

SIDE = 15
TRAINING = {"photons": (300, 3000), "background": 10.0, "psf_sigma": 1.3}


def _spots(n, seed, **options):
    X, y = make_bright_spot_dataset(
        n, image_size=SIDE, random_state=seed, **{**TRAINING, **options}
    )
    return X.reshape(n, SIDE, SIDE), y


@pytest.fixture(scope="module")
def models():
    X, y = _spots(400, 0)
    return {
        head: BrightPixelRegressor(head, filters=(4,), epochs=3, random_state=0).fit(
            X, y
        )
        for head in ("spot", "spot_fit")
    }


def _two_spots(n, seed, distance=7.8, photons=2000.0):
    """Two equal spots ``distance`` px apart, and both positions."""
    from pixel_regressor._psf import expected_counts

    rng = np.random.default_rng(seed)
    centre = (SIDE - 1) / 2 + rng.uniform(-0.5, 0.5, size=(n, 2))
    angle = rng.uniform(0, np.pi, size=n)
    half = 0.5 * distance * np.stack([np.sin(angle), np.cos(angle)], axis=1)
    mu = expected_counts((SIDE, SIDE), centre - half, 1.3, photons, 10.0)
    mu += expected_counts((SIDE, SIDE), centre + half, 1.3, photons, 0.0)
    return rng.poisson(mu).astype(np.float32), centre - half, centre + half


def _outside(model, X, **kwargs):
    with pytest.warns(OutsideTrainingWarning) as record:
        result = model.predict(X, **kwargs)
    return result, " ".join(
        str(w.message) for w in record if w.category is OutsideTrainingWarning
    )


def test_training_conditions_are_recorded_as_plain_floats(models):
    for model in models.values():
        conditions = model.training_conditions_
        assert all(type(v) is float for v in conditions.values())
        # The spot's signal spans the training photons (a little less: some
        # of each spot falls outside its square).
        assert 150 < conditions["signal_low"] < 400
        assert 2000 < conditions["signal_high"] < 3300
        assert conditions["width_low"] < 1.3 < conditions["width_high"]
        # Photon counts: the background's variance about its level.
        assert 0.5 < conditions["dispersion_low"] <= conditions["dispersion_high"] < 3
        assert conditions["edge_share"] == conditions["saturated_share"] == 0.0
        assert conditions["detection_z"] == 4.0  # spots well above the noise
        assert (conditions["image_height"], conditions["image_width"]) == (SIDE, SIDE)


@pytest.mark.parametrize("head", ["spot", "spot_fit"])
def test_images_like_the_training_ones_are_not_warned_of(models, head):
    X, _ = _spots(300, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutsideTrainingWarning)
        models[head].predict(X)
        models[head].predict(X, return_std=True)
        models[head].predict(X[:1], return_std=True)


@pytest.mark.parametrize("head", ["spot", "spot_fit"])
@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_saturated_spots_are_warned_of(models, head, dtype):
    X, _ = _spots(50, 2, photons=2e6, dtype=dtype)
    _, message = _outside(models[head], X, return_std=True)
    assert "100%: saturated pixels" in message
    # Without return_std as well.
    _, message = _outside(models[head], X)
    assert "saturated pixels" in message


@pytest.mark.parametrize(
    ("options", "condition"),
    [
        ({"gain": 1000.0}, "another camera gain or offset"),
        ({"gain": 2.0, "offset": 100.0, "em_gain": 100.0}, "another camera gain"),
        ({"photons": 1e5}, "brighter or fainter"),
        ({"psf_sigma": 0.5}, "spot widths outside"),
        ({"margin": 0}, "edge"),
    ],
)
def test_spot_head_warns_of_conditions_its_deviations_miss(models, options, condition):
    X, _ = _spots(100, 3, **options)
    _, message = _outside(models["spot"], X, return_std=True)
    assert condition in message
    # The share of images is named.
    assert "%: " in message


def test_edge_share_is_that_of_the_spots_at_the_edge(models):
    X, y = _spots(200, 4, margin=0)
    edge = np.min(np.concatenate([y, SIDE - 1 - y], axis=1), axis=1) < 1.5
    _, message = _outside(models["spot"], X)
    shares = [part for part in message.split("; ") if "edge" in part]
    share = float(shares[0].split("%")[0].split(" ")[-1]) / 100
    assert abs(share - edge.mean()) < 0.1


def test_spot_fit_warns_of_a_camera_offset(models):
    X, _ = _spots(100, 5, offset=1000.0)
    _, message = _outside(models["spot_fit"], X, return_std=True)
    assert "another camera gain or offset" in message


@pytest.mark.parametrize("head", ["spot", "spot_fit"])
@pytest.mark.parametrize("kind", ["constant", "ramp"])
def test_no_spot_gives_the_image_scale_and_a_warning(models, head, kind):
    if kind == "constant":
        X = np.full((3, SIDE, SIDE), 10.0, dtype=np.float32)
    else:
        ramp = np.linspace(0, 100, SIDE, dtype=np.float32)
        X = np.broadcast_to(ramp, (3, SIDE, SIDE))
    (_, std), message = _outside(models[head], X, return_std=True)
    assert "no spot above the noise" in message
    # At least the spread of a position uniform over the image.
    assert np.all(std >= np.sqrt((SIDE**2 - 1) / 12) - 1e-9)


@pytest.mark.parametrize("head", ["spot", "spot_fit"])
def test_two_equal_spots_widen_the_deviation_to_the_toss_up(models, head):
    X, first, second = _two_spots(100, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutsideTrainingWarning)
        predicted, std = models[head].predict(X, return_std=True)
    # The answer is one of the two; which, a toss-up: the deviation along
    # the line between them is about half their distance, not a fraction
    # of a pixel.
    near = np.minimum(
        np.hypot(*(predicted - first).T), np.hypot(*(predicted - second).T)
    )
    assert np.median(near) < 1.0
    half = np.abs(second - first) / 2
    spread = np.hypot(*std.T)
    assert np.mean(spread < 0.5) < 0.1
    assert np.median(spread / np.hypot(*half.T)) > 0.8


def test_second_spot_odds_follow_the_ratio_of_responses():
    from pixel_regressor import _uncertainty

    X, _, _ = _two_spots(50, 7)
    stats = _uncertainty.statistics(X[..., None])
    # Equal spots: about even odds of the other.
    assert np.all((stats[:, 3] > 0.3) & (stats[:, 3] < 0.7))
    # One spot alone: none.
    single, _ = _spots(50, 8)
    assert _uncertainty.statistics(single[..., None])[:, 3].max() < 1e-6


def test_conditions_are_saved_and_loaded(models, tmp_path):
    model = models["spot"]
    model.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    assert loaded.training_conditions_ == model.training_conditions_
    unpickled = pickle.loads(pickle.dumps(model))
    assert unpickled.training_conditions_ == model.training_conditions_
    X, _ = _spots(20, 9, photons=2e6, dtype="uint8")
    _, message = _outside(loaded, X)
    assert "saturated" in message


def test_a_model_without_conditions_does_not_warn(models):
    model = pickle.loads(pickle.dumps(models["spot"]))
    del model.training_conditions_
    X, _ = _spots(20, 10, photons=2e6, dtype="uint8")
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutsideTrainingWarning)
        model.predict(X, return_std=True)


@pytest.mark.parametrize(
    "change",
    [
        {"signal_low": float("nan")},
        {"signal_low": 1e4},  # above its high
        {"edge_share": 2.0},
        {"width_low": 0.0},
        {"detection_z": -1.0},
        {"unknown": 1.0},
        {"dispersion_low": None},  # one of the two dispersion keys alone
    ],
)
def test_bad_conditions_are_refused(models, change):
    from pixel_regressor import _persistence
    from pixel_regressor.models import HEADS

    values = dict(models["spot"].training_conditions_)
    for key, value in change.items():
        if value is None:
            del values[key]
        else:
            values[key] = value
    with pytest.raises(ValueError, match="training_conditions_"):
        _persistence._training_conditions(values, {"head": HEADS["spot"]})
