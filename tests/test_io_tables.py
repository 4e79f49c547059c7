"""Tables of localisations in CSV and in Picasso's HDF5 and YAML files."""

import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from numpy.testing import assert_allclose, assert_array_equal

from pixel_regressor.io import read_localizations, write_localizations
from pixel_regressor.locator import LOCATION_COLUMNS


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    n = 7
    return pd.DataFrame(
        {
            "frame": np.array([0, 0, 1, 2, 2, 2, 4], dtype=np.int64),
            "row": rng.uniform(-0.4, 15.4, n),
            "col": rng.uniform(-0.4, 23.4, n),
            "row_std": rng.uniform(0.05, 0.3, n),
            "col_std": rng.uniform(0.05, 0.3, n),
            "score": rng.uniform(5, 50, n),
            "photons": rng.uniform(100, 3000, n),
            "background": rng.uniform(5, 20, n),
            "close_pair": np.array([0, 1, 0, 0, 1, 0, 0], dtype=bool),
        }
    )


def test_csv_round_trip_is_exact(table, tmp_path):
    path = write_localizations(table, tmp_path / "locs.csv")
    assert path == tmp_path / "locs.csv"
    pd.testing.assert_frame_equal(read_localizations(path), table)
    # Plain to_csv: a header of the columns, no index.
    assert path.read_text().splitlines()[0] == ",".join(LOCATION_COLUMNS)


def test_picasso_fields_dtypes_and_axes(table, tmp_path):
    path = tmp_path / "locs.hdf5"
    write_localizations(
        table, path, frames_shape=(5, 16, 24), psf_sigma=1.3, pixel_size=107.0
    )
    with h5py.File(path, "r") as file:
        locs = file["locs"][()]
    names = ("frame", "x", "y", "photons", "sx", "sy", "bg", "lpx", "lpy")
    assert locs.dtype.names[: len(names)] == names
    assert locs.dtype["frame"] == np.dtype("u4")
    for name in names[1:] + ("ellipticity", "net_gradient"):
        assert locs.dtype[name] == np.dtype("f4"), name
    # x is the column, y the row: both in pixels, centres at integers.
    assert_allclose(locs["x"], table.col, rtol=1e-6)
    assert_allclose(locs["y"], table.row, rtol=1e-6)
    assert_allclose(locs["lpx"], table.col_std, rtol=1e-6)
    assert_allclose(locs["lpy"], table.row_std, rtol=1e-6)
    assert_allclose(locs["bg"], table.background, rtol=1e-6)
    assert_allclose(locs["net_gradient"], table.score, rtol=1e-6)
    assert_allclose(locs["sx"], 1.3) and assert_allclose(locs["sy"], 1.3)
    assert_array_equal(locs["ellipticity"], 0)
    assert_array_equal(locs["frame"], table.frame)
    assert_array_equal(locs["close_pair"], table.close_pair)
    documents = list(yaml.safe_load_all((tmp_path / "locs.yaml").read_text()))
    assert documents[0] == {"Frames": 5, "Height": 16, "Width": 24}
    assert documents[1]["Pixelsize"] == 107.0
    assert documents[1]["PSF sigma"] == 1.3


def test_picasso_round_trip(table, tmp_path):
    path = tmp_path / "locs.h5"
    write_localizations(
        table, path, frames_shape=(5, 16, 24), psf_sigma=1.3, metadata={"Box": 11}
    )
    back, metadata = read_localizations(path, return_metadata=True)
    assert list(back.columns[: len(LOCATION_COLUMNS)]) == list(LOCATION_COLUMNS)
    assert back.frame.dtype == np.int64 and back.close_pair.dtype == bool
    pd.testing.assert_frame_equal(
        back[list(LOCATION_COLUMNS)], table, check_exact=False, rtol=1e-6
    )
    assert {"sx", "sy", "ellipticity"} <= set(back.columns)
    assert metadata[1]["Box"] == 11


def test_an_empty_table_round_trips(table, tmp_path):
    empty = table.iloc[:0]
    write_localizations(empty, tmp_path / "e.hdf5", frames_shape=(1, 4, 4), psf_sigma=1)
    assert len(read_localizations(tmp_path / "e.hdf5")) == 0
    write_localizations(empty, tmp_path / "e.csv")
    assert list(read_localizations(tmp_path / "e.csv").columns) == list(
        LOCATION_COLUMNS
    )


