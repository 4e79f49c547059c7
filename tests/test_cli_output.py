"""``pixel-regressor run``'s output directory is all or nothing; a quiet start.

In-process runs on 60 images of 8x8 pixels, one epoch; one run in a
subprocess for the start-up messages.
"""

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import pixel_regressor
from pixel_regressor import _io, cli
from pixel_regressor.cli import main

SMALLER = ["--samples", "60", "--image-size", "8", "--epochs", "1", "--quiet"]


def _run(out, *extra):
    return main(["run", *SMALLER, "--out", str(out), *extra])


def _contents(directory):
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(Path(directory).rglob("*"))
        if p.is_file()
    }


def _leftovers(directory):
    return sorted(p.name for p in Path(directory).rglob(".*"))


def _consistent(out):
    """The report and the model come from the same run."""
    report = json.loads((out / "report.json").read_text())
    meta = json.loads((out / "model" / "estimator.json").read_text())
    assert report["files"]["model_sha256"] == meta["model_sha256"]
    estimator = pixel_regressor.load_model(out / "model")
    size = report["parameters"]["command_line"]["image_size"]
    assert estimator.image_shape_ == (size, size)
    assert (
        report["parameters"]["command_line"]["random_state"]
        == (report["parameters"]["estimator"]["random_state"])
    )
    return report


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("earlier") / "out"
    assert _run(out) == 0
    return out


def test_a_run_records_its_id_and_model_digest(earlier_run):
    report = _consistent(earlier_run)
    assert len(report["run_id"]) == 32
    assert _leftovers(earlier_run.parent) == []


