"""``pixel-regressor run``'s output directory is all or nothing.

In-process runs on 60 images of 8x8 pixels, one epoch.
"""

import json
import os
import subprocess
import sys
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
