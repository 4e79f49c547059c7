"""The command line: ``pixel-regressor run`` and ``pixel-regressor predict``.

One tiny ``run`` goes through the installed console script in a subprocess
(module fixture); everything else calls :func:`pixel_regressor.cli.main` in
this process.
"""

import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import pixel_regressor
from pixel_regressor import cli
from pixel_regressor._io import write_atomically
from pixel_regressor.cli import main

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
TINY = ["--samples", "300", "--image-size", "12", "--epochs", "1", "--quiet"]
# For in-process runs that only need to get to the writing stage.
SMALLER = ["--samples", "60", "--image-size", "8", "--epochs", "1", "--quiet"]
PNGS = ["training_curves.png", "predictions.png", "sample.png"]
REPORT_KEYS = {
    "test",
    "centre_probe",
    "time",
    "epochs_run",
    "last_epoch",
    "split",
    "parameters",
    "versions",
    "files",
    "date",
}
VERSION_KEYS = {
    "pixel_regressor",
    "numpy",
    "scikit-learn",
    "keras",
    "keras_backend",
    "scikeras",
    "python",
}


def _command():
    """The installed console script, else ``python -m pixel_regressor``."""
    script = Path(sys.executable).with_name("pixel-regressor")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "pixel_regressor"]  # pragma: no cover


def _fails_cleanly(capsys, status, expected=1):
    """Check an error: exit status, one stderr line, no traceback, no output."""
    out, err = capsys.readouterr()
    assert status == expected, err
    assert "Traceback" not in err
    assert out == ""
    if expected == 1:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("pixel-regressor: error: ")
    else:
        assert "usage: pixel-regressor" in err
    return err


