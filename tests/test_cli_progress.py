"""What ``pixel-regressor run`` prints and draws: progress that suits where it
goes, and a predictions figure that suits the targets."""

import io
import re
from types import SimpleNamespace

import numpy as np
import pytest

from pixel_regressor import cli
from pixel_regressor.cli import main
from pixel_regressor.plotting import CoordinatePredictionDisplay

SMALL = ["--samples", "60", "--image-size", "8", "--epochs", "2"]
# Carriage returns, backspaces and ANSI escape sequences: a terminal's codes.
CONTROL = re.compile(r"[\r\b]|\x1b\[")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


class _Closed(io.StringIO):
    def isatty(self):
        raise ValueError("I/O operation on closed file")


@pytest.mark.parametrize(
    ("quiet", "stream", "verbose"),
    [
        (False, _Terminal(), 1),  # a progress bar
        (False, io.StringIO(), 2),  # one line per epoch
        (False, _Closed(), 2),
        (False, object(), 2),  # no isatty at all
        (True, _Terminal(), 0),
        (True, io.StringIO(), 0),
    ],
)
def test_progress_suits_where_the_output_goes(quiet, stream, verbose):
    args = SimpleNamespace(quiet=quiet)
    assert cli._progress_verbosity(args, stream) == verbose


@pytest.fixture
def drawn_statistics(monkeypatch):
    """The statistics the run writes on its error histogram."""
    texts = []
    from_predictions = CoordinatePredictionDisplay.from_predictions.__func__

    def spy(cls, *args, **kwargs):
        display = from_predictions(cls, *args, **kwargs)
        texts.append(display.stats_text_.get_text())
        return display

    monkeypatch.setattr(
        CoordinatePredictionDisplay, "from_predictions", classmethod(spy)
    )
    return texts


# The run's probe is a noiseless spot, outside the conditions of training.
@pytest.mark.filterwarnings("ignore:Images outside the conditions")
def test_a_spots_run_reports_the_rmse_over_the_bound_not_exact_pixels(
    tmp_path, drawn_statistics, capsys
):
    out = tmp_path / "out"
    argv = ["run", "--scene", "spots", *SMALL, "--image-size", "12", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()

    (text,) = drawn_statistics
    assert "exact pixel" not in text
    report = cli.json.loads((out / "report.json").read_text())
    where = report["test"]["localization"]
    assert f"RMSE per axis: {where['rmse_per_axis']:.3f} px" in text
    ratio = where["rmse_per_axis"] / where["crlb_per_axis"]
    assert f"{ratio:.2f}x the Cramer-Rao bound" in text
    assert np.isfinite(ratio)


def test_a_redirected_run_writes_one_plain_line_per_epoch(
    tmp_path, capsys, drawn_statistics
):
    # capsys's standard output is not a terminal, as a file or a pipe is not.
    assert main(["run", *SMALL, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out

    assert not CONTROL.search(out), repr(out)
    lines = out.splitlines()
    assert "Epoch 1/2" in lines
    assert "Epoch 2/2" in lines
    # each epoch's line, after its heading: steps, time, loss, val_loss
    for heading in ("Epoch 1/2", "Epoch 2/2"):
        line = lines[lines.index(heading) + 1]
        assert re.match(r"\d+/\d+ - .*loss: .*val_loss: ", line), line
    # single pixels: the share of exact pixels is on the error histogram
    (text,) = drawn_statistics
    assert "exact pixel" in text
    assert "RMSE" not in text
