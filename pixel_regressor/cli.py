"""The ``pixel-regressor`` command line (also ``python -m pixel_regressor``).

Commands
--------
``pixel-regressor run`` (the default when no command is given)
    The original notebook end to end: generate the images (``--samples``,
    ``--image-size``, ``--noise``, from ``--random-state``), split them
    70/15/15 into training, validation and test sets exactly as the notebook
    did, fit a :class:`~pixel_regressor.BrightPixelRegressor` (``--head``,
    ``--epochs``, ``--batch-size``, ``--learning-rate``) with the validation
    set, evaluate it on the test set, and write to ``--out``:

    - ``report.json``: test metrics (MSE, MAE, mean pixel error, exact-pixel
      accuracy, R²), the prediction for one bright pixel at the image centre,
      fit and predict times, parameters, split sizes, package versions, date;
    - ``training_curves.png``, ``predictions.png`` and ``sample.png``;
    - ``model/``: the fitted estimator, reloadable with
      :func:`pixel_regressor.load_model`.

    A run is all or nothing: its files are written into a temporary
    directory beside ``--out``, which is renamed into place at the end. An
    interrupted or failed run leaves ``--out`` as it was; two runs into one
    ``--out`` leave the files of one of them, never a mix (``report.json``
    records a ``run_id`` and the SHA-256 of ``model/model.keras``). An
    existing ``--out`` is replaced whole if it is an earlier run's output;
    any other non-empty directory is refused unless ``--overwrite`` is given.
    An ``--out`` that cannot be renamed (a mount point) has its contents
    replaced instead, ``report.json`` removed first and written last.

``pixel-regressor predict --model DIR FILE...``
    Load a saved model (a ``model/`` directory, or the ``--out`` directory of
    a run) and print ``FILE<TAB>row<TAB>col`` for each image file, and
    ``FILE[FRAME]<TAB>row<TAB>col`` for each frame of a stack (``--json``: a
    JSON list of ``{"file", "frame", "row", "col"}``; ``--out FILE.csv``: a
    CSV file of those columns, written all or nothing). ``--std`` adds each
    position's standard deviations, ``row_std`` and ``col_std`` (the spot
    heads). Files are read by :func:`pixel_regressor.io.read_frames`:
    ``.npy`` arrays of shape ``(height, width)`` or ``(height, width, 1)``,
    or stacks ``(frames, height, width)``, memory-mapped; TIFF files, every
    page; PNG, JPEG, BMP, GIF, WebP or any other format Pillow reads; colour
    images are turned to grayscale by the mean of their RGB channels. Frames
    of more than ``--max-pixels`` pixels (default: Pillow's limit,
    89,478,485) are refused from the file's header, before decoding. Stacks
    are read and predicted a few frames at a time.

``pixel-regressor locate MOVIE --model DIR --out FILE``
    Find and localise every spot of every frame of ``MOVIE`` (read as
    ``predict`` reads files, a batch of frames at a time) with a locator
    saved by :meth:`SpotLocator.save <pixel_regressor.SpotLocator.save>`, or
    one built around a saved spot model (``--psf-sigma`` and
    ``--false-alarm-rate`` set its detection), and write the table of
    localisations to ``FILE``: ``.csv``, or ``.hdf5`` / ``.h5`` for
    Picasso's HDF5 file and its ``.yaml`` (see
    :func:`pixel_regressor.io.write_localizations`). Beside it,
    ``FILE_render.png``, the super-resolution image (``--oversampling`` bins
    per pixel), and ``FILE_frame.png``, one frame (``--frame``; the one with
    the most localisations by default) with its localisations circled, unless
    ``--no-images``. Progress goes to the standard error: a bar on a
    terminal, a line per tenth of the movie otherwise.

Errors in the arguments exit with status 2 (argparse's usage message); errors
while running (an unwritable output directory, a missing or corrupt model, an
unreadable image, ...) print one ``pixel-regressor: error: ...`` line on
stderr and exit with status 1. TensorFlow is imported only once the arguments
are known to be valid, so ``pixel-regressor --help`` is instant, and
TensorFlow's start-up messages (oneDNN, CUDA drivers absent) are not shown.

Examples
--------
>>> from pixel_regressor.cli import main
>>> main(["run", "--samples", "6"])  # too few images to score on the test set
2
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

from . import __version__
from ._io import (
    atomic_directory,
    replaces_in_place,
    sha256_of,
    visible_entries,
    write_atomically,
)
from ._tensorflow_logs import start_keras
from .exceptions import OutsideTrainingWarning
from .io import MAX_PIXELS
from .models import HEADS

__all__ = ["main"]

PROG = "pixel-regressor"
_COMMANDS = ("run", "predict", "locate")

# Files of a run's output directory (its model directory is written by
# BrightPixelRegressor.save).
REPORT_FILE = "report.json"
CURVES_FILE = "training_curves.png"
PREDICTIONS_FILE = "predictions.png"
SAMPLE_FILE = "sample.png"
MODEL_DIR = "model"
RUN_FILES = (REPORT_FILE, CURVES_FILE, PREDICTIONS_FILE, SAMPLE_FILE, MODEL_DIR)
# Formats `predict` reads: .npy, TIFF, and through Pillow these (and any other).
IMAGE_FORMATS = "PNG, JPEG, BMP, TIFF, GIF, WebP"
# Pixels of the frames `predict` gathers before predicting them: 32 MiB of
# float64.
_BATCH_PIXELS = 1 << 22

# The notebook's split: 70 % training, then the other 30 % halved into
# validation and test sets, both times with this seed.
_TEST_SIZE = 0.3
_SPLIT_SEED = 1234
_INTENSITY = 255.0
# What `run --scene` generates, and the defaults of the options that depend on
# it (None: the option does not apply to the scene).
_SCENE_DEFAULTS = {
    "pixels": {
        "image_size": 50,
        "noise": 0.0,
        "photons": None,
        "background": None,
        "psf_sigma": None,
        "hot_pixels": None,
    },
    "spots": {
        "image_size": 32,
        "noise": None,
        "photons": 1000.0,
        "background": 10.0,
        "psf_sigma": 1.3,
        "hot_pixels": 0,
    },
}
_SPOT_DEFAULTS = _SCENE_DEFAULTS["spots"]
# A first epoch's loss below this means the model was exact from the start.
_EXACT_LOSS = 1e-12
_EXACT_NOTE = (
    "The model was exact from its first epoch: on single bright pixels the "
    "soft-argmax and spot heads read the brightest pixel from their "
    "initialisation, as np.argmax does, and training has nothing to improve. "
    "Blurred spots "
    "(--scene spots) are where training matters."
)
# A prediction farther than this from the spot is a gross miss, in pixels.
_GROSS_MISS = 3.0
# R² and the other test metrics need at least this many test images.
_MIN_TEST = 2


class CommandError(Exception):
    """An error to report on one line, with exit status 1."""


# ---------------------------------------------------------------------------
# argument types
# ---------------------------------------------------------------------------


def _int_at_least(minimum, maximum=None):
    def convert(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if (
            value is None
            or value < minimum
            or (maximum is not None and value > maximum)
        ):
            bound = f"an integer >= {minimum}"
            if maximum is not None:
                bound = f"an integer in [{minimum}, {maximum}]"
            raise argparse.ArgumentTypeError(f"expected {bound}, got {text!r}")
        return value

    return convert


def _float_at_least(minimum, *, strict):
    def convert(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            sign = ">" if strict else ">="
            raise argparse.ArgumentTypeError(
                f"expected a finite number {sign} {minimum:g}, got {text!r}"
            )
        return value

    return convert


def _split_sizes(n_samples):
    """Training, validation and test sizes of the notebook's split.

    The same arithmetic as :func:`sklearn.model_selection.train_test_split`
    (the test part is rounded up), so it can be checked before any import.
    """
    n_rest = math.ceil(_TEST_SIZE * n_samples)
    n_test = math.ceil(0.5 * n_rest)
    return n_samples - n_rest, n_rest - n_test, n_test


def _splits_enough(n_samples):
    train, val, test = _split_sizes(n_samples)
    return min(train, val) >= 1 and test >= _MIN_TEST


def _min_samples():
    """The fewest images whose split trains, validates and can be scored."""
    n = 1
    while not _splits_enough(n):
        n += 1
    return n


# ---------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------


def _build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Find the one bright pixel in grayscale images. Without a command, "
            "`run` is assumed."
        ),
        epilog=f"Run `{PROG} COMMAND --help` for a command's options.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="generate data, train, evaluate, and write a report, plots and the model",
        description=(
            "Reproduce the original notebook end to end: generate images, split "
            "them 70/15/15 (training/validation/test), fit, evaluate on the test "
            "set, and write report.json, training_curves.png, predictions.png, "
            "sample.png and the fitted model (model/) to --out. With --scene "
            "spots, the images hold blurred spots at sub-pixel positions with "
            "photon noise, and the report compares the error with the "
            "Cramer-Rao bound."
        ),
    )
    data = run.add_argument_group("data")
    data.add_argument(
        "--scene",
        choices=_scenes(),
        default="pixels",
        help=(
            "pixels: one bright pixel per image, as in the notebook; spots: a "
            "blurred spot with photon noise (default: %(default)s)"
        ),
    )
    data.add_argument(
        "--samples",
        type=_int_at_least(1),
        default=15000,
        metavar="N",
        help="number of images (default: %(default)s)",
    )
    data.add_argument(
        "--image-size",
        type=_int_at_least(1),
        metavar="PIXELS",
        help="side of the square images (default: "
        + ", ".join(
            f"{defaults['image_size']} for {scene}"
            for scene, defaults in _SCENE_DEFAULTS.items()
        )
        + ")",
    )
    data.add_argument(
        "--noise",
        type=_float_at_least(0.0, strict=False),
        metavar="SIGMA",
        help=(
            "pixels: standard deviation of the Gaussian background noise, on the "
            f"0-255 scale (default: {_SCENE_DEFAULTS['pixels']['noise']:g})"
        ),
    )
    spots = run.add_argument_group("spots (with --scene spots)")
    spots.add_argument(
        "--photons",
        type=_float_at_least(0.0, strict=True),
        metavar="N",
        help=f"expected photons of each spot (default: {_SPOT_DEFAULTS['photons']:g})",
    )
    spots.add_argument(
        "--background",
        type=_float_at_least(0.0, strict=False),
        metavar="B",
        help="expected background photons per pixel (default: "
        f"{_SPOT_DEFAULTS['background']:g})",
    )
    spots.add_argument(
        "--psf-sigma",
        type=_float_at_least(0.0, strict=True),
        metavar="PIXELS",
        help="width of the Gaussian point-spread function (default: "
        f"{_SPOT_DEFAULTS['psf_sigma']:g})",
    )
    spots.add_argument(
        "--hot-pixels",
        type=_int_at_least(0),
        metavar="K",
        help="hot pixels per image, at 3x the spot's peak (default: "
        f"{_SPOT_DEFAULTS['hot_pixels']})",
    )
    data.add_argument(
        "--random-state",
        type=_int_at_least(0, 2**32 - 1),
        default=0,
        metavar="SEED",
        help="seed of the images and of the model's weights (default: %(default)s)",
    )
    model = run.add_argument_group("model")
    model.add_argument(
        "--head",
        choices=tuple(HEADS),
        help="; ".join(f"{name}: {spec.summary}" for name, spec in HEADS.items())
        + " (default: the first head made for the scene: "
        + ", ".join(f"{scene}: {_scene_head(scene)}" for scene in _scenes())
        + ")",
    )
    model.add_argument(
        "--epochs",
        type=_int_at_least(1),
        metavar="N",
        help="passes over the training set (default: auto, set by the head)",
    )
    model.add_argument(
        "--batch-size",
        type=_int_at_least(1),
        metavar="N",
        help="training batch size (default: auto, set by the head)",
    )
    model.add_argument(
        "--learning-rate",
        type=_float_at_least(0.0, strict=True),
        metavar="RATE",
        help="Adam's learning rate (default: auto, set by the head)",
    )
    output = run.add_argument_group("output")
    output.add_argument(
        "--out",
        type=Path,
        default=Path("pixel-regressor-run"),
        metavar="DIR",
        help="directory to write the results to, created if needed, or an "
        "earlier run's output, replaced whole (default: ./%(default)s/)",
    )
    output.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even if it is a non-empty directory that holds "
        "something else than an earlier run's output (its contents are deleted)",
    )
    output.add_argument(
        "--quiet",
        action="store_true",
        help="no progress nor messages: only the final summary (progress is a "
        "bar on a terminal, one line per epoch in a file or a pipe)",
    )
    run.set_defaults(handler=_run_command)

    predict = commands.add_parser(
        "predict",
        help="predict the bright pixel of image files with a saved model",
        description=(
            "Print FILE<TAB>row<TAB>col (rounded to 2 decimals) for each image, "
            "FILE[FRAME]<TAB>row<TAB>col for each frame of a stack. Images: .npy "
            "arrays of shape (height, width) or (height, width, 1), stacks of "
            "shape (frames, height, width); TIFF files, every page; image files: "
            f"{IMAGE_FORMATS} or any other format Pillow reads (colour is turned "
            "to grayscale)."
        ),
    )
    predict.add_argument(
        "--model",
        type=Path,
        required=True,
        metavar="DIR",
        help=(
            "a saved model directory, or the output directory of "
            f"`{PROG} run` (its {MODEL_DIR}/ is used)"
        ),
    )
    written = predict.add_mutually_exclusive_group()
    written.add_argument(
        "--json",
        action="store_true",
        help='print a JSON list of {"file", "frame", "row", "col"}',
    )
    written.add_argument(
        "--out",
        type=Path,
        metavar="FILE.csv",
        help="write the positions to FILE.csv instead (columns file, frame, row, "
        "col, at full precision), all or nothing",
    )
    predict.add_argument(
        "--std",
        action="store_true",
        help="add each position's standard deviation, row_std and col_std (the "
        "spot heads)",
    )
    predict.add_argument(
        "--max-pixels",
        type=_int_at_least(1),
        default=MAX_PIXELS,
        metavar="N",
        help="refuse frames of more than N pixels, from the file's header, before "
        "decoding them (default: %(default)s, Pillow's limit)",
    )
    predict.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help=f"image files: .npy, {IMAGE_FORMATS}, ...",
    )
    predict.set_defaults(handler=_predict_command)

    locate = commands.add_parser(
        "locate",
        help="find and localise every spot of every frame of a movie",
        description=(
            "Find and localise every spot of every frame of MOVIE (a TIFF stack, "
            ".npy array or image file, read a batch of frames at a time) with a "
            "saved SpotLocator, and write the table of localisations to --out "
            "(.csv; .hdf5 or .h5: Picasso's HDF5 file and its .yaml), beside it "
            "OUT_render.png (the super-resolution image: a 2-D histogram of the "
            "localisations) and OUT_frame.png (one frame with its localisations "
            "circled)."
        ),
    )
    locate.add_argument("movie", metavar="MOVIE", help="the movie: .tif, .npy, ...")
    locate.add_argument(
        "--model",
        type=Path,
        required=True,
        metavar="DIR",
        help="a locator saved by SpotLocator.save, or a spot model saved by "
        "BrightPixelRegressor.save (head spot or spot_fit; its locator measures "
        "the PSF's width on the movie unless --psf-sigma is given)",
    )
    locate.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="the table: FILE.csv, or FILE.hdf5 (Picasso's HDF5 and YAML files)",
    )
    locate.add_argument(
        "--psf-sigma",
        type=_float_at_least(0, strict=True),
        metavar="PX",
        help="the PSF's width in pixels (default: the saved locator's, or "
        "measured on the movie)",
    )
    locate.add_argument(
        "--false-alarm-rate",
        type=_float_at_least(0, strict=True),
        metavar="P",
        help="expected false detections per pixel in noise (default: the saved "
        "locator's, or 1e-6)",
    )
    locate.add_argument(
        "--pixel-size",
        type=_float_at_least(0, strict=True),
        metavar="NM",
        help="the camera's pixel size in nm, written to Picasso's metadata",
    )
    locate.add_argument(
        "--oversampling",
        type=_int_at_least(1, 64),
        default=8,
        metavar="N",
        help="bins per camera pixel of the rendered image (default: %(default)s)",
    )
    locate.add_argument(
        "--frame",
        type=_int_at_least(0),
        metavar="N",
        help="the frame drawn with its localisations (default: the one with the most)",
    )
    locate.add_argument(
        "--no-images",
        action="store_true",
        help="write the table only, without the two PNG files",
    )
    locate.add_argument(
        "--max-pixels",
        type=_int_at_least(1),
        default=MAX_PIXELS,
        metavar="N",
        help="refuse frames of more than N pixels, from the file's header, before "
        "decoding them (default: %(default)s, Pillow's limit)",
    )
    locate.add_argument(
        "--quiet",
        action="store_true",
        help="no progress: only the final summary (progress is a bar on a "
        "terminal, a line per tenth of the movie in a file or a pipe)",
    )
    locate.set_defaults(handler=_locate_command)
    return parser, {"run": run, "predict": predict, "locate": locate}


def _scenes():
    """The scenes that some head is made for."""
    made_for = {spec.scene for spec in HEADS.values()}
    return tuple(scene for scene in _SCENE_DEFAULTS if scene in made_for)


def _scene_head(scene):
    """The default head of a scene: the first one made for it."""
    return next(name for name, spec in HEADS.items() if spec.scene == scene)


def _resolve_scene(args):
    """Fill in the scene's defaults; return an error message or None."""
    defaults = _SCENE_DEFAULTS[args.scene]
    for name, default in defaults.items():
        given = getattr(args, name)
        if default is None and given is not None:
            option = "--" + name.replace("_", "-")
            return f"argument {option}: does not apply to --scene {args.scene}"
        if given is None:
            setattr(args, name, default)
    if args.head is None:
        args.head = _scene_head(args.scene)
    return None