def _leftovers(directory):
    """Temporary files left behind (every temporary name starts with a dot)."""
    return sorted(p.name for p in Path(directory).rglob(".*"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "results"
    proc = subprocess.run(
        [*_command(), "run", *TINY, "--out", str(out)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads((out / "report.json").read_text())
    return SimpleNamespace(out=out, stdout=proc.stdout, report=report)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Generator images saved as .npy (2-D and 3-D) and PNG (RGBA and L)."""
    from matplotlib.image import imsave
    from PIL import Image

    directory = tmp_path_factory.mktemp("images")
    X, y = pixel_regressor.make_bright_pixel_dataset(4, image_size=12, random_state=7)
    frames = X.reshape(-1, 12, 12)
    files = [directory / name for name in ("a.npy", "b.npy", "c.png", "d.png")]
    np.save(files[0], frames[0])
    np.save(files[1], frames[1][:, :, np.newaxis])
    imsave(files[2], frames[2], cmap="gray")  # RGBA
    Image.fromarray(frames[3].astype(np.uint8)).save(files[3])  # mode L
    # another size, for the soft-argmax head
    big, big_y = pixel_regressor.make_bright_pixel_dataset(
        1, image_size=(20, 16), random_state=8
    )
    files.append(directory / "e.npy")
    np.save(files[4], big.reshape(20, 16))
    return SimpleNamespace(
        files=[str(f) for f in files],
        y=np.vstack([y, big_y]),
        directory=directory,
    )


@pytest.fixture(scope="module")
def dense_model_dir(tmp_path_factory):
    X, y = pixel_regressor.make_bright_pixel_dataset(64, image_size=10, random_state=0)
    estimator = pixel_regressor.BrightPixelRegressor(
        "dense", epochs=1, random_state=0
    ).fit(X, y)
    return estimator.save(tmp_path_factory.mktemp("dense") / "model")


# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------


def test_run_writes_every_file_and_no_temporary_one(run_dir):
    names = {p.name for p in run_dir.out.iterdir()}
    assert names == {"report.json", "model", *PNGS}
    assert {p.name for p in (run_dir.out / "model").iterdir()} == {
        "estimator.json",
        "model.keras",
    }
    assert _leftovers(run_dir.out) == []


@pytest.mark.parametrize("name", PNGS)
def test_run_figures_are_valid_pngs(run_dir, name):
    from matplotlib.image import imread

    image = imread(run_dir.out / name)
    assert image.ndim == 3
    assert image.shape[2] in (3, 4)
    assert min(image.shape[:2]) >= 200
    assert image[..., :3].std() > 0  # something is drawn


def test_run_report(run_dir):
    report = run_dir.report
    assert set(report) >= REPORT_KEYS
    test = report["test"]
    assert test["n_samples"] == 45
    assert 0 <= test["exact_pixel_accuracy"] <= 1
    assert test["exact_pixel_accuracy"] >= 0.9  # soft-argmax: exact or nearly
    assert 0 <= test["mae"] <= test["mean_pixel_error"] + 1e-12
    assert test["mse"] >= 0
    assert test["r2"] <= 1
    assert report["split"] == {"train": 210, "validation": 45, "test": 45}
    assert report["centre_probe"]["pixel"] == [6, 6]
    assert report["epochs_run"] == 1
    assert set(report["last_epoch"]) == {"loss", "mae", "val_loss", "val_mae"}
    assert report["time"]["fit_s"] > 0
    assert report["time"]["predict_s"] > 0
    assert report["time"]["run_s"] >= report["time"]["fit_s"]
    command_line = report["parameters"]["command_line"]
    assert command_line["samples"] == 300
    assert command_line["image_size"] == 12
    assert command_line["random_state"] == 0
    assert command_line["head"] == "soft_argmax"
    assert command_line["batch_size"] == "auto"
    estimator = report["parameters"]["estimator"]
    assert "callbacks" not in estimator
    assert estimator["epochs"] == 1
    assert estimator["verbose"] == 0
    assert set(report["versions"]) >= VERSION_KEYS
    assert report["versions"]["pixel_regressor"] == pixel_regressor.__version__
    assert report["versions"][report["versions"]["keras_backend"]]
    assert datetime.fromisoformat(report["date"]).tzinfo is not None
    # the printed summary says the same
    assert f"exact pixel {100 * test['exact_pixel_accuracy']:.1f} %" in run_dir.stdout
    assert str(run_dir.out.resolve()) in run_dir.stdout


def test_saved_model_reloads_and_predicts_the_reported_probe(run_dir):
    estimator = pixel_regressor.load_model(run_dir.out / "model")
    probe = np.zeros((1, 12, 12), dtype=np.float32)
    probe[0, 6, 6] = 255
    assert_allclose(
        estimator.predict(probe)[0],
        run_dir.report["centre_probe"]["prediction"],
        rtol=1e-6,
    )


# ---------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["run directory", "model directory"])
def test_predict_finds_the_bright_pixel(run_dir, images, capsys, model):
    directory = run_dir.out if model == "run directory" else run_dir.out / "model"
    assert main(["predict", "--model", str(directory), *images.files]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(images.files)
    for line, file, target in zip(lines, images.files, images.y):
        name, row, col = line.split("\t")
        assert name == file
        assert row == f"{target[0]:.2f}"
        assert col == f"{target[1]:.2f}"


def test_predict_json(run_dir, images, capsys):
    files = images.files[:3]
    assert main(["predict", "--json", "--model", str(run_dir.out), *files]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in records] == files
    assert_array_equal([[r["row"], r["col"]] for r in records], images.y[:3])


def test_predict_groups_images_by_shape(run_dir, images, capsys, monkeypatch):
    from pixel_regressor.estimator import BrightPixelRegressor

    calls = []
    predict = BrightPixelRegressor.predict

    def spy(self, X):
        calls.append(np.shape(X))
        return predict(self, X)

    monkeypatch.setattr(BrightPixelRegressor, "predict", spy)
    assert main(["predict", "--model", str(run_dir.out), *images.files]) == 0
    capsys.readouterr()
    assert sorted(calls) == [(1, 20, 16), (4, 12, 12)]


def test_predict_with_a_dense_model_of_the_right_size(
    dense_model_dir, tmp_path, capsys
):
    file = tmp_path / "x.npy"
    np.save(file, np.eye(10))
    assert main(["predict", "--model", str(dense_model_dir), str(file)]) == 0
    name, row, col = capsys.readouterr().out.strip().split("\t")
    assert name == str(file)
    assert np.isfinite([float(row), float(col)]).all()


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (["run", "--samples", "abc"], "--samples"),
        (["run", "--samples", "3"], "70/15/15"),
        (["run", "--samples", "6"], "at least 7"),
        (["run", "--head", "dense", "--image-size", "3"], "--image-size"),
        (["--samples", "0", "--quiet"], "--samples"),  # `run` is the default
        (["run", "--image-size", "0"], "--image-size"),
        (["run", "--noise", "-1"], "--noise"),
        (["run", "--noise", "nan"], "--noise"),
        (["run", "--learning-rate", "0"], "--learning-rate"),
        (["run", "--random-state", "-1"], "--random-state"),
        (["run", "--head", "cnn"], "--head"),
        (["run", "--epochs", "1.5"], "--epochs"),
        (["run", "--samples", "1000000", "--image-size", "100000"], "GiB"),
        (["predict", "x.npy"], "--model"),
        (["predict", "--model", "m"], "FILE"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_usage(capsys, argv, mentions):
    err = _fails_cleanly(capsys, main(argv), expected=2)
    assert mentions in err


def test_help_and_version_exit_0(capsys):
    assert main(["--help"]) == 0
    assert "predict" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert pixel_regressor.__version__ in capsys.readouterr().out


def test_unwritable_out_fails_before_training(tmp_path, capsys, monkeypatch):
    from pixel_regressor.estimator import BrightPixelRegressor

    def no_fit(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("trained despite an unusable --out")

    monkeypatch.setattr(BrightPixelRegressor, "fit", no_fit)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out in (blocker, blocker / "sub"):
        err = _fails_cleanly(capsys, main(["run", *SMALLER, "--out", str(out)]))
        assert "cannot write to the output directory" in err
        assert str(out) in err
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        if os.access(read_only, os.W_OK):  # pragma: no cover - running as root
            return
        out = read_only / "out"
        err = _fails_cleanly(capsys, main(["run", *SMALLER, "--out", str(out)]))
        assert "cannot write to the output directory" in err
    finally:
        read_only.chmod(0o755)


@pytest.mark.parametrize("case", ["missing", "empty", "corrupt"])
def test_predict_bad_model_directory(tmp_path, images, capsys, case):
    directory = tmp_path / "model"
    if case != "missing":
        directory.mkdir()
    if case == "corrupt":
        (directory / "estimator.json").write_text("{not json")
        (directory / "model.keras").write_bytes(b"not a zip file")
    argv = ["predict", "--model", str(directory), images.files[0]]
    err = _fails_cleanly(capsys, main(argv))
    assert str(directory) in err


def test_predict_truncated_keras_file(run_dir, tmp_path, images, capsys):
    directory = tmp_path / "model"
    directory.mkdir()
    source = run_dir.out / "model"
    (directory / "estimator.json").write_text((source / "estimator.json").read_text())
    data = (source / "model.keras").read_bytes()
    (directory / "model.keras").write_bytes(data[: len(data) // 2])
    argv = ["predict", "--model", str(directory), images.files[0]]
    assert "cannot load the model" in _fails_cleanly(capsys, main(argv))


def test_predict_wrong_size_for_a_dense_model(dense_model_dir, images, capsys):
    argv = ["predict", "--model", str(dense_model_dir), images.files[0]]
    err = _fails_cleanly(capsys, main(argv))
    assert "12x12" in err
    assert "10x10" in err
    assert images.files[0] in err


def _bad_image(directory, kind):
    path = directory / {"garbage png": "x.png", "missing": "nope.npy"}.get(
        kind, "x.npy"
    )
    if kind == "garbage png":
        path.write_bytes(b"this is not a PNG")
    elif kind == "truncated png":
        path = directory / "t.png"
        from matplotlib.image import imsave

        imsave(path, np.eye(12), cmap="gray")
        path.write_bytes(path.read_bytes()[:60])
    elif kind == "garbage npy":
        path.write_bytes(b"garbage")
    elif kind == "truncated npy":
        np.save(path, np.eye(12))
        path.write_bytes(path.read_bytes()[:-10])
    elif kind == "object npy":
        np.save(path, np.array([{}], dtype=object), allow_pickle=True)
    elif kind == "rgb npy":
        np.save(path, np.zeros((12, 12, 3)))
    elif kind == "string npy":
        np.save(path, np.array([["a", "b"]]))
    elif kind == "nan npy":
        np.save(path, np.full((12, 12), np.nan))
    elif kind == "directory":
        path = directory / "dir.npy"
        path.mkdir()
    return path


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "directory",
        "garbage png",
        "truncated png",
        "garbage npy",
        "truncated npy",
        "object npy",
        "rgb npy",
        "string npy",
        "nan npy",
    ],
)
def test_predict_bad_image_file(run_dir, images, tmp_path, capsys, kind):
    bad = _bad_image(tmp_path, kind)
    argv = ["predict", "--model", str(run_dir.out), images.files[0], str(bad)]
    err = _fails_cleanly(capsys, main(argv))
    assert str(bad) in err


# ---------------------------------------------------------------------------
# interrupted runs
# ---------------------------------------------------------------------------


def test_failing_plot_leaves_the_earlier_run_as_it_was(tmp_path, capsys, monkeypatch):
    from matplotlib.figure import Figure

    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text('{"from": "an earlier run"}')

    def half_written(self, file, **kwargs):
        file.write(b"\x89PNG half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", half_written)
    err = _fails_cleanly(capsys, main(["run", *SMALLER, "--out", str(out)]))
    assert "No space left on device" in err
    # The run is all or nothing: the earlier run is untouched, nothing is left.
    assert os.listdir(out) == ["report.json"]
    assert (out / "report.json").read_text() == '{"from": "an earlier run"}'
    assert _leftovers(tmp_path) == []


def test_interrupted_run_leaves_nothing(tmp_path, capsys, monkeypatch):
    def interrupted(report):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_dump_json", interrupted)
    out = tmp_path / "out"
    assert main(["run", *SMALLER, "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_out_of_memory_is_an_error_not_a_traceback(tmp_path, capsys, monkeypatch):
    # Data that fits the machine's memory on paper but not in practice.
    def allocation_fails(args):
        raise MemoryError("Unable to allocate 35.5 PiB for an array")

    monkeypatch.setattr(cli, "_make_data", allocation_fails)
    out = tmp_path / "out"
    err = _fails_cleanly(capsys, main(["run", *SMALLER, "--out", str(out)]))
    assert "out of memory: Unable to allocate 35.5 PiB" in err
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_write_atomically_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")

    def failing(file):
        file.write("new, but not all of it")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        write_atomically(target, failing)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.json"]

    write_atomically(target, lambda file: file.write("new"))
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["report.json"]


def test_written_files_get_ordinary_permissions(run_dir):
    umask = os.umask(0)
    os.umask(umask)
    for name in ["report.json", *PNGS]:
        mode = stat.S_IMODE((run_dir.out / name).stat().st_mode)
        assert mode == 0o666 & ~umask


# ---------------------------------------------------------------------------
# the entry points
# ---------------------------------------------------------------------------


def test_python_m_and_cheap_commands_do_not_import_tensorflow(tmp_path):
    code = textwrap.dedent(
        """
        import json, sys
        from pixel_regressor.cli import main
        statuses = [main(["--help"]), main(["run", "--samples", "2"]),
                    main(["predict", "--model", "nowhere", "x.npy"])]
        heavy = [m for m in ("tensorflow", "keras") if m in sys.modules]
        print(json.dumps({"statuses": statuses, "heavy": heavy}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        check=False,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"statuses": [0, 2, 1], "heavy": []}

    proc = subprocess.run(
        [sys.executable, "-m", "pixel_regressor", "--version"],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"pixel-regressor {pixel_regressor.__version__}"

    proc = subprocess.run(
        [sys.executable, "-m", "pixel_regressor", "--samples", "3"],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert proc.returncode == 2
    assert "pixel-regressor run: error: argument --samples" in proc.stderr


# ----------------------------------------------------------------------------
# --scene spots


SPOTS = ["--scene", "spots", "--samples", "1000", "--image-size", "16"]


@pytest.fixture(scope="module")
def spots_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("spots") / "results"
    argv = ["run", *SPOTS, "--epochs", "3", "--photons", "2000", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0
    return out


def test_spots_run_reports_the_error_against_the_bound(spots_dir, capsys):
    report = json.loads((spots_dir / "report.json").read_text())
    command_line = report["parameters"]["command_line"]
    assert command_line["scene"] == "spots"
    assert command_line["head"] == "spot"
    assert command_line["photons"] == 2000.0
    assert command_line["noise"] is None
    where = report["test"]["localization"]
    assert where["crlb_per_axis"] == pytest.approx(
        float(
            np.sqrt(
                np.mean(
                    pixel_regressor.localization_crlb(
                        (16, 16), psf_sigma=1.3, photons=2000, background=10
                    )
                    ** 2
                )
            )
        ),
        rel=0.2,
    )
    assert where["rmse_over_crlb"] == pytest.approx(
        where["rmse_per_axis"] / where["crlb_per_axis"]
    )
    # trained briefly on few images, still far better than a pixel
    assert where["rmse_per_axis"] < 0.5
    assert 0 <= where["gross_miss_rate"] <= 0.05
    probe = report["centre_probe"]
    assert probe["position"] == [8.25, 7.75]
    assert_allclose(probe["prediction"], probe["position"], atol=0.25)
    for name in PNGS:
        assert (spots_dir / name).stat().st_size > 0


def test_predict_with_a_spot_model_gives_sub_pixel_positions(
    spots_dir, tmp_path, capsys
):
    images, positions = pixel_regressor.make_bright_spot_dataset(
        3, image_size=(20, 24), photons=5000, random_state=3, return_X_y=True
    )
    files = []
    for i, image in enumerate(images.reshape(3, 20, 24)):
        files.append(str(tmp_path / f"spot{i}.npy"))
        np.save(files[-1], image)
    capsys.readouterr()
    assert main(["predict", "--json", "--model", str(spots_dir), *files]) == 0
    rows = json.loads(capsys.readouterr().out)
    predicted = np.array([[row["row"], row["col"]] for row in rows])
    # a briefly trained model: well within a pixel
    assert_allclose(predicted, positions, atol=0.5)
    # sub-pixel: not the pixel centres
    assert np.abs(predicted - np.round(predicted)).max() > 0.05


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (["run", "--photons", "100"], "--photons: does not apply to --scene pixels"),
        (["run", "--scene", "spots", "--noise", "5"], "--noise"),
        (["run", "--scene", "stars"], "--scene"),
        (["run", "--scene", "spots", "--psf-sigma", "0"], "--psf-sigma"),
    ],
)
def test_scene_options_are_checked(capsys, argv, mentions):
    assert main(argv) == 2
    assert mentions in capsys.readouterr().err


def test_each_scene_defaults_to_its_own_head(monkeypatch, tmp_path):
    heads = []

    def record(args, data):
        heads.append((args.scene, args.head, args.image_size))
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_fit", record)
    for scene in ("pixels", "spots"):
        out = tmp_path / scene
        main(["run", "--scene", scene, "--samples", "20", "--quiet", "--out", str(out)])
    assert heads == [("pixels", "soft_argmax", 50), ("spots", "spot", 32)]


# ----------------------------------------------------------------------------
# image values predict reads


@pytest.mark.parametrize(
    ("scale", "offset", "dtype"),
    [
        (1e300, 0.0, np.float64),  # beyond float32's range
        (1e-4, 1e4, np.float64),  # finer than float32's precision at 1e4
        (1, 2**40, np.int64),  # the same, as integers
        (255, 0, np.uint8),
    ],
)
def test_predict_reads_any_scale_and_offset(
    run_dir, tmp_path, capsys, scale, offset, dtype
):
    image = np.zeros((12, 12))
    image[3, 8] = 1
    file = tmp_path / "image.npy"
    np.save(file, (image * scale + offset).astype(dtype))
    capsys.readouterr()
    assert main(["predict", "--json", "--model", str(run_dir.out), str(file)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["row"], row["col"]) == (3.0, 8.0)


def test_predict_refuses_complex_values(run_dir, tmp_path, capsys):
    file = tmp_path / "complex.npy"
    np.save(file, np.ones((12, 12), dtype=complex))
    err = _fails_cleanly(
        capsys, main(["predict", "--model", str(run_dir.out), str(file)])
    )
    assert "complex128 values, not real pixel values" in err


def test_predict_warns_about_a_constant_image(run_dir, tmp_path, capsys):
    file = tmp_path / "blank.npy"
    np.save(file, np.full((12, 12), 7.0))
    capsys.readouterr()
    assert main(["predict", "--model", str(run_dir.out), str(file)]) == 0
    captured = capsys.readouterr()
    assert "constant image" in captured.err
    assert str(file) in captured.out


# ----------------------------------------------------------------------------
# stacks, CSV output and deviations


def _stack(n=3, size=12, random_state=11):
    """``n`` bright-pixel images as a uint8 stack, and their positions."""
    X, y = pixel_regressor.make_bright_pixel_dataset(
        n, image_size=size, random_state=random_state
    )
    return (X.reshape(n, size, size) * 255).astype(np.uint8), y


def _png_header(width, height):
    """A PNG file that claims ``width`` x ``height`` pixels and holds none."""
    import struct
    import zlib

    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def _csv(path):
    import csv

    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def spot_model_dir(tmp_path_factory):
    X, y = pixel_regressor.make_bright_spot_dataset(
        64, image_size=15, photons=3000, random_state=0
    )
    estimator = pixel_regressor.BrightPixelRegressor(
        "spot", filters=(2,), epochs=1, random_state=0
    ).fit(X, y)
    return estimator.save(tmp_path_factory.mktemp("spot") / "model")


@pytest.mark.parametrize("kind", ["tif", "zlib tif", "pages tif", "npy"])
def test_predict_gives_a_row_per_frame_of_a_stack(run_dir, tmp_path, capsys, kind):
    import tifffile

    stack, y = _stack()
    path = tmp_path / ("stack.npy" if kind == "npy" else "stack.tif")
    if kind == "npy":
        np.save(path, stack)
    elif kind == "pages tif":
        for frame in stack:
            tifffile.imwrite(path, frame, append=True, photometric="minisblack")
    else:
        compression = "zlib" if kind == "zlib tif" else None
        tifffile.imwrite(path, stack, compression=compression, photometric="minisblack")
    capsys.readouterr()
    assert main(["predict", "--model", str(run_dir.out), str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{path}[{i}]\t{row:.2f}\t{col:.2f}" for i, (row, col) in enumerate(y)
    ]


def test_predict_json_and_csv_name_the_frames(run_dir, images, tmp_path, capsys):
    stack, y = _stack()
    np.save(tmp_path / "stack.npy", stack)
    files = [images.files[0], str(tmp_path / "stack.npy")]
    expected = [(files[0], 0, *images.y[0])] + [
        (files[1], i, row, col) for i, (row, col) in enumerate(y)
    ]
    capsys.readouterr()
    assert main(["predict", "--json", "--model", str(run_dir.out), *files]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["file"], r["frame"], r["row"], r["col"]) for r in records] == expected

    out = tmp_path / "positions.csv"
    assert (
        main(["predict", "--model", str(run_dir.out), "--out", str(out), *files]) == 0
    )
    assert "4 position(s) written to" in capsys.readouterr().out
    rows = _csv(out)
    assert list(rows[0]) == ["file", "frame", "row", "col"]
    assert [
        (r["file"], int(r["frame"]), float(r["row"]), float(r["col"])) for r in rows
    ] == expected
    assert _leftovers(tmp_path) == []


def test_predict_csv_and_deviations_of_a_spot_model(spot_model_dir, tmp_path, capsys):
    import tifffile

    X, y = pixel_regressor.make_bright_spot_dataset(
        3, image_size=15, photons=3000, random_state=1
    )
    stack = X.reshape(3, 15, 15)
    tifffile.imwrite(tmp_path / "spots.tif", stack, photometric="minisblack")
    out = tmp_path / "spots.csv"
    argv = ["predict", "--std", "--model", str(spot_model_dir), "--out", str(out)]
    assert main([*argv, str(tmp_path / "spots.tif")]) == 0
    rows = _csv(out)
    assert list(rows[0]) == ["file", "frame", "row", "col", "row_std", "col_std"]
    assert [int(r["frame"]) for r in rows] == [0, 1, 2]
    estimator = pixel_regressor.load_model(spot_model_dir)
    y_pred, y_std = estimator.predict(stack, return_std=True)
    got = np.array(
        [[float(r[k]) for k in ("row", "col", "row_std", "col_std")] for r in rows]
    )
    assert_allclose(got, np.hstack([y_pred, y_std]), rtol=1e-6)
    assert (got[:, 2:] > 0).all()

    capsys.readouterr()
    argv = ["predict", "--std", "--model", str(spot_model_dir)]
    assert main([*argv, str(tmp_path / "spots.tif")]) == 0
    fields = capsys.readouterr().out.splitlines()[0].split("\t")
    assert len(fields) == 5
    assert float(fields[3]) == pytest.approx(y_std[0, 0], abs=5e-4)


def test_predict_std_needs_a_spot_head(run_dir, images, capsys):
    argv = ["predict", "--std", "--model", str(run_dir.out), images.files[0]]
    err = _fails_cleanly(capsys, main(argv))
    assert "--std" in err
    assert "head='soft_argmax'" in err
    assert "spot" in err


def test_predict_out_is_checked_before_tensorflow(
    run_dir, images, tmp_path, capsys, monkeypatch
):
    def no_tensorflow():  # pragma: no cover - must not be reached
        raise AssertionError("TensorFlow started")

    monkeypatch.setattr(cli, "_start_tensorflow", no_tensorflow)
    argv = ["predict", "--model", str(run_dir.out), images.files[0], "--out"]
    assert "is a directory" in _fails_cleanly(capsys, main([*argv, str(tmp_path)]))
    missing = tmp_path / "nowhere" / "x.csv"
    assert "does not exist" in _fails_cleanly(capsys, main([*argv, str(missing)]))
    both = ["predict", "--json", "--out", "x.csv", "--model", "m", "x.npy"]
    assert "not allowed with" in _fails_cleanly(capsys, main(both), expected=2)


@pytest.mark.parametrize("side", [12000, 20000])
def test_predict_refuses_a_huge_png_before_decoding_it(
    run_dir, tmp_path, capsys, monkeypatch, side
):
    from PIL import ImageFile

    def fail(*args):  # pragma: no cover - must not be reached
        raise AssertionError("decoded, or TensorFlow started")

    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)
    monkeypatch.setattr(cli, "_start_tensorflow", fail)
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(side, side))
    err = _fails_cleanly(
        capsys, main(["predict", "--model", str(run_dir.out), str(path)])
    )
    assert str(path) in err
    assert "refused before decoding" in err
    assert f"{side * side}" in err.replace(",", "")


def test_predict_max_pixels(run_dir, images, capsys):
    argv = ["predict", "--model", str(run_dir.out), images.files[0]]
    err = _fails_cleanly(capsys, main([*argv, "--max-pixels", "143"]))
    assert "12x12 pixels (144) is more than max_pixels=143" in err
    assert "--max-pixels" in err
    assert main([*argv, "--max-pixels", "144"]) == 0
    capsys.readouterr()
    _fails_cleanly(capsys, main([*argv, "--max-pixels", "0"]), expected=2)


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        (lambda p: np.save(p, np.ones((4, 12, 12), dtype=bool)), "bool values"),
        (lambda p: p.write_bytes(b"II*\x00garbage"), "not a readable TIFF"),
        (lambda p: p.write_bytes(b""), "not a readable image"),
    ],
)
def test_predict_refuses_files_that_are_not_images(
    run_dir, tmp_path, capsys, content, mentions
):
    path = tmp_path / "bad"
    content(path)
    if path.with_suffix(".npy").exists():
        path = path.with_suffix(".npy")
    argv = ["predict", "--model", str(run_dir.out), str(path)]
    err = _fails_cleanly(capsys, main(argv))
    assert str(path) in err
    assert mentions in err


def test_predict_names_the_frame_with_nan_and_warns_of_constant_frames(
    run_dir, tmp_path, capsys
):
    stack, _ = _stack(4)
    stack = stack.astype(np.float32)
    stack[[1, 3]] = 5.0
    np.save(tmp_path / "flat.npy", stack)
    capsys.readouterr()
    assert (
        main(["predict", "--model", str(run_dir.out), str(tmp_path / "flat.npy")]) == 0
    )
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 4
    assert "2 of its 4 frames are constant images (frames 1, 3)" in captured.err

    stack[2, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", stack)
    err = _fails_cleanly(
        capsys,
        main(["predict", "--model", str(run_dir.out), str(tmp_path / "nan.npy")]),
    )
    assert "nan.npy' (frame 2) contains NaN or infinite pixel values" in err


def test_predict_reads_long_stacks_in_batches(run_dir, tmp_path, capsys, monkeypatch):
    from pixel_regressor.estimator import BrightPixelRegressor

    calls = []
    predict = BrightPixelRegressor.predict

    def spy(self, X):
        calls.append(len(X))
        return predict(self, X)

    monkeypatch.setattr(BrightPixelRegressor, "predict", spy)
    monkeypatch.setattr(cli, "_BATCH_PIXELS", 4 * 144)  # four 12x12 frames
    stack, y = _stack(10)
    np.save(tmp_path / "long.npy", stack)
    capsys.readouterr()
    argv = [
        "predict",
        "--json",
        "--model",
        str(run_dir.out),
        str(tmp_path / "long.npy"),
    ]
    assert main(argv) == 0
    records = json.loads(capsys.readouterr().out)
    assert calls == [4, 4, 2]
    assert_array_equal([[r["row"], r["col"]] for r in records], y)
