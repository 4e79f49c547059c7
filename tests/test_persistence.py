"""Saving and loading: all-or-nothing saves, and loads that trust nothing.

Tiny estimators (10x10 images, 40 samples, one epoch) keep this fast.
"""

import json
import os
import pickle
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

import pixel_regressor
from pixel_regressor import (
    BrightPixelRegressor,
    _io,
    _persistence,
    load_model,
    skops_trusted_types,
)
from pixel_regressor.models import HEADS

SIDE = 10


@pytest.fixture(scope="module")
def data():
    return pixel_regressor.make_bright_pixel_dataset(
        40, image_size=SIDE, random_state=0
    )


@pytest.fixture(scope="module")
def fitted(data):
    """One fitted estimator per head, keyed by head."""
    X, y = data
    return {
        head: BrightPixelRegressor(head, epochs=1, random_state=0).fit(X, y)
        for head in HEADS
    }


@pytest.fixture(scope="module")
def other(data):
    """Another soft-argmax estimator: same shapes, other weights."""
    X, y = data
    return BrightPixelRegressor(epochs=1, learning_rate=0.01, random_state=1).fit(X, y)


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    """A save of the soft-argmax estimator, and its files' contents."""
    directory = fitted["soft_argmax"].save(tmp_path_factory.mktemp("saved") / "model")
    return {
        "dir": directory,
        "meta": json.loads((directory / "estimator.json").read_text()),
        "model": (directory / "model.keras").read_bytes(),
    }


def _hidden(directory):
    return sorted(p.name for p in Path(directory).iterdir() if p.name.startswith("."))


def _write_save(directory, meta, model_bytes):
    directory.mkdir(parents=True, exist_ok=True)
    if not isinstance(meta, (str, bytes)):
        meta = json.dumps(meta)
    if isinstance(meta, str):
        meta = meta.encode()
    (directory / "estimator.json").write_bytes(meta)
    (directory / "model.keras").write_bytes(model_bytes)
    return directory


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ----------------------------------------------------------------------------
# all-or-nothing saves


@pytest.mark.parametrize("head", list(HEADS))
def test_save_and_load_round_trip_records_a_digest(fitted, data, tmp_path, head):
    X, _ = data
    estimator = fitted[head]
    directory = estimator.save(tmp_path / "model")
    meta = json.loads((directory / "estimator.json").read_text())
    assert meta["format"] == _persistence.FORMAT
    assert meta["model_sha256"] == _io.sha256_of(directory / "model.keras")
    again = load_model(directory)
    np.testing.assert_array_equal(again.predict(X), estimator.predict(X))
    assert again.history_ == estimator.history_
    assert _hidden(tmp_path) == []


@pytest.mark.parametrize("where", ["metadata", "rename", "interrupt"])
def test_crash_during_save_keeps_the_earlier_save(
    fitted, other, data, tmp_path, monkeypatch, where
):
    X, _ = data
    directory = other.save(tmp_path / "model")
    before = {p.name: p.read_bytes() for p in directory.iterdir()}

    def crash(*args, **kwargs):
        raise KeyboardInterrupt if where == "interrupt" else OSError("disk died")

    def crash_at_rename(new, target, **kwargs):
        assert {p.name for p in Path(new).iterdir()} == {
            "model.keras",
            "estimator.json",
        }
        raise OSError("crashed before the rename")

    if where == "rename":
        monkeypatch.setattr(_io, "replace_directory", crash_at_rename)
    else:
        monkeypatch.setattr(_persistence, "metadata", crash)
    with pytest.raises((OSError, KeyboardInterrupt)):
        fitted["soft_argmax"].save(directory)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    np.testing.assert_array_equal(load_model(directory).predict(X), other.predict(X))
    assert _hidden(tmp_path) == []


def test_save_replaces_an_earlier_save_whole(fitted, other, data, tmp_path):
    X, _ = data
    directory = other.save(tmp_path / "model")
    fitted["soft_argmax"].save(directory)
    np.testing.assert_array_equal(
        load_model(directory).predict(X), fitted["soft_argmax"].predict(X)
    )
    assert sorted(os.listdir(directory)) == ["estimator.json", "model.keras"]
    assert _hidden(tmp_path) == []


def test_save_into_an_existing_empty_directory(fitted, tmp_path):
    (tmp_path / "model").mkdir()
    fitted["soft_argmax"].save(tmp_path / "model")
    load_model(tmp_path / "model")