def _with_default_command(argv):
    """``argv`` with ``run`` in front when no command is given."""
    if not argv or (
        argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")
    ):
        return ["run", *argv]
    return argv


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------


def _is_earlier_run(directory):
    """Whether ``directory`` holds an earlier run's output, and nothing else."""
    names = {p.name for p in visible_entries(directory)}
    return names <= set(RUN_FILES) and (
        (directory / REPORT_FILE).is_file() or (directory / MODEL_DIR).is_dir()
    )


def _check_replaceable(out, overwrite):
    """Refuse an ``--out`` that a run may not replace (CommandError)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise CommandError(
            f"cannot write to the output directory {str(out)!r}: it exists and is "
            "not a directory"
        )
    cwd = Path.cwd().resolve()
    if cwd == out.resolve() or out.resolve() in cwd.parents:
        raise CommandError(
            f"--out {str(out)!r} is the current directory or holds it, which a "
            "run cannot replace; choose another output directory"
        )
    if overwrite or not visible_entries(out) or _is_earlier_run(out):
        return
    others = sorted(p.name for p in visible_entries(out) if p.name not in RUN_FILES)
    shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    raise CommandError(
        f"--out {str(out)!r} is not empty and is not the output of an earlier run "
        f"(it holds {shown or 'no ' + REPORT_FILE}); choose another directory, or "
        "pass --overwrite to replace it and delete its contents"
    )


def _prepare_output_directory(out, overwrite=False):
    """Check, before any work, that ``out`` can be written and replaced.

    The run is written into a temporary directory beside ``out``, so it is
    ``out``'s parent that must be writable (or ``out`` itself, if it is a
    directory that cannot be renamed, such as a mount point).
    """
    _check_replaceable(out, overwrite)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        where = out if replaces_in_place(out) else out.parent
        probe = tempfile.mkdtemp(dir=where, prefix=f".{out.name}.probe-")
        os.rmdir(probe)
    except OSError as exc:
        raise CommandError(
            f"cannot write to the output directory {str(out)!r}: {exc.strerror or exc}"
        ) from None


def _start_tensorflow():
    """Import Keras and start its backend without TensorFlow's start-up lines.

    See :mod:`pixel_regressor._tensorflow_logs`: ``TF_CPP_MIN_LOG_LEVEL=2``
    unless set, the lines TensorFlow writes while loading and while looking
    for GPUs filtered out; a user who sets ``TF_CPP_MIN_LOG_LEVEL=0`` sees
    everything.
    """
    start_keras()


def _json_ready(value):
    """``value`` with tuples as lists and non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return _json_ready(value.item())
    return value


