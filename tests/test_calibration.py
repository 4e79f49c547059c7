"""The camera and the spots' conditions, measured from simulated movies."""

import numpy as np
import pytest

from pixel_regressor import make_spot_frames
from pixel_regressor.calibration import (
    CameraCalibration,
    SpotConditions,
    calibrate_camera,
    measure_spot_conditions,
)

PHOTONS = {}
SCMOS = {"gain": 2.2, "offset": 100.0, "read_noise": 1.5 / 2.2}
EMCCD = {"gain": 0.5, "offset": 100.0, "em_gain": 100.0}


def movie(camera, n_frames=100, seed=0, **kwargs):
    kwargs.setdefault("background", (10, 50))
    frames, truth = make_spot_frames(
        n_frames, shape=64, random_state=seed, **camera, **kwargs
    )
    return frames, truth


@pytest.mark.parametrize(
    ("camera", "gain", "offset"),
    [(PHOTONS, 1.0, 0.0), (SCMOS, 2.2, 100.0)],
    ids=["photon-counts", "scmos"],
)
def test_gain_and_offset_recovered(camera, gain, offset):
    frames, _ = movie(camera)
    found = calibrate_camera(frames, random_state=0)
    assert isinstance(found, CameraCalibration)
    assert found.gain == pytest.approx(gain, rel=0.1)
    assert abs(found.offset - offset) < 2.0
    assert found.em_gain == 1.0 and found.excess == 1.0
    # The uncertainties are honest: the errors are within four of them.
    assert abs(found.gain - gain) < 4 * found.gain_std + 1e-9
    assert abs(found.offset - offset) < 4 * found.offset_std + 1e-9


def test_integer_frames():
    frames, _ = movie(SCMOS, dtype=np.uint16, seed=1)
    found = calibrate_camera(frames, random_state=0)
    assert found.gain == pytest.approx(2.2, rel=0.1)
    assert abs(found.offset - 100.0) < 2.0


def test_emccd_recognised_and_its_gain_recovered():
    frames, _ = movie(EMCCD)
    found = calibrate_camera(frames, random_state=0)
    assert found.excess == 2.0 and "EMCCD recognised" in found.method
    assert found.emccd_ratio == pytest.approx(1.5, abs=0.2)
    assert found.adu_per_photon == pytest.approx(50.0, rel=0.1)
    given = calibrate_camera(frames, em_gain=100, random_state=0)
    assert given.em_gain == 100 and given.gain == pytest.approx(0.5, rel=0.1)


def test_emccd_offset_from_dark_frames():
    frames, _ = movie(EMCCD)
    dark, _ = make_spot_frames(
        10, shape=64, background=0, density=0, random_state=1, **EMCCD
    )
    found = calibrate_camera(frames, em_gain=100, dark=dark, random_state=0)
    assert found.gain == pytest.approx(0.5, rel=0.1)
    assert abs(found.offset - 100.0) < 2.0


def test_a_camera_without_multiplication_is_not_taken_for_an_emccd():
    frames, _ = movie(SCMOS, seed=2)
    found = calibrate_camera(frames, random_state=0)
    assert found.emccd_ratio == pytest.approx(1.0, abs=0.2)
    assert "EMCCD" not in found.method


def test_reproducible_and_bounded_sample():
    frames, _ = movie(SCMOS, n_frames=60)
    one = calibrate_camera(frames, max_frames=20, random_state=3)
    two = calibrate_camera(frames, max_frames=20, random_state=3)
    assert one == two and one.n_frames == 20


def test_robust_to_hot_pixels():
    frames, _ = movie(SCMOS, seed=4)
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 64, (2, 8))
    frames[:, rows, cols] += 2000.0
    found = calibrate_camera(frames, random_state=0)
    assert found.gain == pytest.approx(2.2, rel=0.1)
    assert abs(found.offset - 100.0) < 2.0


def test_readable_result():
    frames, _ = movie(SCMOS, n_frames=30)
    found = calibrate_camera(frames, random_state=0)
    text = repr(found)
    assert text.startswith("CameraCalibration(") and "ADU/e-" in text
    camera = found.camera()
    assert set(camera) == {"gain", "offset", "em_gain", "read_noise"}
    photons = found.to_photons(frames[:1])
    assert photons.shape == (1, 64, 64)
    with pytest.raises(AttributeError):
        found.gain = 3.0  # frozen


def test_one_background_level_is_refused_with_advice():
    frames, _ = movie(SCMOS, background=20.0)
    with pytest.raises(ValueError, match="dark frames"):
        calibrate_camera(frames, random_state=0)


def test_one_background_level_with_dark_frames():
    frames, _ = movie(SCMOS, background=20.0)
    dark, _ = make_spot_frames(
        20, shape=64, background=0, density=0, random_state=5, **SCMOS
    )
    found = calibrate_camera(frames, dark=dark, random_state=0)
    assert found.gain == pytest.approx(2.2, rel=0.1)
    assert abs(found.offset - 100.0) < 2.0