def test_save_refuses_a_directory_with_other_files(fitted, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="notes.txt"):
        fitted["soft_argmax"].save(tmp_path / "model")
    assert os.listdir(tmp_path / "model") == ["notes.txt"]
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        fitted["soft_argmax"].save(tmp_path / "file")


def test_save_removes_temporaries_of_killed_saves(fitted, tmp_path):
    host = _io._host_tag()
    dead = tmp_path / f".model.tmp-{host}-{_dead_pid()}-0badcafe"
    alive = tmp_path / f".model.tmp-{host}-{os.getpid()}-0badcafe"
    unrelated = tmp_path / ".other.tmp-00000000-1-0badcafe"
    for path in (dead, alive, unrelated):
        path.mkdir()
        (path / "model.keras").write_bytes(b"partial")
    fitted["soft_argmax"].save(tmp_path / "model")
    assert not dead.exists()
    assert alive.exists()  # a save in progress in a live process
    assert unrelated.exists()


def test_model_from_another_save_is_refused(saved, other, tmp_path):
    directory = _write_save(tmp_path / "mixed", saved["meta"], b"")
    other.save(tmp_path / "other")
    (directory / "model.keras").write_bytes(
        (tmp_path / "other" / "model.keras").read_bytes()
    )
    with pytest.raises(ValueError, match="SHA-256"):
        load_model(directory)


def test_format_1_saves_load_without_a_digest(saved, data, fitted, tmp_path):
    X, _ = data
    meta = {**saved["meta"], "format": 1}
    del meta["model_sha256"]
    again = load_model(_write_save(tmp_path / "old", meta, saved["model"]))
    np.testing.assert_array_equal(again.predict(X), fitted["soft_argmax"].predict(X))


# ----------------------------------------------------------------------------
# loads that trust nothing


def _set(meta, path, value):
    meta = json.loads(json.dumps(meta))
    target = meta
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return meta


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (("format",), 3, "newer version"),
        (("format",), "2", "format must be an integer"),
        (("format",), True, "format must be an integer"),
        (("n_iter_",), -1, "n_iter_"),
        (("n_iter_",), 1.0, "n_iter_"),
        (("n_outputs_",), 0, "n_outputs_"),
        (("n_outputs_",), 3, "output shape"),
        (("image_shape_",), [SIDE, SIDE, 1], "image_shape_"),
        (("image_shape_",), [SIDE, 0], "image_shape_"),
        (("n_features_in_",), SIDE * SIDE + 1, "n_features_in_"),
        (("y_1d",), 1, "y_1d"),
        (("y_1d",), True, "n_outputs_"),
        (("history_", "loss"), [1.0, 2.0], "n_iter_"),
        (("history_", "loss"), ["1.0"], "numbers"),
        (("history_",), [], "history_"),
        (("params", "head"), "mystery", "head"),
        (("params", "epochs"), 0, "epochs"),
        (("params", "epochs"), True, "boolean"),
        (("params", "filters"), [0], "filters"),
        (("params", "callbacks"), [], "unsaved"),
        (("params", "surprise"), 1, "unknown"),
        (("feature_names_in_",), ["a"], "feature_names_in_"),
        (("model_sha256",), "0" * 63, "model_sha256"),
        (("extra",), 1, "unknown keys"),
    ],
)
def test_tampered_metadata_is_refused(saved, tmp_path, path, value, match):
    meta = _set(saved["meta"], path, value)
    directory = _write_save(tmp_path / "model", meta, saved["model"])
    with pytest.raises(ValueError, match=match):
        load_model(directory)