def _dump_json(data):
    return json.dumps(_json_ready(data), indent=2, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------


def _versions():
    import platform
    from importlib import metadata

    import keras
    import numpy
    import sklearn

    def installed(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    backend = keras.backend.backend()
    backend_module = sys.modules.get(backend)
    return {
        "pixel_regressor": __version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "keras": keras.__version__,
        "keras_backend": backend,
        backend: getattr(backend_module, "__version__", None) or installed(backend),
        "scikeras": installed("scikeras"),
        "matplotlib": installed("matplotlib"),
        "python": platform.python_version(),
    }


def _metric_names(history):
    """Metric names of a history, without ``val_``, in order."""
    names = {}
    for key in history:
        names.setdefault(key[4:] if key.startswith("val_") else key, None)
    return list(names)


def _save_figure(figure, path):
    write_atomically(path, lambda file: figure.savefig(file, format="png"), binary=True)


def _write_plots(out, estimator, y_test, y_pred, first_image, random_state, crlb=None):
    """Draw the three figures and write them to ``out``.

    ``crlb``, the Cramer-Rao bound per axis of a spots run, puts the RMSE and
    its ratio to the bound on the error histogram (the share of exact pixels
    means nothing for sub-pixel spots).
    """
    import matplotlib

    # Off-screen drawing; a process that already uses pyplot keeps its backend.
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from .plotting import (
        CoordinatePredictionDisplay,
        SampleImageDisplay,
        TrainingHistoryDisplay,
    )

    # Figures made without pyplot: nothing to close, no window ever opened.
    names = _metric_names(estimator.history_)
    figure = Figure(figsize=(5 * len(names), 4), layout="constrained")
    TrainingHistoryDisplay.from_estimator(estimator, ax=figure.subplots(1, len(names)))
    _save_figure(figure, out / CURVES_FILE)

    figure = Figure(figsize=(11, 5), layout="constrained")
    CoordinatePredictionDisplay.from_predictions(
        y_test,
        y_pred,
        image_shape=first_image.shape,
        ax=figure.subplots(1, 2),
        random_state=random_state,
        crlb=crlb,
    )
    _save_figure(figure, out / PREDICTIONS_FILE)

    figure = Figure(figsize=(5, 5), layout="constrained")
    SampleImageDisplay.from_predictions(
        first_image, y_true=y_test[0], y_pred=y_pred[0], ax=figure.subplots()
    )
    _save_figure(figure, out / SAMPLE_FILE)


def _say(args, message):
    if not args.quiet:
        print(message, flush=True)


def _progress_verbosity(args, stream=None):
    """Keras's ``verbose`` for the fit: what suits where the output goes.

    0 with ``--quiet``; 1 (a progress bar, redrawn with carriage returns,
    backspaces and colours) when the standard output is a terminal; 2 (one
    plain line per epoch) when it is a file or a pipe.
    """
    if args.quiet:
        return 0
    stream = sys.stdout if stream is None else stream
    try:
        terminal = bool(stream.isatty())
    except (AttributeError, OSError, ValueError):  # None, closed or odd streams
        terminal = False
    return 1 if terminal else 2


def _make_data(args):
    """The images and the notebook's 70/15/15 split, as a dict of arrays."""
    from sklearn.model_selection import train_test_split

    from .datasets import make_bright_pixel_dataset, make_bright_spot_dataset

    size = args.image_size
    _say(
        args,
        f"Generating {args.samples} images of {size}x{size} pixels ({args.scene})...",
    )
    if args.scene == "spots":
        X, y = make_bright_spot_dataset(
            args.samples,
            image_size=size,
            psf_sigma=args.psf_sigma,
            photons=args.photons,
            background=args.background,
            hot_pixels=args.hot_pixels,
            random_state=args.random_state,
        )
    else:
        X, y = make_bright_pixel_dataset(
            args.samples,
            image_size=size,
            intensity=_INTENSITY,
            noise=args.noise,
            random_state=args.random_state,
        )
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, test_size=_TEST_SIZE, random_state=_SPLIT_SEED
    )
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, test_size=0.5, random_state=_SPLIT_SEED
    )
    return {
        "image_shape": (size, size),
        "scene": args.scene,
        "train": (X_train, y_train),
        "validation": (X_val, y_val),
        "test": (X_test, y_test),
    }