def test_interrupted_run_leaves_the_earlier_run_intact(
    earlier_run, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    os.rename(earlier_run, out)  # borrowed, put back at the end
    try:
        before = _contents(out)

        def interrupted(report):
            raise KeyboardInterrupt

        monkeypatch.setattr(cli, "_dump_json", interrupted)
        assert _run(out) == 130
        assert "interrupted" in capsys.readouterr().err
        assert _contents(out) == before
        assert _leftovers(tmp_path) == []
    finally:
        os.rename(out, earlier_run)


def test_a_run_replaces_an_earlier_run_whole(earlier_run, tmp_path, capsys):
    out = tmp_path / "out"
    os.rename(earlier_run, out)
    try:
        first = _consistent(out)
        assert _run(out, "--random-state", "5") == 0
        capsys.readouterr()
        second = _consistent(out)
        assert second["run_id"] != first["run_id"]
        assert second["parameters"]["command_line"]["random_state"] == 5
        assert _leftovers(tmp_path) == []
    finally:
        os.rename(out, earlier_run)


def test_a_run_finishing_during_another_leaves_one_whole_run(
    tmp_path, capsys, monkeypatch
):
    """Run B starts and completes while run A writes; A's files replace B's."""
    out = tmp_path / "out"
    write_plots = cli._write_plots
    inner = []

    def plots_with_another_run(*args, **kwargs):
        if not inner:
            inner.append(True)
            assert _run(out, "--image-size", "9", "--random-state", "3") == 0
            assert _consistent(out)["parameters"]["command_line"]["image_size"] == 9
        return write_plots(*args, **kwargs)

    monkeypatch.setattr(cli, "_write_plots", plots_with_another_run)
    assert _run(out) == 0
    capsys.readouterr()
    report = _consistent(out)
    assert report["parameters"]["command_line"]["image_size"] == 8
    assert _leftovers(tmp_path) == []


def test_concurrent_replacements_never_mix(tmp_path):
    """Writers racing to replace one directory leave one writer's files."""
    target = tmp_path / "out"
    errors = []

    def writer(name):
        try:
            for round_ in range(20):
                with _io.atomic_directory(target) as tmp:
                    for file in ("report.json", "model"):
                        (tmp / file).write_text(f"{name}-{round_}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    contents = {p.read_text() for p in target.iterdir()}
    assert len(contents) == 1
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_foreign_out_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from pixel_regressor.estimator import BrightPixelRegressor

    def no_fit(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("trained despite a refused --out")

    monkeypatch.setattr(BrightPixelRegressor, "fit", no_fit)
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert _run(out) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert "is not empty and is not the output of an earlier run" in lines[0]
    assert "thesis.tex" in lines[0]
    assert "--overwrite" in lines[0]
    assert os.listdir(out) == ["thesis.tex"]
    # An earlier run with a file of the user's added is foreign too.
    (out / "report.json").write_text("{}")
    assert _run(out) == 1
    assert "thesis.tex" in capsys.readouterr().err


def test_overwrite_replaces_a_foreign_out(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    assert _run(out, "--overwrite") == 0
    capsys.readouterr()
    assert "old.txt" not in os.listdir(out)
    _consistent(out)


def test_out_holding_the_current_directory_is_refused(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    (out / "inside").mkdir(parents=True)
    monkeypatch.chdir(out / "inside")
    assert _run(out, "--overwrite") == 1
    assert "current directory" in capsys.readouterr().err
    assert (out / "inside").is_dir()


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path, capsys):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    host = _io._host_tag()
    stale = tmp_path / f".out.tmp-{host}-{proc.pid}-0badcafe"
    stale.mkdir()
    (stale / "report.json").write_text("{}")
    live = tmp_path / f".out.tmp-{host}-{os.getpid()}-0badcafe"
    live.mkdir()
    assert _run(tmp_path / "out") == 0
    capsys.readouterr()
    assert not stale.exists()
    assert live.exists()  # another run, still going
    live.rmdir()
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------------------
# start-up
# ---------------------------------------------------------------------------


def _command():
    script = Path(sys.executable).with_name("pixel-regressor")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "pixel_regressor"]  # pragma: no cover


def test_start_up_is_quiet(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    argv = ["run", "--samples", "40", "--image-size", "8", "--epochs", "1"]
    proc = subprocess.run(
        [*_command(), *argv, "--quiet", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for marker in ("I0000", "E0000", "W0000", "cuda", "CUDA", "oneDNN", "absl"):
        assert marker not in proc.stderr, proc.stderr
    assert proc.stderr == ""


def test_start_up_filter_keeps_real_errors():
    code = textwrap.dedent(
        """
        import os
        from pixel_regressor._tensorflow_logs import filtered_stderr, is_startup_noise

        noise = (
            "WARNING: All log messages before absl::InitializeLog() is called "
            "are written to STDERR\\n"
            "I0000 00:00:1796038023.997647   19591 port.cc:153] oneDNN custom "
            "operations are on.\\n"
            "E0000 00:00:1796038033.035673   19591 cuda_platform.cc:52] failed "
            "call to cuInit: INTERNAL: CUDA error\\n"
        )
        real = "E0000 00:00:1796038033.035673   19591 op.cc:1] disk on fire\\n"
        with filtered_stderr(is_startup_noise):
            os.write(2, (noise + real).encode())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "E0000 00:00:1796038033.035673   19591 op.cc:1] disk on fire"
    ]


def test_predict_help_names_every_format(capsys):
    assert main(["predict", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in (".npy", "PNG", "JPEG", "BMP", "TIFF", "GIF"):
        assert name in text


@pytest.mark.parametrize(
    ("suffix", "mode"), [(".jpg", "L"), (".bmp", "L"), (".tif", "I;16"), (".gif", "P")]
)
def test_predict_reads_the_formats_it_names(
    earlier_run, tmp_path, capsys, suffix, mode
):
    import numpy as np
    from PIL import Image

    image = np.zeros((8, 8), dtype=np.uint8)
    image[2, 5] = 255
    pil = Image.fromarray(image.astype(np.uint16) * 257 if mode == "I;16" else image)
    if mode == "P":
        pil = pil.convert("P")
    path = tmp_path / f"x{suffix}"
    pil.save(path)
    assert main(["predict", "--model", str(earlier_run), str(path)]) == 0
    _, row, col = capsys.readouterr().out.strip().split("\t")
    assert (round(float(row)), round(float(col))) == (2, 5)


@pytest.mark.parametrize(
    ("damage", "mentions"),
    [
        ("future format", "newer version"),
        ("other digest", "SHA-256"),
        ("deep nesting", "nested too deeply"),
        ("huge number", "out of range"),
        ("not a zip", "could not be loaded"),
    ],
)
def test_predict_reports_a_bad_save_in_one_line(
    earlier_run, tmp_path, capsys, damage, mentions
):
    import numpy as np

    model = tmp_path / "model"
    model.mkdir()
    for name in ("estimator.json", "model.keras"):
        (model / name).write_bytes((earlier_run / "model" / name).read_bytes())
    meta = json.loads((model / "estimator.json").read_text())
    if damage == "future format":
        meta["format"] = 99
    elif damage == "other digest":
        meta["model_sha256"] = "0" * 64
    if damage == "deep nesting":
        text = "[" * 50_000 + "]" * 50_000
    elif damage == "huge number":
        text = json.dumps(meta).replace('"n_iter_": 1', '"n_iter_": 1e400')
    else:
        text = json.dumps(meta)
    (model / "estimator.json").write_text(text)
    if damage == "not a zip":
        (model / "model.keras").write_bytes(b"PK\x03\x04 truncated")
    image = tmp_path / "x.npy"
    np.save(image, np.eye(8))
    assert main(["predict", "--model", str(model), str(image)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("pixel-regressor: error: cannot load the model")
    assert mentions in lines[0]
    assert "File not found" not in lines[0]


def test_out_that_cannot_be_renamed_gets_its_contents_replaced(
    earlier_run, tmp_path, capsys, monkeypatch
):
    import errno

    replace_directory = _io.replace_directory

    def busy(new, target, **kwargs):
        """Like a mount point: --out itself cannot be renamed."""
        if Path(target) == out:
            raise OSError(errno.EBUSY, "Device or resource busy", str(target))
        return replace_directory(new, target, **kwargs)

    out = tmp_path / "out"
    os.rename(earlier_run, out)
    try:
        first = _consistent(out)
        monkeypatch.setattr(_io, "replace_directory", busy)
        assert _run(out, "--random-state", "4") == 0
        capsys.readouterr()
        second = _consistent(out)
        assert second["run_id"] != first["run_id"]
        assert sorted(os.listdir(out)) == sorted(cli.RUN_FILES)
        assert _leftovers(tmp_path) == []
    finally:
        os.rename(out, earlier_run)