@pytest.fixture(scope="module")
def saved_spot(fitted, tmp_path_factory):
    """A save of the spot head's estimator, and its files' contents."""
    directory = fitted["spot"].save(tmp_path_factory.mktemp("saved") / "model")
    return {
        "meta": json.loads((directory / "estimator.json").read_text()),
        "model": (directory / "model.keras").read_bytes(),
    }


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("std_coefficients_", [[1.0, 1.0, 1.0]], "std_coefficients_ must be 2 row"),
        ("std_coefficients_", [[1.0, 1.0], [1.0, 1.0]], "row.* of 3 positive"),
        ("std_coefficients_", [[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]], "std_coeff"),
        ("miss_odds_", [1.0], "miss_odds_ must be"),
        ("miss_odds_", [0.0, 0.0], "tau > 0"),
        ("miss_odds_", [1.0, "0"], "miss_odds_ must be"),
        ("miss_odds_", [True, 0.0], "miss_odds_ must be"),
        ("miss_odds_", {"tau": 1.0}, "miss_odds_ must be"),
        # Finite, but beyond anything the fits give.
        ("std_coefficients_", [[1e308] * 3] * 2, "std_coefficients_"),
        ("std_coefficients_", [[1e-300] * 3] * 2, "std_coefficients_"),
        ("miss_odds_", [1.0, 1e308], "miss_odds_"),
        ("miss_odds_", [1e-300, 0.0], "miss_odds_"),
    ],
)
def test_tampered_deviations_are_refused(saved_spot, tmp_path, key, value, match):
    meta = _set(saved_spot["meta"], (key,), value)
    directory = _write_save(tmp_path / "model", meta, saved_spot["model"])
    with pytest.raises(ValueError, match=match):
        load_model(directory)


@pytest.mark.parametrize("key", ["std_coefficients_", "miss_odds_"])
def test_deviations_of_a_head_without_them_are_refused(saved, tmp_path, key):
    meta = _set(saved["meta"], (key,), [1.0, 0.0])
    directory = _write_save(tmp_path / "model", meta, saved["model"])
    with pytest.raises(ValueError, match=f"{key} is given, but the head has no std"):
        load_model(directory)


def test_spot_save_without_miss_odds_uses_the_matched_filters(
    saved_spot, fitted, tmp_path
):
    # Saved before the odds were fitted: loaded, the model keeps the matched
    # filter's own, and predicts as a model given them would.
    from pixel_regressor import _uncertainty

    assert fitted["spot"].miss_odds_.shape == (2,)
    assert saved_spot["meta"]["miss_odds_"] == list(fitted["spot"].miss_odds_)
    # (nor the training conditions, recorded later still)
    dropped = ("miss_odds_", "training_conditions_")
    meta = {k: v for k, v in saved_spot["meta"].items() if k not in dropped}
    loaded = load_model(_write_save(tmp_path / "model", meta, saved_spot["model"]))
    assert not hasattr(loaded, "miss_odds_")
    assert not hasattr(loaded, "training_conditions_")
    X, _ = pixel_regressor.make_bright_spot_dataset(
        30, image_size=SIDE, photons=40, random_state=3
    )
    expected = _uncertainty.predict(
        _uncertainty.statistics(X.reshape(-1, SIDE, SIDE, 1).astype(np.float32)),
        loaded.std_coefficients_,
        loaded._readout_weights(),
    )
    np.testing.assert_allclose(loaded.predict(X, return_std=True)[1], expected)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"format": 2, "n_iter_": 1e400}', "out of range"),
        ('{"format": NaN}', "not a number"),
        ('{"format": ' + "9" * 5000 + "}", "not valid JSON"),
        ("{", "not valid JSON"),
        (b"\xff\xfe", "UTF-8"),
        ("[]", "not an object"),
    ],
)
def test_malformed_metadata_is_refused(saved, tmp_path, text, match):
    directory = _write_save(tmp_path / "model", text, saved["model"])
    with pytest.raises(ValueError, match=match):
        load_model(directory)


def test_huge_metadata_file_is_refused_unread(saved, tmp_path):
    directory = _write_save(tmp_path / "model", "{}", saved["model"])
    with open(directory / "estimator.json", "r+b") as file:
        file.truncate(_persistence.MAX_METADATA_BYTES + 1)  # sparse: nothing written
    with pytest.raises(ValueError, match="more than"):
        load_model(directory)


def test_every_tampered_field_alone_is_checked(saved):
    """Each required field's removal is caught by the metadata checks alone."""
    for key in saved["meta"]:
        meta = {k: v for k, v in saved["meta"].items() if k != key}
        with pytest.raises(ValueError, match="missing keys|format must"):
            _persistence.estimator_from_metadata(BrightPixelRegressor, meta)


# ----------------------------------------------------------------------------
# the Keras archive