def _auto(value):
    return "auto" if value is None else value


def _fit(args, data):
    """Fit the estimator the command line describes, with validation data."""
    from .estimator import BrightPixelRegressor

    estimator = BrightPixelRegressor(
        args.head,
        learning_rate=_auto(args.learning_rate),
        epochs=_auto(args.epochs),
        batch_size=_auto(args.batch_size),
        verbose=_progress_verbosity(args),
        random_state=args.random_state,
    )
    X_train, y_train = data["train"]
    _say(
        args,
        f"Training the {args.head} head on {len(X_train)} images "
        f"(validation {len(data['validation'][0])}, test {len(data['test'][0])})...",
    )
    return estimator.fit(X_train, y_train, validation_data=data["validation"])


def _evaluate(args, estimator, data):
    """Test-set metrics, the centre probe and the predictions."""
    import numpy as np
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    from .metrics import exact_pixel_accuracy, mean_pixel_error

    X_test, y_test = data["test"]
    start = time.perf_counter()
    y_pred = estimator.predict(X_test)
    predict_time = time.perf_counter() - start

    height, width = data["image_shape"]
    spots = data["scene"] == "spots"
    test = {
        "n_samples": len(y_test),
        "mse": mean_squared_error(y_test, y_pred),
        "mae": mean_absolute_error(y_test, y_pred),
        "mean_pixel_error": mean_pixel_error(y_test, y_pred),
        "exact_pixel_accuracy": exact_pixel_accuracy(
            y_test, y_pred, round_y_true=spots
        ),
        "r2": r2_score(y_test, y_pred) if len(y_test) > 1 else None,
    }
    if spots:
        test["localization"] = _localization(args, data["image_shape"], y_test, y_pred)
        # a noiseless spot off the centre pixel
        centre = [height // 2 + 0.25, width // 2 - 0.25]
        probe = _spot_image(args, data["image_shape"], centre)
        probe_key = "position"
    else:
        centre = [height // 2, width // 2]
        probe = np.zeros((1, height * width), dtype=X_test.dtype)
        probe[0, centre[0] * width + centre[1]] = _INTENSITY
        probe_key = "pixel"
    with warnings.catch_warnings():
        # A noiseless probe is outside any noisy training set by design: the
        # run's own check, not the user's images, so no warning about it.
        warnings.simplefilter("ignore", OutsideTrainingWarning)
        prediction = estimator.predict(probe)[0].tolist()
    return {
        "y_pred": y_pred,
        "test": test,
        "centre_probe": {probe_key: centre, "prediction": prediction},
        "predict_s": predict_time,
    }


def _spot_image(args, image_shape, position):
    """The expected counts of one spot at ``position``, flattened, (1, h*w)."""
    import numpy as np

    from ._psf import expected_counts

    image = expected_counts(
        image_shape,
        np.asarray([position], dtype=np.float64),
        args.psf_sigma,
        np.asarray([args.photons]),
        args.background,
    )
    return np.asarray(image, dtype=np.float32).reshape(1, -1)


def _localization(args, image_shape, y_test, y_pred):
    """Per-axis RMSE against the Cramer-Rao bound, and the gross misses."""
    import numpy as np

    from .metrics import localization_crlb

    errors = np.asarray(y_pred, dtype=np.float64) - y_test
    rmse = float(np.sqrt(np.mean(errors**2)))
    bounds = localization_crlb(
        image_shape,
        psf_sigma=args.psf_sigma,
        photons=args.photons,
        background=args.background,
        position=y_test,
    )
    crlb = float(np.sqrt(np.mean(bounds**2)))
    return {
        "rmse_per_axis": rmse,
        "crlb_per_axis": crlb,
        "rmse_over_crlb": rmse / crlb,
        "gross_miss_rate": float(np.mean(np.linalg.norm(errors, axis=1) > _GROSS_MISS)),
        "hot_pixels": args.hot_pixels,
        "note": (
            "crlb_per_axis is the root mean square of each test spot's bound "
            "without hot pixels"
        ),
    }


def _report(args, data, estimator, evaluation):
    """The contents of ``report.json``."""
    report = {
        "test": evaluation["test"],
        "centre_probe": evaluation["centre_probe"],
        "time": {"fit_s": estimator.fit_time_, "predict_s": evaluation["predict_s"]},
        "epochs_run": estimator.n_iter_,
        "last_epoch": {k: v[-1] for k, v in estimator.history_.items()},
        "split": {part: len(data[part][0]) for part in ("train", "validation", "test")},
        "parameters": {
            "command_line": {
                "scene": args.scene,
                "samples": args.samples,
                "image_size": args.image_size,
                "noise": args.noise,
                "photons": args.photons,
                "background": args.background,
                "psf_sigma": args.psf_sigma,
                "hot_pixels": args.hot_pixels,
                "random_state": args.random_state,
                "head": args.head,
                "epochs": _auto(args.epochs),
                "batch_size": _auto(args.batch_size),
                "learning_rate": _auto(args.learning_rate),
                "out": str(args.out),
                "overwrite": args.overwrite,
                "quiet": args.quiet,
            },
            "estimator": {
                k: v for k, v in estimator.get_params().items() if k != "callbacks"
            },
        },
        "versions": _versions(),
        "files": {
            "model": MODEL_DIR,
            "training_curves": CURVES_FILE,
            "predictions": PREDICTIONS_FILE,
            "sample": SAMPLE_FILE,
        },
    }
    if estimator.history_["loss"][0] < _EXACT_LOSS:
        report["note"] = _EXACT_NOTE
    return report


def _write(args, data, estimator, evaluation, report, started):
    """Write the model, the figures and the report, then move them to ``--out``.

    Everything is written into a temporary directory beside ``--out``, renamed
    into place at the end (replacing an earlier run's output), so that
    ``--out`` holds the files of one complete run or is left as it was. The
    report's ``run_s`` covers everything from ``started`` but writing the
    report itself.
    """
    from datetime import datetime, timezone

    out = args.out
    _say(args, f"Writing the results to {out}...")

    def may_replace(target):
        _check_replaceable(target, args.overwrite)

    with atomic_directory(out, may_replace=may_replace, last=REPORT_FILE) as tmp:
        estimator.save(tmp / MODEL_DIR)
        report["files"]["model_sha256"] = sha256_of(tmp / MODEL_DIR / "model.keras")
        X_test, y_test = data["test"]
        _write_plots(
            tmp,
            estimator,
            y_test,
            evaluation["y_pred"],
            X_test[0].reshape(data["image_shape"]),
            args.random_state,
            crlb=evaluation["test"].get("localization", {}).get("crlb_per_axis"),
        )
        report["time"]["run_s"] = time.perf_counter() - started
        report["date"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_atomically(tmp / REPORT_FILE, lambda file: file.write(_dump_json(report)))


def _summary(report, out):
    test, time_s = report["test"], report["time"]
    probe, epochs = report["centre_probe"], report["epochs_run"]
    row, col = probe["prediction"][:2]
    if "localization" in test:
        where = test["localization"]
        first = (
            f"Test set ({test['n_samples']} images): RMSE per axis "
            f"{where['rmse_per_axis']:.4f} px, {where['rmse_over_crlb']:.2f}x the "
            f"Cramer-Rao bound ({where['crlb_per_axis']:.4f} px), gross misses "
            f"{100 * where['gross_miss_rate']:.1f} %\n"
            f"Spot at ({probe['position'][0]:.2f}, {probe['position'][1]:.2f}) "
            f"predicted at ({row:.3f}, {col:.3f})\n"
        )
    else:
        r2 = "n/a" if test["r2"] is None else f"{test['r2']:.4f}"
        first = (
            f"Test set ({test['n_samples']} images): MAE {test['mae']:.4f} px, "
            f"mean pixel error {test['mean_pixel_error']:.4f} px, "
            f"exact pixel {100 * test['exact_pixel_accuracy']:.1f} %, R² {r2}\n"
            f"Centre pixel {tuple(probe['pixel'])} predicted at "
            f"({row:.2f}, {col:.2f})\n"
        )
    return (
        first
        + f"Fit {time_s['fit_s']:.1f} s ({epochs} epoch{'' if epochs == 1 else 's'}), "
        f"predict {time_s['predict_s']:.2f} s, total {time_s['run_s']:.1f} s\n"
        f"Wrote {REPORT_FILE}, {CURVES_FILE}, {PREDICTIONS_FILE}, {SAMPLE_FILE} "
        f"and {MODEL_DIR}/ to {out.resolve()}"
    )


def _run_command(args):
    """``run``: data, fit, evaluate, write."""
    started = time.perf_counter()
    args.out = Path(os.path.abspath(args.out))
    if args.out.parent == args.out:
        raise CommandError(f"--out {str(args.out)!r} cannot be a file system root")
    _prepare_output_directory(args.out, args.overwrite)
    _start_tensorflow()

    data = _make_data(args)
    estimator = _fit(args, data)
    evaluation = _evaluate(args, estimator, data)
    report = _report(args, data, estimator, evaluation)
    report["run_id"] = uuid.uuid4().hex
    _write(args, data, estimator, evaluation, report, started)
    print(_summary(report, args.out))
    if "note" in report:
        _say(args, "Note: " + report["note"])
    return 0


# ---------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------


def _model_directory(path):
    """The model directory ``path`` points to (itself or its ``model/``)."""
    if not path.exists():
        raise CommandError(f"model directory {str(path)!r} does not exist")
    if not path.is_dir():
        raise CommandError(f"--model {str(path)!r} is not a directory")
    from .estimator import _SAVED_FILES

    if any((path / name).exists() for name in _SAVED_FILES):
        return path
    if (path / MODEL_DIR).is_dir():
        return path / MODEL_DIR
    raise CommandError(
        f"{str(path)!r} holds no saved model ({' nor '.join(_SAVED_FILES)}, nor a "
        f"{MODEL_DIR}/ directory): pass a directory written by `{PROG} run` or "
        "BrightPixelRegressor.save"
    )


def _open_frames(file, max_pixels):
    """The frames of one image file (see :func:`pixel_regressor.io.read_frames`)."""
    from .io import ImageTooLargeError, read_frames

    try:
        return read_frames(file, max_pixels=max_pixels)
    except FileNotFoundError:
        raise CommandError(f"{file!r}: no such file") from None
    except IsADirectoryError:
        raise CommandError(f"{file!r} is not a file") from None
    except ImageTooLargeError as exc:
        raise CommandError(f"{exc} --max-pixels sets the limit") from None
    except (ValueError, TypeError) as exc:
        raise CommandError(str(exc).rstrip(".")) from None
    except OSError as exc:
        raise CommandError(f"{file!r}: {exc.strerror or exc}") from None


def _check_csv_target(out):
    """Refuse an ``--out`` that cannot be written, before any work."""
    if out.is_dir():
        raise CommandError(f"--out {str(out)!r} is a directory, not a file")
    parent = out.parent
    if not parent.is_dir():
        raise CommandError(f"--out: the directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CommandError(f"--out: cannot write to the directory {str(parent)!r}")


def _is_out_of_memory(exc):
    """Whether ``exc`` is an allocation that failed (NumPy's or TensorFlow's)."""
    return (
        isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError"
    )


def _frame_label(file, frame, n_frames):
    """``'FILE'``, or ``'FILE' (frame N)`` for a frame of a stack."""
    return repr(file) if n_frames == 1 else f"{file!r} (frame {frame})"


class _Predictions:
    """Frames waiting for the model, grouped by size, predicted in batches.

    The frames of every file go through :func:`pixel_regressor.io.
    iter_frame_batches`; frames of one size wait until :data:`_BATCH_PIXELS`
    pixels wait in all, and are then predicted in one call per size: memory
    stays a few batches, whatever the number and length of the stacks.
    """

    def __init__(self, estimator, files, n_frames, std):
        import numpy as np

        self.estimator, self.files, self.std = estimator, files, std
        width = 4 if std else 2
        self.results = [np.empty((n, width)) for n in n_frames]
        self.waiting, self.pixels = {}, 0

    def add(self, index, start, batch):
        self.waiting.setdefault(batch.shape[1:], []).append((index, start, batch))
        self.pixels += batch.size
        if self.pixels >= _BATCH_PIXELS:
            self.flush()

    def flush(self):
        import numpy as np

        for (height, width), parts in self.waiting.items():
            files = ", ".join(dict.fromkeys(repr(self.files[i]) for i, _, _ in parts))
            try:
                images = np.concatenate([batch for _, _, batch in parts])
                if self.std:
                    out = np.hstack(self.estimator.predict(images, return_std=True))
                else:
                    out = self.estimator.predict(images)
            except (ValueError, TypeError) as exc:
                raise CommandError(f"{files} ({height}x{width}): {exc}") from None
            except Exception as exc:
                if not _is_out_of_memory(exc):
                    raise
                raise CommandError(
                    f"{files} ({height}x{width}): out of memory while predicting: "
                    f"{_one_line(exc)[:200]}; --max-pixels refuses images this large"
                ) from None
            done = 0
            for index, start, batch in parts:
                self.results[index][start : start + len(batch)] = out[
                    done : done + len(batch)
                ]
                done += len(batch)
        self.waiting, self.pixels = {}, 0


def _checked_batch(file, start, batch, n_frames, constant):
    """Refuse NaN and infinite pixels; note the constant frames in ``constant``."""
    import numpy as np

    flat = batch.reshape(len(batch), -1)
    low, high = flat.min(axis=1), flat.max(axis=1)
    if batch.dtype.kind == "f":
        bad = ~(np.isfinite(low) & np.isfinite(high))
        if bad.any():
            where = _frame_label(file, start + int(np.argmax(bad)), n_frames)
            raise CommandError(f"{where} contains NaN or infinite pixel values")
    constant.extend(start + np.flatnonzero(low == high))


def _warn_constant(file, constant, n_frames):
    if not constant:
        return
    if n_frames == 1:
        what = f"{file!r} is a constant image"
    else:
        shown = ", ".join(str(i) for i in constant[:5])
        more = ", ..." if len(constant) > 5 else ""
        what = (
            f"{file!r}: {len(constant)} of its {n_frames} frames are constant images "
            f"(frames {shown}{more})"
        )
    print(
        f"{PROG}: warning: {what}: it has no bright point, and its prediction is "
        "only the model's answer for a blank image",
        file=sys.stderr,
    )


def _rows(args, n_frames, results):
    """One record per frame: file, frame, row, col (and row_std, col_std)."""
    names = ("row", "col", "row_std", "col_std")
    for file, n, values in zip(args.files, n_frames, results):
        for frame in range(n):
            record = {"file": file, "frame": frame}
            record.update(zip(names, (float(v) for v in values[frame])))
            yield record


def _write_csv(out, records, std):
    import csv

    columns = ["file", "frame", "row", "col"] + (["row_std", "col_std"] if std else [])

    def write(file):
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(columns)
        count = 0
        for record in records:
            writer.writerow(
                repr(value) if isinstance(value, float) else value
                for value in (record[name] for name in columns)
            )
            count += 1
        write.count = count

    write_atomically(out, write)
    return write.count


def _print_rows(records, *, as_json, std, n_frames_of):
    def rounded(value, digits):
        return round(value, digits) + 0.0  # never -0.0

    if as_json:
        print(
            json.dumps(
                [
                    {
                        name: rounded(value, 3 if name.endswith("_std") else 2)
                        if isinstance(value, float)
                        else value
                        for name, value in record.items()
                    }
                    for record in records
                ]
            )
        )
        return
    for record in records:
        label = record["file"]
        if n_frames_of[label] > 1:
            label = f"{label}[{record['frame']}]"
        row, col = rounded(record["row"], 2), rounded(record["col"], 2)
        line = f"{label}\t{row:.2f}\t{col:.2f}"
        if std:
            line += (
                f"\t{rounded(record['row_std'], 3):.3f}"
                f"\t{rounded(record['col_std'], 3):.3f}"
            )
        print(line)


def _predict_command(args):
    from .io import TiffFrames, iter_frame_batches

    directory = _model_directory(args.model)
    if args.out is not None:
        _check_csv_target(args.out)
    # Every file is opened (its header checked, Pillow's formats decoded)
    # before TensorFlow starts; TIFF files are reopened when their turn comes.
    sources, n_frames = [], []
    for file in args.files:
        frames = _open_frames(file, args.max_pixels)
        n_frames.append(len(frames))
        if isinstance(frames, TiffFrames):
            frames.close()
            frames = None
        sources.append(frames)

    _start_tensorflow()
    from .estimator import load_model

    try:
        estimator = load_model(directory)
    except (OSError, ValueError) as exc:
        raise CommandError(
            f"cannot load the model in {str(directory)!r}: {exc}"
        ) from None
    if estimator.n_outputs_ != 2:
        raise CommandError(
            f"the model in {str(directory)!r} predicts {estimator.n_outputs_} "
            "value(s) per image, not a (row, col) position"
        )
    head = estimator._fitted_head()
    if args.std and not head.predicts_std:
        heads = ", ".join(name for name, spec in HEADS.items() if spec.predicts_std)
        raise CommandError(
            f"--std: the model in {str(directory)!r} has head={head.name!r}, which "
            f"predicts no standard deviations (heads that do: {heads})"
        )

    predictions = _Predictions(estimator, args.files, n_frames, args.std)
    for index, (file, frames) in enumerate(zip(args.files, sources)):
        if frames is None:
            frames = _open_frames(file, args.max_pixels)
        constant = []
        try:
            for start, batch in iter_frame_batches(frames, batch_pixels=_BATCH_PIXELS):
                _checked_batch(file, start, batch, n_frames[index], constant)
                predictions.add(index, start, batch)
        finally:
            if isinstance(frames, TiffFrames):
                frames.close()
        sources[index] = None
        _warn_constant(file, constant, n_frames[index])
    predictions.flush()

    records = _rows(args, n_frames, predictions.results)
    if args.out is not None:
        count = _write_csv(args.out, records, args.std)
        print(f"{count} position(s) written to {args.out}")
    else:
        _print_rows(
            records,
            as_json=args.json,
            std=args.std,
            n_frames_of=dict(zip(args.files, n_frames)),
        )
    return 0


# ---------------------------------------------------------------------------
# locate
# ---------------------------------------------------------------------------

# Beside the table FILE.csv: FILE_render.png and FILE_frame.png.
RENDER_SUFFIX = "_render.png"
FRAME_SUFFIX = "_frame.png"
_TABLE_SUFFIXES = (".csv", ".hdf5", ".h5")


def _image_paths(out):
    """The PNG files written beside the table ``out``."""
    stem = out.with_suffix("")
    return (
        stem.with_name(stem.name + RENDER_SUFFIX),
        stem.with_name(stem.name + FRAME_SUFFIX),
    )


class _Progress:
    """Frames located so far: a bar on a terminal, else a line per tenth.

    Written to the standard error, so that the standard output holds the
    summary only. On a terminal the bar is redrawn with a carriage return;
    in a file or a pipe a plain line is written each time another tenth of
    the movie (at least one batch) is done, and at the end.
    """

    def __init__(self, n_frames, *, quiet, stream=None):
        self.n_frames, self.quiet = n_frames, quiet
        self.stream = sys.stderr if stream is None else stream
        try:
            self.terminal = bool(self.stream.isatty())
        except (AttributeError, OSError, ValueError):
            self.terminal = False
        self.started = time.perf_counter()
        self.step = max(1, math.ceil(n_frames / 10))
        self.next_line = self.step

    def update(self, done):
        if self.quiet:
            return
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = done / elapsed
        if self.terminal:
            width = 30
            filled = int(width * done / max(self.n_frames, 1))
            left = (self.n_frames - done) / rate if rate > 0 else 0.0
            print(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.n_frames} "
                f"frames, {rate:.1f} frames/s, {left:.0f} s left ",
                end="\n" if done >= self.n_frames else "",
                file=self.stream,
                flush=True,
            )
        elif done >= self.next_line or done >= self.n_frames:
            print(
                f"located {done}/{self.n_frames} frames ({rate:.1f} frames/s)",
                file=self.stream,
                flush=True,
            )
            self.next_line = (done // self.step + 1) * self.step


def _check_table_target(out):
    if out.suffix.lower() not in _TABLE_SUFFIXES:
        raise CommandError(
            f"--out {str(out)!r}: the table is written to a .csv file, or to a "
            ".hdf5 or .h5 file (Picasso's HDF5 and YAML files)"
        )
    _check_csv_target(out)


def _load_locator(args):
    """The locator of ``--model``: a saved locator, or one around a spot model."""
    from . import _locator_persistence
    from .locator import SpotLocator, load_locator

    overrides = {
        name: value
        for name, value in (
            ("psf_sigma", args.psf_sigma),
            ("false_alarm_rate", args.false_alarm_rate),
        )
        if value is not None
    }
    path = args.model
    if _locator_persistence.is_saved_locator(path):
        try:
            locator = load_locator(path)
        except (OSError, ValueError) as exc:
            raise CommandError(
                f"cannot load the locator in {str(path)!r}: {exc}"
            ) from None
        return locator.set_params(**overrides), bool(overrides)
    directory = _model_directory(path)
    from .estimator import load_model

    try:
        model = load_model(directory)
    except (OSError, ValueError) as exc:
        raise CommandError(
            f"cannot load the model in {str(directory)!r}: {exc}"
        ) from None
    head = model._fitted_head()
    if head.scene != "spots":
        raise CommandError(
            f"the model in {str(directory)!r} has head={head.name!r}; locating spots "
            "needs a saved SpotLocator, or a spot model (head spot or spot_fit)"
        )
    return SpotLocator(model, **overrides), True


def _locate_movie(locator, frames, progress):
    """The table of every frame's localisations, a batch of frames at a time."""
    import pandas as pd

    n_frames = len(frames)
    tables = []
    step = int(locator.batch_frames)
    progress.update(0)
    for start in range(0, n_frames, step):
        stop = min(start + step, n_frames)
        table = locator.locate(frames[start:stop])
        table["frame"] += start
        tables.append(table)
        progress.update(stop)
    if not tables:
        return locator.locate(frames[:0])
    return pd.concat(tables, ignore_index=True)


def _write_images(args, frames, table):
    """The super-resolution image and one frame with its localisations."""
    import matplotlib
    import numpy as np

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from .plotting import LocalizationsDisplay, SuperResolutionDisplay

    n_frames, height, width = frames.shape
    render_path, frame_path = _image_paths(args.out)
    figure = Figure(figsize=(7, 7 * height / width + 0.6), layout="constrained")
    SuperResolutionDisplay.from_predictions(
        table,
        image_shape=(height, width),
        oversampling=args.oversampling,
        ax=figure.subplots(),
    )
    _save_figure(figure, render_path)

    if args.frame is not None:
        if args.frame >= n_frames:
            raise CommandError(
                f"--frame {args.frame}: the movie has {n_frames} frame(s)"
            )
        frame = args.frame
    else:
        counts = np.bincount(table["frame"].to_numpy(), minlength=n_frames)
        frame = int(np.argmax(counts))
    figure = Figure(figsize=(7, 7 * height / width + 0.6), layout="constrained")
    LocalizationsDisplay.from_predictions(
        frames, table, frame=frame, ax=figure.subplots()
    )
    _save_figure(figure, frame_path)
    return render_path, frame_path


def _locate_command(args):
    from .io import TiffFrames, write_localizations

    _check_table_target(args.out)
    if not args.model.exists():
        raise CommandError(f"model directory {str(args.model)!r} does not exist")
    frames = _open_frames(args.movie, args.max_pixels)
    try:
        _start_tensorflow()
        locator, refit = _load_locator(args)
        try:
            if refit:
                locator.fit(frames)
            progress = _Progress(len(frames), quiet=args.quiet)
            table = _locate_movie(locator, frames, progress)
        except ValueError as exc:
            raise CommandError(f"{args.movie!r}: {_one_line(exc)}") from None
        try:
            write_localizations(
                table,
                args.out,
                frames_shape=tuple(frames.shape),
                psf_sigma=locator.psf_sigma_,
                pixel_size=args.pixel_size,
            )
        except ImportError as exc:
            raise CommandError(str(exc)) from None
        images = () if args.no_images else _write_images(args, frames, table)
    finally:
        if isinstance(frames, TiffFrames):
            frames.close()
    written = [str(args.out)]
    if args.out.suffix.lower() != ".csv":
        written.append(str(args.out.with_suffix(".yaml")))
    written += [str(path) for path in images]
    print(
        f"{len(table)} localisation(s) in {len(frames)} frame(s) written to "
        + ", ".join(written)
    )
    return 0


# ---------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------


def _run_arguments_problem(args):
    """Why ``run`` cannot score its model with these sizes, or None.

    Checked before TensorFlow is imported, so a hopeless run fails at once.
    """
    if not _splits_enough(args.samples):
        train, val, test = _split_sizes(args.samples)
        return (
            f"argument --samples: {args.samples} images split 70/15/15 give "
            f"{train}/{val}/{test} training/validation/test images; scoring needs "
            f"at least {_MIN_TEST} test images: use at least {_min_samples()}"
        )
    minimum = HEADS[args.head].min_image_size()
    if args.image_size < minimum:
        return (
            f"argument --image-size: the {args.head} head needs images of at least "
            f"{minimum}x{minimum} pixels, got {args.image_size}"
        )
    # The float32 images, and their training/validation/test split (a copy).
    needed = 2 * 4 * args.samples * args.image_size**2
    memory = _physical_memory()
    if memory is not None and needed > memory:
        return (
            f"arguments --samples and --image-size: {args.samples} images of "
            f"{args.image_size}x{args.image_size} pixels need about "
            f"{_gib(needed)} of memory with their split, more than this "
            f"machine's {_gib(memory)}"
        )
    return None


def _physical_memory():
    """This machine's memory in bytes, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _gib(nbytes):
    return f"{nbytes / 2**30:,.1f} GiB"


def _one_line(message):
    return " ".join(str(message).split())


def main(argv=None):
    """Run the command line.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 1 on an error while running, 2 on invalid arguments
        (130 when interrupted).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, commands = _build_parser()
    try:
        args = parser.parse_args(_with_default_command(argv))
    except SystemExit as exc:  # --help, --version, or a usage error (already shown)
        return exc.code if isinstance(exc.code, int) else 2

    if args.command == "run":
        problem = _resolve_scene(args) or _run_arguments_problem(args)
        if problem:
            try:
                commands["run"].error(problem)
            except SystemExit as exc:
                return exc.code

    try:
        return args.handler(args)
    except CommandError as exc:
        message = exc
    except (OSError, ValueError) as exc:  # from the package, with their own text
        message = exc
    except MemoryError as exc:
        message = f"out of memory: {exc or 'an allocation failed'}"
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)
    return 1