def test_too_few_frames_refused():
    frames, _ = movie(SCMOS, n_frames=5)
    with pytest.raises(ValueError, match="at least 10 frames, got 5"):
        calibrate_camera(frames)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"em_gain": "yes"}, ValueError, "em_gain"),
        ({"em_gain": 0.5}, ValueError, "em_gain"),
        ({"offset": -1.0}, ValueError, "offset"),
        ({"psf_sigma": 0}, ValueError, "psf_sigma"),
        ({"max_frames": 2}, ValueError, "max_frames"),
        ({"max_frames": 20.5}, TypeError, "max_frames"),
    ],
)
def test_bad_parameters_refused(kwargs, error, match):
    frames, _ = movie(SCMOS, n_frames=12)
    with pytest.raises(error, match=match):
        calibrate_camera(frames, **kwargs)


def test_bad_frames_refused():
    with pytest.raises(TypeError, match="frames"):
        calibrate_camera("movie.tif")
    with pytest.raises(ValueError, match="16x16"):
        calibrate_camera(np.ones((20, 8, 8)))
    frames = np.full((12, 32, 32), 10.0)
    frames[3, 4, 4] = np.nan
    with pytest.raises(ValueError, match="finite"):
        calibrate_camera(frames)


def test_rescaled_frames_refused():
    frames, _ = movie(SCMOS, n_frames=20)
    flat = np.full_like(frames, 7.0)
    with pytest.raises(ValueError, match="hardly changes|does not grow"):
        calibrate_camera(flat)


# The spots' conditions


def test_width_recovered_from_a_range_of_widths():
    frames, truth = movie(
        SCMOS, n_frames=60, seed=1, psf_sigma=(1.0, 1.6), photons=(500, 5000)
    )
    found = measure_spot_conditions(frames, camera=SCMOS, random_state=0)
    assert isinstance(found, SpotConditions)
    assert found.psf_sigma[1] == pytest.approx(np.median(truth.psf_sigma), rel=0.05)
    assert found.psf_sigma[0] < 1.15 and found.psf_sigma[2] > 1.45
    # Photons and background in photoelectrons, not ADU.
    assert found.background[1] == pytest.approx(np.median(truth.background), rel=0.15)
    assert 500 < found.photons[1] < 5000
    assert found.n_spots == len(found.spots) > 100


def test_conditions_with_the_camera_measured():
    frames, truth = movie(EMCCD, n_frames=60, psf_sigma=1.1, photons=2000)
    found = measure_spot_conditions(frames, random_state=0)
    assert found.camera.excess == 2.0
    assert found.psf_sigma[1] == pytest.approx(1.1, rel=0.05)
    assert found.photons[1] == pytest.approx(2000, rel=0.15)
    kwargs = found.simulation_kwargs()
    assert {"photons", "background", "psf_sigma", "gain", "em_gain"} <= set(kwargs)
    make_spot_frames(2, shape=32, random_state=0, **kwargs)  # accepted as is
    assert repr(found).startswith("SpotConditions(")


def test_width_found_without_a_guess():
    frames, _ = movie(PHOTONS, n_frames=30, psf_sigma=2.0, photons=3000)
    found = measure_spot_conditions(frames, camera={}, random_state=0)
    assert found.psf_sigma[1] == pytest.approx(2.0, rel=0.05)


def test_no_spots_refused():
    frames, _ = movie(PHOTONS, n_frames=12, density=0)
    with pytest.raises(ValueError, match="isolated spots"):
        measure_spot_conditions(frames, camera={})


@pytest.mark.parametrize(
    ("camera", "error"),
    [("scmos", TypeError), ({"gain": -1}, ValueError), ({"bias": 3}, ValueError)],
)
def test_bad_camera_refused(camera, error):
    frames, _ = movie(PHOTONS, n_frames=12)
    with pytest.raises(error, match="camera"):
        measure_spot_conditions(frames, camera=camera)


def test_a_crowded_movie_is_measured_from_the_pixels_differences():
    # 12 spots per 32x32 px: the light of faint spots between the detected
    # ones spreads the spot-free pixels more than their noise does.
    frames, _ = make_spot_frames(
        40,
        shape=128,
        density=12,
        photons=(300, 3000),
        background=(10, 50),
        psf_sigma=(1.0, 1.6),
        random_state=5,
        **SCMOS,
    )
    found = calibrate_camera(frames, random_state=0)
    assert "differences taken" in found.method
    assert found.gain == pytest.approx(2.2, rel=0.1)
    assert found.em_gain == 1.0
    # Sparse: the pixels' own statistics, the more precise.
    frames, _ = movie(SCMOS, n_frames=40, density=1, seed=5)
    assert "differences" not in calibrate_camera(frames, random_state=0).method
