"""A saved SpotLocator, and `pixel-regressor locate` from a TIFF movie to a table."""

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile
import yaml
from numpy.testing import assert_allclose

from pixel_regressor import (
    BrightPixelRegressor,
    SpotLocator,
    load_locator,
    make_spot_frames,
)
from pixel_regressor.cli import main
from pixel_regressor.io import read_localizations
from pixel_regressor.locator import LOCATION_COLUMNS


@pytest.fixture(scope="module")
def movie():
    frames, truth = make_spot_frames(
        7, shape=(32, 40), density=3, photons=(500, 3000), random_state=2
    )
    return frames.astype(np.uint16), truth


@pytest.fixture(scope="module")
def saved(movie, tmp_path_factory):
    """A tiny fitted locator, saved; its spot model saved on its own too."""
    frames, _ = movie
    locator = SpotLocator(
        BrightPixelRegressor(head="spot", filters=(4,), epochs=1),
        camera=None,
        psf_sigma=1.3,
        photons=(500.0, 3000.0),
        background=(5.0, 20.0),
        training_size=300,
        batch_frames=3,
        random_state=0,
    ).fit(frames)
    folder = tmp_path_factory.mktemp("saved")
    locator.save(folder / "locator")
    locator.estimator_.save(folder / "spot")
    tifffile.imwrite(folder / "movie.tif", frames, photometric="minisblack")
    return locator, folder


def test_a_saved_locator_locates_as_before(saved, movie):
    locator, folder = saved
    again = load_locator(folder / "locator")
    assert again.get_params()["false_alarm_rate"] == locator.false_alarm_rate
    assert again.psf_sigma_ == locator.psf_sigma_
    assert again.threshold_ == locator.threshold_
    pd.testing.assert_frame_equal(again.locate(movie[0]), locator.locate(movie[0]))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m.update(kind="other"), "kind"),
        (lambda m: m.update(format=99), "newer"),
        (lambda m: m["params"].update(box_size=4), "box_size"),
        (lambda m: m["params"].update(unknown=1), "unknown"),
        (lambda m: m["fitted"].update(threshold_=-1), "threshold_"),
        (lambda m: m["fitted"].update(estimator_=1), "estimator_"),
        (lambda m: m["fitted"].update(noise_={"code": "x"}), "unknown kind"),
        (lambda m: m["fitted"].update(psf_sigma_=2.0), "psf_sigma_"),
        (lambda m: m.update(model_sha256="0" * 64), "differs"),
    ],
)
def test_a_corrupt_save_is_refused(saved, tmp_path, edit, match):
    import shutil

    _, folder = saved
    copy = tmp_path / "locator"
    shutil.copytree(folder / "locator", copy)
    meta = json.loads((copy / "locator.json").read_text())
    edit(meta)
    (copy / "locator.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=match):
        load_locator(copy)


def test_save_refuses_a_directory_of_other_files(saved, tmp_path):
    locator, _ = saved
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="other files"):
        locator.save(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    with pytest.raises(FileNotFoundError):
        load_locator(tmp_path)


def test_locate_a_tiff_to_csv_and_images(saved, movie, tmp_path, capsys):
    locator, folder = saved
    out = tmp_path / "locs.csv"
    status = main(
        ["locate", str(folder / "movie.tif"), "--model", str(folder / "locator")]
        + ["--out", str(out), "--frame", "2"]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    table = read_localizations(out)
    assert list(table.columns) == list(LOCATION_COLUMNS)
    pd.testing.assert_frame_equal(table, locator.locate(movie[0]), rtol=1e-12)
    for name in ("locs_render.png", "locs_frame.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"{len(table)} localisation(s) in 7 frame(s)" in captured.out
    # A file, not a terminal: plain lines, the last one at the end.
    lines = captured.err.splitlines()
    assert lines[-1].startswith("located 7/7 frames") and "\r" not in captured.err


def test_locate_to_picasso_around_a_spot_model(saved, movie, tmp_path, capsys):
    _, folder = saved
    frames, _ = movie
    out = tmp_path / "locs.hdf5"
    status = main(
        ["locate", str(folder / "movie.tif"), "--model", str(folder / "spot")]
        + ["--out", str(out), "--psf-sigma", "1.3", "--pixel-size", "100"]
        + ["--no-images", "--quiet"]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert captured.err == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locs.hdf5", "locs.yaml"]
    with h5py.File(out, "r") as file:
        locs = file["locs"][()]
    assert locs.dtype["frame"] == np.dtype("u4") and locs.dtype["x"] == np.dtype("f4")
    table = read_localizations(out)
    assert_allclose(locs["x"], table.col) and assert_allclose(locs["y"], table.row)
    info = list(yaml.safe_load_all((tmp_path / "locs.yaml").read_text()))
    assert info[0] == {"Frames": 7, "Height": 32, "Width": 40}
    assert info[1]["Pixelsize"] == 100.0 and info[1]["PSF sigma"] == 1.3


@pytest.mark.parametrize(
    ("arguments", "status", "match"),
    [
        (["--out", "{tmp}/locs.txt"], 1, "csv"),
        (["--out", "{tmp}/missing/locs.csv"], 1, "does not exist"),
        (["--out", "{tmp}/locs.csv", "--oversampling", "0"], 2, "oversampling"),
        (["--out", "{tmp}/locs.csv", "--frame", "9"], 1, "--frame 9"),
    ],
)
def test_locate_errors(saved, tmp_path, capsys, arguments, status, match):
    _, folder = saved
    arguments = [a.format(tmp=tmp_path) for a in arguments]
    code = main(
        ["locate", str(folder / "movie.tif"), "--model", str(folder / "locator")]
        + arguments
        + ["--quiet"]
    )
    assert code == status
    assert match in capsys.readouterr().err


def test_from_a_tiff_to_a_calibrated_table_in_three_lines(tmp_path):
    from pixel_regressor.io import read_frames
    from pixel_regressor.metrics import jaccard_index

    frames, truth = make_spot_frames(
        16,
        shape=(48, 48),
        density=3,
        photons=(800, 3000),
        background=(10, 50),
        gain=2.2,
        offset=100,
        random_state=7,
    )
    tifffile.imwrite(tmp_path / "movie.tif", frames.astype(np.uint16))

    movie = read_frames(tmp_path / "movie.tif")
    locator = SpotLocator(
        BrightPixelRegressor(head="spot", filters=(4,), epochs=1),
        training_size=300,
        random_state=0,
    ).fit(movie)
    table = locator.locate(movie)

    assert locator.camera_.gain == pytest.approx(2.2, rel=0.15)
    assert jaccard_index(truth, table, radius=2.0) > 0.7