@pytest.mark.parametrize("damage", ["not a zip", "truncated", "empty"])
def test_corrupt_model_file_is_reported_as_corrupt(saved, tmp_path, damage):
    model = {
        "not a zip": b"not a zip file",
        "truncated": saved["model"][: len(saved["model"]) // 2],
        "empty": b"",
    }[damage]
    directory = _write_save(tmp_path / "model", saved["meta"], model)
    with pytest.raises(ValueError, match="could not be loaded") as info:
        load_model(directory)
    assert "File not found" not in str(info.value)


def _zip(entries):
    """A zip archive of ``(name, method, crc, data, declared_size)`` members."""
    out, central = bytearray(), bytearray()
    for name, method, crc, data, size in entries:
        offset, encoded = len(out), name.encode()
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data),
            size, len(encoded), 0,
        )  # fmt: skip
        out += encoded + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc,
            len(data), size, len(encoded), 0, 0, 0, 0, 0, offset,
        )  # fmt: skip
        central += encoded
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central),
        len(out), 0,
    )  # fmt: skip
    return bytes(out + central + end)


def _zeros_deflated(n_chunks, chunk=1_000_000):
    """A raw deflate stream of ``n_chunks * chunk`` zero bytes, built cheaply.

    After a full flush the compressor starts afresh, so every chunk compresses
    to the same bytes: one chunk is compressed and its bytes repeated.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(chunk)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * n_chunks + compressor.flush()


@pytest.fixture(scope="module")
def bomb(saved):
    """A ``.keras`` archive whose weights member inflates to 4 GB (4e9 bytes)."""
    import zipfile

    members = []
    with zipfile.ZipFile(saved["dir"] / "model.keras") as archive:
        for info in archive.infolist():
            if info.filename != "model.weights.h5":
                content = archive.read(info)
                members.append(
                    (info.filename, 0, zlib.crc32(content), content, len(content))
                )
    # The CRC is not that of the inflated data: the check refuses the member
    # before a byte of it is inflated, as it must.
    members.append(("model.weights.h5", 8, 0, _zeros_deflated(4000), 4_000_000_000))
    return _zip(members)


def test_inflating_archive_is_refused_fast_and_small(saved, bomb, tmp_path):
    assert len(bomb) < 5_000_000
    directory = _write_save(tmp_path / "model", saved["meta"], bomb)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match="decompress to 4000"):
            load_model(directory)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 10_000_000


def test_archive_with_foreign_members_is_refused(saved, tmp_path):
    model = _zip([("config.json", 0, zlib.crc32(b"{}"), b"{}", 2)] * 2)
    directory = _write_save(tmp_path / "model", saved["meta"], model)
    with pytest.raises(ValueError, match="could not be loaded.*members"):
        load_model(directory)
    model = _zip([("../evil.py", 0, zlib.crc32(b"x"), b"x", 1)])
    (directory / "model.keras").write_bytes(model)
    with pytest.raises(ValueError, match="evil"):
        load_model(directory)


def test_dense_model_must_match_the_image_shape(fitted, tmp_path):
    directory = fitted["dense"].save(tmp_path / "model")
    meta = json.loads((directory / "estimator.json").read_text())
    meta = _set(meta, ("image_shape_",), [SIDE // 2, SIDE * 2])
    (directory / "estimator.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="input shape"):
        load_model(directory)


@pytest.mark.parametrize(
    ("meta_head", "model_head"),
    [
        ("spot", "spot_fit"),
        ("spot_fit", "spot"),
        ("spot_fit", "soft_argmax"),
        ("spot_fit", "dense"),
        ("soft_argmax", "spot"),
        ("dense", "soft_argmax"),
    ],
)
def test_another_heads_model_is_refused_even_with_its_digest(
    fitted, tmp_path, meta_head, model_head
):
    # Both files consistent with each other by their digest, but the network
    # is not the one the metadata's head builds.
    directory = fitted[meta_head].save(tmp_path / "model")
    other = fitted[model_head].save(tmp_path / "other")
    model = (other / "model.keras").read_bytes()
    meta = json.loads((directory / "estimator.json").read_text())
    meta["model_sha256"] = _io.sha256_of(other / "model.keras")
    _write_save(directory, meta, model)
    match = f"model.keras could not be loaded.*head='{meta_head}'"
    with pytest.raises(ValueError, match=match):
        load_model(directory)


# ----------------------------------------------------------------------------
# pickle, joblib, deepcopy, clone, skops and MLflow


@pytest.mark.parametrize("head", list(HEADS))
def test_pickled_state_is_plain_data(fitted, head):
    state = fitted[head].__getstate__()
    assert "model_" not in state
    assert "keras_regressor_" not in state
    assert isinstance(state["_keras_archive"], bytes)
    assert "model_" in vars(fitted[head])  # the estimator itself is untouched


@pytest.mark.parametrize("head", list(HEADS))
@pytest.mark.parametrize("how", ["pickle", "joblib", "deepcopy"])
def test_copies_predict_identically_and_train_further(
    fitted, data, tmp_path, head, how
):
    import copy

    import joblib

    X, y = data
    estimator = fitted[head]
    if how == "pickle":
        again = pickle.loads(pickle.dumps(estimator))
    elif how == "joblib":
        joblib.dump(estimator, tmp_path / "m.joblib")
        again = joblib.load(tmp_path / "m.joblib")
    else:
        again = copy.deepcopy(estimator)
    assert again.model_ is not estimator.model_
    np.testing.assert_array_equal(again.predict(X), estimator.predict(X))
    assert again.history_ == estimator.history_
    assert again.keras_regressor_.model_ is again.model_
    again.partial_fit(X, y)
    assert again.n_iter_ == estimator.n_iter_ + 1
    assert len(again.history_["loss"]) == estimator.n_iter_ + 1


def test_unfitted_estimator_copies_unchanged():
    import copy

    from sklearn.base import clone

    estimator = BrightPixelRegressor("dense", filters=(4,), epochs=3)
    for again in (
        pickle.loads(pickle.dumps(estimator)),
        copy.deepcopy(estimator),
        clone(estimator),
    ):
        assert again.get_params() == estimator.get_params()
        assert not hasattr(again, "model_")
    assert "_keras_archive" not in estimator.__getstate__()


def test_clone_of_a_fitted_estimator_is_unfitted(fitted):
    from sklearn.base import clone

    again = clone(fitted["dense"])
    assert again.get_params() == fitted["dense"].get_params()
    assert not hasattr(again, "model_")


def test_pickled_model_is_checked_on_load(fitted):
    state = fitted["soft_argmax"].__getstate__()
    state["_keras_archive"] = b"not a zip"
    with pytest.raises(ValueError, match="could not be loaded"):
        BrightPixelRegressor().__setstate__(state)


@pytest.mark.parametrize("head", list(HEADS))
def test_skops_round_trip_trusts_only_package_types(fitted, data, head):
    sio = pytest.importorskip("skops.io")
    X, _ = data
    estimator = fitted[head]
    dumped = sio.dumps(estimator)
    # The documented list is exactly what a fitted or unfitted estimator needs.
    assert sio.get_untrusted_types(data=dumped) == skops_trusted_types()
    again = sio.loads(dumped, trusted=skops_trusted_types())
    np.testing.assert_array_equal(again.predict(X), estimator.predict(X))
    assert again.history_ == estimator.history_
    unfitted = sio.dumps(BrightPixelRegressor(head))
    assert sio.get_untrusted_types(data=unfitted) == skops_trusted_types()
    again = sio.loads(unfitted, trusted=skops_trusted_types())
    assert again.get_params() == BrightPixelRegressor(head).get_params()


def test_skops_trusted_types_is_a_new_list_each_call():
    types = skops_trusted_types()
    types.append("os.system")
    assert skops_trusted_types() == ["pixel_regressor.estimator.BrightPixelRegressor"]


@pytest.fixture
def mlflow(tmp_path, monkeypatch):
    """MLflow with a local file store in ``tmp_path``."""
    pytest.importorskip("skops")
    pytest.importorskip("mlflow")
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn

    # MLflow asks for this before loading any model, skops ones included.
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    # A local file store (MLflow 3.7+ asks to opt in to it).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    return mlflow


@pytest.mark.parametrize("head", list(HEADS))
def test_mlflow_round_trip(fitted, data, mlflow, head):
    # The call the persistence guide documents: MLflow's default (skops)
    # format, the package's trusted types named when logging.
    X, _ = data
    estimator = fitted[head]
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            estimator,
            name="m",
            skops_trusted_types=skops_trusted_types(),
            # Named, not inferred: inference loads the model in a subprocess.
            pip_requirements=["pixel-regressor"],
        )
    expected = estimator.predict(X)
    again = mlflow.sklearn.load_model(info.model_uri)
    np.testing.assert_array_equal(again.predict(X), expected)
    pyfunc = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(np.asarray(pyfunc.predict(X)), expected)
    # A reloaded estimator trains on.
    again.partial_fit(X, data[1])
    assert again.n_iter_ == estimator.n_iter_ + 1


def test_mlflow_without_trusted_types_is_refused_when_logging(fitted, mlflow):
    # skops offers packages no way to add trusted types of their own, so the
    # call without them fails, at once and naming the parameter (the guide
    # says so), rather than logging a model that cannot be loaded.
    from mlflow.exceptions import MlflowException

    with (
        mlflow.start_run(),
        pytest.raises(MlflowException, match="skops_trusted_types"),
    ):
        mlflow.sklearn.log_model(
            fitted["soft_argmax"], name="m", pip_requirements=["pixel-regressor"]
        )


def test_skops_keeps_feature_names_and_trusts_only_package_types(data):
    sio = pytest.importorskip("skops.io")
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = pd.DataFrame(X, columns=[f"p{i}" for i in range(X.shape[1])])
    estimator = BrightPixelRegressor(epochs=1, random_state=0).fit(frame, y)
    dumped = sio.dumps(estimator)
    assert sio.get_untrusted_types(data=dumped) == skops_trusted_types()
    again = sio.loads(dumped, trusted=skops_trusted_types())
    np.testing.assert_array_equal(again.feature_names_in_, estimator.feature_names_in_)
    np.testing.assert_array_equal(again.predict(frame), estimator.predict(frame))


@pytest.mark.parametrize("validation", [False, True])
def test_copies_keep_what_early_stopping_watches(data, tmp_path, validation):
    import keras

    X, y = data
    kwargs = {"validation_data": (X[:8], y[:8])} if validation else {}
    estimator = BrightPixelRegressor(epochs=1, early_stopping=True, random_state=0).fit(
        X, y, **kwargs
    )
    expected = "val_loss" if validation else "loss"
    estimator.save(tmp_path / "model")
    for again in (
        pickle.loads(pickle.dumps(estimator)),
        load_model(tmp_path / "model"),
    ):
        stoppers = [
            c
            for c in again.keras_regressor_.get_params()["callbacks"]
            if isinstance(c, keras.callbacks.EarlyStopping)
        ]
        assert [s.monitor for s in stoppers] == [expected]


# ----------------------------------------------------------------------------
# directories that cannot be renamed: a mount point, the current directory


def _busy(new, target, **kwargs):
    import errno

    raise OSError(errno.EBUSY, "Device or resource busy", str(target))


@pytest.mark.parametrize("why", ["mount point", "current directory"])
def test_save_replaces_the_files_of_a_directory_it_cannot_rename(
    fitted, other, data, tmp_path, monkeypatch, why
):
    X, _ = data
    directory = other.save(tmp_path / "model")
    if why == "mount point":
        monkeypatch.setattr(_io, "replace_directory", _busy)
    else:
        monkeypatch.chdir(directory)
    fitted["soft_argmax"].save(directory)
    np.testing.assert_array_equal(
        load_model(directory).predict(X), fitted["soft_argmax"].predict(X)
    )
    assert sorted(os.listdir(directory)) == ["estimator.json", "model.keras"]
    assert _hidden(tmp_path) == []


def test_interrupted_save_in_place_keeps_the_earlier_save(
    other, fitted, data, tmp_path, monkeypatch
):
    X, _ = data
    directory = other.save(tmp_path / "model")
    monkeypatch.chdir(directory)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_persistence, "metadata", crash)
    with pytest.raises(KeyboardInterrupt):
        fitted["soft_argmax"].save(".")
    assert sorted(os.listdir(directory)) == ["estimator.json", "model.keras"]
    np.testing.assert_array_equal(load_model(directory).predict(X), other.predict(X))


# ----------------------------------------------------------------------------
# the one check of fitted state, whichever way an estimator is loaded


def _with(estimator, **attributes):
    """A shallow copy of ``estimator`` with ``attributes`` replaced (or
    removed, where None)."""
    again = object.__new__(type(estimator))
    vars(again).update(vars(estimator), **attributes)
    for name in [k for k, v in attributes.items() if v is None]:
        vars(again).pop(name, None)
    return again


def _round_trip(estimator, how, tmp_path):
    if how == "pickle":
        return pickle.loads(pickle.dumps(estimator))
    if how == "joblib":
        import joblib

        joblib.dump(estimator, tmp_path / "m.joblib")
        return joblib.load(tmp_path / "m.joblib")
    sio = pytest.importorskip("skops.io")
    return sio.loads(sio.dumps(estimator), trusted=skops_trusted_types())


# Without the attributes that only the heads with deviations have.
_NO_STD = {"std_coefficients_": None, "miss_odds_": None, "training_conditions_": None}
_BAD_FITTED_STATE = [
    ("spot", {"std_coefficients_": np.full((2, 3), np.nan)}, "std_coefficients_"),
    ("spot", {"std_coefficients_": np.full((2, 3), 1e-30)}, "std_coefficients_"),
    ("spot", {"std_coefficients_": np.full((2, 2), 1.0)}, "std_coefficients_"),
    ("spot", {"std_coefficients_": np.full((3, 3), 1.0)}, "std_coefficients_"),
    ("spot", {"std_coefficients_": "1.0"}, "std_coefficients_"),
    ("spot_fit", {"std_coefficients_": np.full((2, 2), 1e308)}, "std_coefficients_"),
    ("spot", {"miss_odds_": np.array([1.0, 1e308])}, "miss_odds_"),
    ("spot", {"miss_odds_": np.array([np.nan, 0.0])}, "miss_odds_"),
    ("soft_argmax", {"std_coefficients_": np.ones((2, 3))}, "std_coefficients_"),
    ("spot_fit", {"head": "spot", "_built_head": "spot"}, "std_coefficients_"),
    ("spot_fit", {"_built_head": "spot", **_NO_STD}, "gaussian_fit"),
    ("spot", {"_built_head": "spot_fit", **_NO_STD}, "gaussian_fit"),
    ("spot", {"_built_head": "soft_argmax", **_NO_STD}, "head='soft_argmax'"),
    ("spot", {"_built_head": "mystery"}, "_built_head"),
    ("dense", {"image_shape_": (SIDE, SIDE + 1)}, "n_features_in_"),
    ("dense", {"n_outputs_": 3}, "output shape"),
    ("soft_argmax", {"n_iter_": -1}, "n_iter_"),
    ("soft_argmax", {"history_": {"loss": [1.0, 2.0]}}, "n_iter_"),
    ("soft_argmax", {"_y_1d": True}, "n_outputs_"),
]


@pytest.mark.parametrize("how", ["pickle", "joblib", "skops"])
@pytest.mark.parametrize(("head", "attributes", "match"), _BAD_FITTED_STATE)
def test_bad_fitted_state_is_refused_by_every_loader(
    fitted, tmp_path, how, head, attributes, match
):
    tampered = _with(fitted[head], **attributes)
    with pytest.raises(ValueError, match=match):
        _round_trip(tampered, how, tmp_path)


def test_pickled_fitted_attributes_without_a_model_are_refused(fitted):
    state = fitted["spot"].__getstate__()
    del state["_keras_archive"]
    with pytest.raises(ValueError, match="no model"):
        BrightPixelRegressor().__setstate__(state)


def test_a_missing_fitted_attribute_is_named(fitted):
    state = fitted["spot"].__getstate__()
    del state["history_"]
    with pytest.raises(ValueError, match="history_"):
        BrightPixelRegressor().__setstate__(state)


def test_a_head_changed_after_fitting_still_copies(fitted, data, tmp_path):
    # set_params(head=...) after fitting is allowed: predictions follow the
    # model's own head, and so does the check of a copy.
    X, _ = data
    estimator = _with(fitted["spot_fit"], head="spot")
    again = _round_trip(estimator, "pickle", tmp_path)
    assert again.head == "spot"
    np.testing.assert_array_equal(again.predict(X), fitted["spot_fit"].predict(X))


def test_a_head_changed_after_fitting_saves_the_model_s_own(fitted, data, tmp_path):
    # The saved head is the network's: the parameter changed after fitting
    # would name another head's layers, and the load would refuse its own save.
    X, _ = data
    estimator = _with(fitted["spot_fit"], head="spot")
    estimator.save(tmp_path / "model")
    again = load_model(tmp_path / "model")
    assert again.head == "spot_fit"
    np.testing.assert_array_equal(again.predict(X), fitted["spot_fit"].predict(X))