@pytest.mark.parametrize(
    ("change", "kwargs", "error", "match"),
    [
        (None, {"path": "locs.txt"}, ValueError, "csv"),
        (None, {}, ValueError, "frames_shape"),
        (None, {"frames_shape": (5, 16)}, ValueError, "frames_shape"),
        (None, {"frames_shape": (2, 16, 24)}, ValueError, "beyond"),
        (None, {"frames_shape": (5, 16, 24), "psf_sigma": None}, ValueError, "sx"),
        (None, {"frames_shape": (5, 16, 24), "psf_sigma": -1}, ValueError, "psf"),
        ("drop", {"frames_shape": (5, 16, 24)}, ValueError, "row_std"),
        ("nan", {"frames_shape": (5, 16, 24)}, ValueError, "NaN"),
        ("negative", {"frames_shape": (5, 16, 24)}, ValueError, "frame"),
        ("text", {"frames_shape": (5, 16, 24)}, TypeError, "numbers"),
        ("array", {"frames_shape": (5, 16, 24)}, TypeError, "DataFrame"),
    ],
)
def test_bad_tables_and_arguments_are_refused(
    table, tmp_path, change, kwargs, error, match
):
    if change == "drop":
        table = table.drop(columns="row_std")
    elif change == "nan":
        table.loc[2, "col"] = np.nan
    elif change == "negative":
        table.loc[0, "frame"] = -1
    elif change == "text":
        table["photons"] = "many"
    elif change == "array":
        table = table.to_numpy()
    kwargs = {"psf_sigma": 1.3, **kwargs}
    path = tmp_path / kwargs.pop("path", "locs.hdf5")
    with pytest.raises(error, match=match):
        write_localizations(table, path, **kwargs)
    assert not any(tmp_path.iterdir())


def test_a_failed_write_leaves_the_earlier_files(table, tmp_path, monkeypatch):
    path = tmp_path / "locs.hdf5"
    write_localizations(table, path, frames_shape=(5, 16, 24), psf_sigma=1.3)
    before = path.read_bytes(), (tmp_path / "locs.yaml").read_bytes()

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", broken)
    with pytest.raises(OSError, match="disk full"):
        write_localizations(
            table.iloc[:2], path, frames_shape=(5, 16, 24), psf_sigma=1.3
        )
    assert (path.read_bytes(), (tmp_path / "locs.yaml").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locs.hdf5", "locs.yaml"]


def test_files_that_are_not_tables_are_refused(table, tmp_path):
    with h5py.File(tmp_path / "other.hdf5", "w") as file:
        file.create_dataset("images", data=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no dataset 'locs'"):
        read_localizations(tmp_path / "other.hdf5")
    with h5py.File(tmp_path / "plain.hdf5", "w") as file:
        file.create_dataset("locs", data=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="named fields"):
        read_localizations(tmp_path / "plain.hdf5")
    (tmp_path / "text.hdf5").write_text("frame,row,col\n")
    with pytest.raises(ValueError, match="HDF5"):
        read_localizations(tmp_path / "text.hdf5")
    write_localizations(
        table, tmp_path / "l.hdf5", frames_shape=(5, 16, 24), psf_sigma=1
    )
    (tmp_path / "l.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="mappings"):
        read_localizations(tmp_path / "l.hdf5")
    (tmp_path / "l.yaml").write_text("!!python/object:os.system {}\n")
    with pytest.raises(ValueError, match="YAML"):
        read_localizations(tmp_path / "l.hdf5")
    (tmp_path / "cols.csv").write_text("frame,x,y\n0,1,2\n")
    with pytest.raises(ValueError, match="lacks the column"):
        read_localizations(tmp_path / "cols.csv")
    (tmp_path / "nan.csv").write_text("frame,row,col\n0,nan,2\n")
    with pytest.raises(ValueError, match="NaN"):
        read_localizations(tmp_path / "nan.csv")
    with pytest.raises(FileNotFoundError):
        read_localizations(tmp_path / "missing.csv")


def test_without_h5py_the_error_names_the_extra(table, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"pixel-regressor\[hdf5\]"):
        write_localizations(table, tmp_path / "l.hdf5", frames_shape=(5, 16, 24))
    # CSV needs neither.
    write_localizations(table, tmp_path / "l.csv")
