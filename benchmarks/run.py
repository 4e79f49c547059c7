"""Benchmark pixel_regressor against the notebook it grew out of.

Usage::

    python benchmarks/run.py [--quick] [--out benchmarks/results/latest.json]

Runs every measurement of ``measurements.py`` in its own fresh Python process,
one after the other, then checks the results against the targets below,
writes them to a JSON file (default ``benchmarks/results/latest.json``, or
``quick.json`` with ``--quick``), renders that file to Markdown beside it
(``report.py``) and prints the Markdown.

What is measured, side by side in one run:

1. Training on the notebook's protocol (15000 images of 50x50, split 70/15/15,
   test = ``x_temp``): the notebook's own code, ``BrightPixelRegressor(
   head="dense")`` and the default estimator: fit time, epochs, test MAE,
   exact-pixel accuracy, mean Euclidean error and peak RSS. Each fit is
   timed with Keras and its backend already imported, as the notebook's
   (the imports count in "import + first fit"). Targets: each estimator's
   peak RSS at most the notebook's, the default estimator's fit at most 0.1x
   the notebook's.
2. Accuracy goals of the default estimator: notebook protocol MAE <= 0.01 px
   and exact >= 99.9 %; exact >= 99.9 % on a quadrant never seen in training
   (the dense head is run there for contrast); MAE <= 0.05 px on 80x120
   images after training on 50x50; exact >= 99.9 % with noise 25, and at
   noise 50 within 0.5 percentage points of ``np.argmax`` on the same test
   set. The dense head: MAE <= 0.6 px on the notebook protocol.
3. Prediction throughput on 20000 images: the default estimator at least 5x
   the notebook CNN's best and at least 10 % of ``np.argmax``'s.
4. Data generation: ``make_bright_pixel_dataset`` at least 2x faster than the
   notebook's loop (both including a ``.sum()`` that touches every page), and
   a traced memory peak at most 1.1x the returned ``X``.
5. ``import pixel_regressor`` under 0.3 s (best of 5 fresh interpreters); the
   import plus the first fit of the default estimator, against the
   notebook's ``import tensorflow`` plus its fit.
6. Scaling of the default estimator with n (1,500, 15,000, 150,000): flagged
   if the fit or predict time per image grows more than 1.5x from the middle
   to the largest n, or if the memory the largest run adds to the process
   exceeds twice its data.
7. Memory over many training calls on fresh data, each dropped before the
   next: 20 ``partial_fit`` calls on new chunks of 10,000 images, 10 ``fit``
   calls on new sets of 10,000, and 10 ``fit`` calls on new
   ``BrightPixelSequence`` of 10,000. Target: RSS grows less than 100 MB
   from the second call to the last (a chunk kept per call would add 100 MB
   each).
8. Robustness: the memory ``predict`` adds on 1 image of 3000x3000 and on
   33 images of 1000x1000, at most 3x the input (batches used to be padded
   to 32 or 1024 images: 5.4 GB and 17 GB); the time (under 1 s) and memory
   (under 100 MB) to refuse a saved model whose weights inflate to 4 GiB;
   the low-contrast transfer: the default estimator trained on clean
   generator images, exact on at least 99.9 % of crops of scikit-learn's
   sample photographs scaled to [0, 220] with one pixel at 230, and trained
   at noise 80, at least as exact as ``np.argmax`` on clean images.
9. The machine: CPU, cores, RAM, Python and library versions, Keras backend.

``--quick`` (under two minutes) uses 2000 images, 2 epochs for the notebook's
CNN and the dense head, 1000 images for throughput, and scales to 6,000
images only; to save start-up time, all its measurements share one process
(so only the first of them has a peak RSS of its own). Its
results are labelled quick and are not comparable to a full run's.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import report

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SEED = 0
OTHER_SIZE = (80, 120)
NOISE_LEVELS = (25, 50)

MODES = {
    "full": {
        "samples": 15000,
        "notebook_epochs": 20,
        "dense_epochs": None,  # the estimator's "auto": 20, as the notebook
        "quadrant": (10500, 2250),
        "throughput_images": 20000,
        "throughput_repeats": 3,
        "throughput_fit_samples": 3000,
        "datagen_samples": 15000,
        "datagen_repeats": 5,
        "import_repeats": 5,
        "scaling": (1500, 15000, 150000),
        "low_contrast": (10500, 2000),
        # Training calls on fresh data, and images per call.
        "training_memory": {
            "partial_fit": (20, 10000),
            "fit": (10, 10000),
            "sequence": (10, 10000),
        },
        "shared_process": (),
    },
    "quick": {
        "samples": 2000,
        "notebook_epochs": 2,
        "dense_epochs": 2,
        "quadrant": (1400, 300),
        "throughput_images": 1000,
        "throughput_repeats": 2,
        "throughput_fit_samples": 500,
        "datagen_samples": 3000,
        "datagen_repeats": 3,
        "import_repeats": 5,
        "scaling": (1500, 6000),
        "low_contrast": (1000, 500),
        "training_memory": {
            "partial_fit": (20, 2000),
            "fit": (5, 2000),
            "sequence": (5, 2000),
        },
        # All measurements run one after the other in one process, to save
        # the start-up (imports) of each: only the first has its own peak RSS.
        "shared_process": True,
    },
}

# Targets
MAE_PROTOCOL_PX = 0.01
EXACT_GOAL = 0.999
MAE_OTHER_SIZE_PX = 0.05
NOISE_50_MARGIN = 0.005  # 0.5 percentage points below np.argmax
MAE_DENSE_PX = 0.6
SPEEDUP_VS_NOTEBOOK = 5.0
FRACTION_OF_ARGMAX = 0.10
DATAGEN_SPEEDUP = 2.0
DATAGEN_PEAK_RATIO = 1.1
IMPORT_S = 0.3
SCALING_GROWTH = 1.5
SCALING_MEMORY_RATIO = 2.0
ROBUSTNESS_SHAPES = ((1, 3000, 3000), (33, 1000, 1000))
PREDICT_MEMORY_RATIO = 3.0
REFUSE_S = 1.0
REFUSE_BYTES = 100 * 2**20
TRAINING_GROWTH_BYTES = 100 * 10**6  # 100 MB from the second call to the last


# ----------------------------------------------------------------------------
# running measurements
def _environment():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def run_process(jobs, timeout=1500):
    """Run ``[key, measurement, parameters]`` jobs in one fresh process.

    Returns ``{key: result}``; when the process fails, every job's result is
    ``{"error": ...}``. Each result records the source it measured (the
    package may change while a long run goes on).
    """
    source = source_info()
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        command = [
            sys.executable,
            str(HERE / "measurements.py"),
            "--jobs",
            json.dumps(jobs),
            "--result",
            str(result_file),
        ]
        start = time.perf_counter()
        try:
            process = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=_environment(),
                timeout=timeout,
                check=False,
            )
            error = None
            if process.returncode != 0 or not result_file.exists():
                error = (
                    process.stderr.strip()[-2000:]
                    or f"exit status {process.returncode}"
                )
        except subprocess.TimeoutExpired:
            error = f"timed out after {timeout} s"
        wall = time.perf_counter() - start
        if error is not None:
            results = {key: {"error": error} for key, _, _ in jobs}
        else:
            results = json.loads(result_file.read_text())
    for key, _, params in jobs:
        results[key]["params"] = params
        results[key]["process_wall_s"] = wall
        results[key]["shared_process"] = [other for other, _, _ in jobs]
        results[key]["source"] = source
    return results


_IMPORT_PROBE = """
import json, sys, time
start = time.perf_counter()
import pixel_regressor
seconds = time.perf_counter() - start
heavy = [m for m in ("numpy", "sklearn", "keras", "tensorflow") if m in sys.modules]
print(json.dumps({"seconds": seconds, "heavy_modules": heavy}))
"""


def measure_import(repeats):
    """``import pixel_regressor`` in ``repeats`` fresh interpreters."""
    seconds, heavy = [], set()
    for _ in range(repeats):
        process = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE],
            capture_output=True,
            text=True,
            env=_environment(),
            check=True,
        )
        probe = json.loads(process.stdout.strip().splitlines()[-1])
        seconds.append(probe["seconds"])
        heavy.update(probe["heavy_modules"])
    return {
        "best_s": min(seconds),
        "median_s": sorted(seconds)[len(seconds) // 2],
        "all_s": seconds,
        "heavy_modules_imported": sorted(heavy),
    }


def plan(config):
    """The measurements of a run: (key, measurement, parameters)."""
    samples = config["samples"]
    n_test = samples * 15 // 100  # as many as the notebook's test set
    jobs = [
        (
            "datagen",
            "datagen",
            {
                "samples": config["datagen_samples"],
                "repeats": config["datagen_repeats"],
                "seed": SEED,
            },
        ),
        (
            "notebook",
            "notebook_training",
            {"samples": samples, "epochs": config["notebook_epochs"], "seed": SEED},
        ),
        (
            "dense",
            "estimator_training",
            {
                "head": "dense",
                "samples": samples,
                "epochs": config["dense_epochs"],
                "seed": SEED,
            },
        ),
        (
            "default",
            "estimator_training",
            {
                "head": "soft_argmax",
                "samples": samples,
                "epochs": None,
                "seed": SEED,
                "other_size": [*OTHER_SIZE, n_test],
            },
        ),
        (
            "quadrant",
            "quadrant",
            {
                "heads": ["soft_argmax", "dense"],
                "n_train": config["quadrant"][0],
                "n_test": config["quadrant"][1],
                "seed": SEED,
                "dense_epochs": config["dense_epochs"],
            },
        ),
        (
            "noise",
            "noise",
            {"levels": list(NOISE_LEVELS), "samples": samples, "seed": SEED},
        ),
        (
            "throughput",
            "throughput",
            {
                "n_images": config["throughput_images"],
                "repeats": config["throughput_repeats"],
                "fit_samples": config["throughput_fit_samples"],
                "seed": SEED,
            },
        ),
    ]
    for n in config["scaling"]:
        jobs.append((f"scaling_{n}", "scaling", {"samples": n, "seed": SEED}))
    for how, (calls, n) in config["training_memory"].items():
        jobs.append(
            (
                f"training_memory_{how}",
                "training_memory",
                {"how": how, "calls": calls, "samples": n, "seed": SEED},
            )
        )
    for shape in ROBUSTNESS_SHAPES:
        jobs.append(
            (
                f"predict_memory_{'x'.join(map(str, shape))}",
                "predict_memory",
                {"shape": list(shape), "seed": SEED},
            )
        )
    jobs.append(("archive_refusal", "archive_refusal", {"seed": SEED}))
    samples, n_test = config["low_contrast"]
    jobs.append(
        (
            "low_contrast",
            "low_contrast",
            {"samples": samples, "n_test": n_test, "seed": SEED},
        )
    )
    return jobs


def processes(jobs, shared):
    """Group jobs into processes: one each, except the ``shared`` keys.

    The jobs whose key is in ``shared`` (every job if ``shared`` is True) run
    together, in plan order, in one process placed where the first of them
    is.
    """
    groups, together = [], None
    for job in jobs:
        if shared is not True and job[0] not in shared:
            groups.append([job])
        elif together is None:
            together = [job]
            groups.append(together)
        else:
            together.append(job)
    return groups


# ----------------------------------------------------------------------------
# the machine
def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_bytes():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _version(*distributions):
    for distribution in distributions:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


def _git(*args):
    try:
        process = subprocess.run(
            ["git", *args],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return process.stdout.strip()


def source_info():
    """The commit benchmarked, and the package files that differ from it."""
    changed = _git("status", "--porcelain", "--", "pixel_regressor")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted_package_files": (
            [line.split(None, 1)[1] for line in changed.splitlines()] if changed else []
        ),
    }


def machine_info():
    """CPU, cores, RAM, Python and library versions (without importing them)."""
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "ram_bytes": _ram_bytes(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "pixel_regressor": _version("pixel-regressor", "pixel_regressor"),
            "numpy": _version("numpy"),
            "scikit-learn": _version("scikit-learn"),
            "keras": _version("keras"),
            "tensorflow": _version("tensorflow", "tensorflow-cpu"),
            "scikeras": _version("scikeras"),
        },
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_start": list(os.getloadavg()),
        "source": source_info(),
    }


# ----------------------------------------------------------------------------
# checking the results against the targets
# ``mapping[k0][k1]...``, or None where a key is missing (a failed run).
_get = report._get


def _seconds(value):
    return "n/a" if value is None else f"{value:.2f} s"


def _px(value):
    return "n/a" if value is None else f"{value:.4f} px"


def _percent(value):
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _megabytes(value):
    return "n/a" if value is None else f"{value / 2**20:,.0f} MiB"


def _rate(value):
    return "n/a" if value is None else f"{value:,.0f} img/s"


def _ratio(numerator, denominator, suffix="x"):
    if numerator is None or not denominator:
        return None, ""
    ratio = numerator / denominator
    return ratio, f"{ratio:.2f}{suffix}"


def _met(condition, *values):
    """True/False, or None when a value it depends on is missing."""
    if any(value is None for value in values):
        return None
    return bool(condition())


def _row(section, name, ours, reference="", ratio="", target="", met=None):
    return {
        "section": section,
        "name": name,
        "ours": ours,
        "reference": reference,
        "ratio": ratio,
        "target": target,
        "met": met,
    }


def _training_rows(results, config):
    section = f"Training, notebook protocol ({config['samples']} images)"
    notebook, dense, default = (
        results.get(key, {}) for key in ("notebook", "dense", "default")
    )
    nb_fit = notebook.get("fit_s")
    nb_rss = notebook.get("peak_rss")
    nb_label = f"notebook {_seconds(nb_fit)}, {notebook.get('epochs', '?')} epochs"
    rows = []
    for label, result in (("default estimator", default), ("dense head", dense)):
        fit = result.get("fit_s")
        ratio, text = _ratio(fit, nb_fit)
        # The default estimator must train in a tenth of the notebook's time.
        target, met = "", None
        if label == "default estimator":
            target = "<= 0.1x notebook"
            met = _met(lambda r=ratio: r <= 0.1, ratio)
        rows.append(
            _row(
                section,
                f"Fit time, {label} ({result.get('epochs', '?')} epochs)",
                _seconds(fit),
                nb_label,
                text,
                target,
                met,
            )
        )
    for label, result in (("default estimator", default), ("dense head", dense)):
        rss = result.get("peak_rss")
        ratio, text = _ratio(rss, nb_rss)
        rows.append(
            _row(
                section,
                f"Peak RSS, {label}",
                _megabytes(rss),
                f"notebook {_megabytes(nb_rss)}",
                text,
                "<= 1x notebook",
                _met(lambda r=ratio: r <= 1.0, ratio),
            )
        )
    first = default.get("first_fit_s")
    nb_first = notebook.get("first_fit_s")
    _, text = _ratio(first, nb_first)
    rows.append(
        _row(
            section,
            "import pixel_regressor + first fit, default estimator",
            _seconds(first),
            f"notebook import tensorflow + fit {_seconds(nb_first)}",
            text,
        )
    )
    return rows


def _accuracy_rows(results):
    section = "Accuracy goals"
    rows = []
    default = _get(results, "default", "scores")
    dense = _get(results, "dense", "scores")
    notebook = _get(results, "notebook", "scores")
    mae, nb_mae = _get(default, "mae"), _get(notebook, "mae")
    rows.append(
        _row(
            section,
            "Default, notebook protocol: test MAE",
            _px(mae),
            f"notebook {_px(nb_mae)}",
            "",
            f"<= {MAE_PROTOCOL_PX} px",
            _met(lambda: mae <= MAE_PROTOCOL_PX, mae),
        )
    )
    exact, nb_exact = _get(default, "exact"), _get(notebook, "exact")
    rows.append(
        _row(
            section,
            "Default, notebook protocol: exact pixel",
            _percent(exact),
            f"notebook {_percent(nb_exact)}",
            "",
            f">= {100 * EXACT_GOAL:.1f} %",
            _met(lambda: exact >= EXACT_GOAL, exact),
        )
    )
    quad = _get(results, "quadrant", "heads", "soft_argmax", "scores", "exact")
    quad_dense = _get(results, "quadrant", "heads", "dense", "scores", "exact")
    rows.append(
        _row(
            section,
            "Default, held-out quadrant: exact pixel",
            _percent(quad),
            f"dense head {_percent(quad_dense)}",
            "",
            f">= {100 * EXACT_GOAL:.1f} %",
            _met(lambda: quad >= EXACT_GOAL, quad),
        )
    )
    quad_mae = _get(results, "quadrant", "heads", "soft_argmax", "scores", "mae")
    quad_dense_mae = _get(results, "quadrant", "heads", "dense", "scores", "mae")
    rows.append(
        _row(
            section,
            "Dense head, held-out quadrant: exact pixel / MAE (contrast)",
            f"{_percent(quad_dense)} / {_px(quad_dense_mae)}",
            f"default {_percent(quad)} / {_px(quad_mae)}",
        )
    )
    big = _get(results, "default", "other_size", "scores", "mae")
    big_exact = _get(results, "default", "other_size", "scores", "exact")
    rows.append(
        _row(
            section,
            "Default, trained on 50x50, predicts 80x120: MAE",
            _px(big),
            f"exact {_percent(big_exact)}",
            "",
            f"<= {MAE_OTHER_SIZE_PX} px",
            _met(lambda: big <= MAE_OTHER_SIZE_PX, big),
        )
    )
    for level in NOISE_LEVELS:
        ours = _get(results, "noise", str(level), "scores", "exact")
        argmax = _get(results, "noise", str(level), "argmax_scores", "exact")
        if level == NOISE_LEVELS[0]:
            target = f">= {100 * EXACT_GOAL:.1f} %"
            met = _met(lambda o=ours: o >= EXACT_GOAL, ours)
            ratio = ""
        else:
            target = f">= np.argmax - {100 * NOISE_50_MARGIN:.1f} pp"
            met = _met(lambda o=ours, a=argmax: o >= a - NOISE_50_MARGIN, ours, argmax)
            ratio = (
                ""
                if ours is None or argmax is None
                else f"{100 * (ours - argmax):+.2f} pp"
            )
        rows.append(
            _row(
                section,
                f"Default, noise {level}: exact pixel",
                _percent(ours),
                f"np.argmax {_percent(argmax)}",
                ratio,
                target,
                met,
            )
        )
    dense_mae = _get(dense, "mae")
    rows.append(
        _row(
            section,
            "Dense head, notebook protocol: test MAE",
            _px(dense_mae),
            f"notebook {_px(nb_mae)}",
            "",
            f"<= {MAE_DENSE_PX} px",
            _met(lambda: dense_mae <= MAE_DENSE_PX, dense_mae),
        )
    )
    return rows


def _throughput_rows(results, config):
    section = f"Prediction throughput ({config['throughput_images']} images)"
    candidates = _get(results, "throughput", "candidates") or {}

    def rate(name):
        return _get(candidates, name, "images_per_s")

    notebook = [rate("notebook_cnn_batch_32"), rate("notebook_cnn_batch_1024")]
    notebook_best = max((r for r in notebook if r is not None), default=None)
    default, dense, argmax = (
        rate("default_estimator"),
        rate("dense_estimator"),
        rate("argmax"),
    )
    rows = []
    ratio, text = _ratio(default, notebook_best)
    rows.append(
        _row(
            section,
            "Default estimator predict vs notebook CNN's best",
            _rate(default),
            f"notebook {_rate(notebook_best)}",
            text,
            f">= {SPEEDUP_VS_NOTEBOOK:g}x",
            _met(lambda: ratio >= SPEEDUP_VS_NOTEBOOK, ratio),
        )
    )
    ratio, _ = _ratio(default, argmax)
    rows.append(
        _row(
            section,
            "Default estimator predict vs np.argmax",
            _rate(default),
            f"np.argmax {_rate(argmax)}",
            "" if ratio is None else f"{100 * ratio:.1f} %",
            f">= {100 * FRACTION_OF_ARGMAX:.0f} %",
            _met(lambda: ratio >= FRACTION_OF_ARGMAX, ratio),
        )
    )
    _, text = _ratio(dense, notebook_best)
    rows.append(
        _row(
            section,
            "Dense estimator predict vs notebook CNN's best",
            _rate(dense),
            f"notebook {_rate(notebook_best)}",
            text,
        )
    )
    return rows


def _datagen_rows(results, config):
    section = f"Data generation ({config['datagen_samples']} images)"
    candidates = _get(results, "datagen", "candidates") or {}
    ours = candidates.get("make_bright_pixel_dataset", {})
    loop = candidates.get("notebook_loop", {})
    rows = []
    for key, label, target in (
        ("touched", "Time incl. X.sum() (best)", DATAGEN_SPEEDUP),
        ("call", "Time of the call alone (best)", None),
    ):
        mine, theirs = _get(ours, key, "best_s"), _get(loop, key, "best_s")
        speedup, text = _ratio(theirs, mine, "x faster")
        rows.append(
            _row(
                section,
                label,
                _seconds(mine),
                f"notebook loop {_seconds(theirs)}",
                text,
                "" if target is None else f">= {target:g}x faster",
                None
                if target is None
                else _met(lambda s=speedup, t=target: s >= t, speedup),
            )
        )
    peak, nbytes = ours.get("traced_peak_bytes"), ours.get("X_nbytes")
    ratio, text = _ratio(peak, nbytes)
    loop_ratio, loop_text = _ratio(loop.get("traced_peak_bytes"), loop.get("X_nbytes"))
    rows.append(
        _row(
            section,
            "Traced memory peak / returned X",
            f"{_megabytes(peak)} / {_megabytes(nbytes)}",
            f"notebook loop {loop_text}",
            text,
            f"<= {DATAGEN_PEAK_RATIO:g}x",
            _met(lambda: ratio <= DATAGEN_PEAK_RATIO, ratio),
        )
    )
    return rows


def _import_rows(results):
    best = _get(results, "import", "best_s")
    tf_import = _get(results, "notebook", "import_s")
    return [
        _row(
            "Import",
            "import pixel_regressor (best of fresh interpreters)",
            _seconds(best),
            f"import tensorflow {_seconds(tf_import)}",
            "",
            f"< {IMPORT_S:g} s",
            _met(lambda: best < IMPORT_S, best),
        )
    ]


def _scaling_rows(results, config):
    section = "Scaling of the default estimator"
    sizes = config["scaling"]
    points = [results.get(f"scaling_{n}", {}) for n in sizes]
    middle, largest = points[-2], points[-1]
    rows = []
    for key, label in (
        ("fit_us_per_image", "Fit time per image"),
        ("predict_us_per_image", "Predict time per image"),
    ):
        small, large = middle.get(key), largest.get(key)
        growth, text = _ratio(large, small)
        rows.append(
            _row(
                section,
                f"{label}, n={sizes[-2]:,} -> {sizes[-1]:,}",
                "n/a" if large is None else f"{large:.1f} us",
                "n/a" if small is None else f"{small:.1f} us",
                text,
                f"<= {SCALING_GROWTH:g}x (about linear)",
                _met(lambda g=growth: g <= SCALING_GROWTH, growth),
            )
        )
    peak, before = largest.get("peak_rss"), largest.get("rss_before_data")
    added = None if peak is None or before is None else peak - before
    ratio, text = _ratio(added, largest.get("X_nbytes"))
    rows.append(
        _row(
            section,
            f"Memory added at n={sizes[-1]:,} (peak RSS - RSS before data) / X",
            _megabytes(added),
            f"X {_megabytes(largest.get('X_nbytes'))}",
            text,
            f"<= {SCALING_MEMORY_RATIO:g}x",
            _met(lambda: ratio <= SCALING_MEMORY_RATIO, ratio),
        )
    )
    return rows


def _training_memory_rows(results, config):
    section = "Memory over many training calls on fresh data"
    labels = {
        "partial_fit": "partial_fit, one new chunk of {n:,} images per call",
        "fit": "fit, refitted on a new set of {n:,} images per call",
        "sequence": "fit on a new BrightPixelSequence of {n:,} images per call",
    }
    rows = []
    for how, (calls, n) in config["training_memory"].items():
        result = results.get(f"training_memory_{how}", {})
        growth, chunk = result.get("growth_bytes"), result.get("chunk_nbytes")
        rows.append(
            _row(
                section,
                f"{labels[how].format(n=n)}: RSS growth from call 2 to call {calls}",
                "n/a" if growth is None else f"{growth / 1e6:,.0f} MB",
                "" if chunk is None else f"one chunk {chunk / 1e6:,.0f} MB",
                "",
                f"< {TRAINING_GROWTH_BYTES / 1e6:g} MB",
                _met(lambda g=growth: g < TRAINING_GROWTH_BYTES, growth),
            )
        )
    return rows


def _robustness_rows(results):
    rows = []
    for shape in ROBUSTNESS_SHAPES:
        name = "x".join(map(str, shape))
        result = results.get(f"predict_memory_{name}", {})
        added, nbytes = result.get("added_bytes"), result.get("input_nbytes")
        ratio, text = _ratio(added, nbytes)
        rows.append(
            _row(
                "Robustness",
                f"Memory added by predict on {shape[0]} image(s) of "
                f"{shape[1]}x{shape[2]} / input",
                _megabytes(added),
                f"input {_megabytes(nbytes)}",
                text,
                f"<= {PREDICT_MEMORY_RATIO:g}x",
                _met(lambda r=ratio: r <= PREDICT_MEMORY_RATIO, ratio),
            )
        )
    refusal = results.get("archive_refusal", {})
    inflated = refusal.get("inflated_bytes")
    what = (
        "Refusing a model archive whose weights inflate to "
        f"{_megabytes(inflated)} ({_megabytes(refusal.get('archive_bytes'))} "
        "on disk)"
    )
    seconds, added = refusal.get("refuse_s"), refusal.get("added_bytes")
    refused = refusal.get("refused")
    rows.append(
        _row(
            "Robustness",
            f"{what}: time",
            _seconds(seconds),
            "refused" if refused else "not refused",
            "",
            f"< {REFUSE_S:g} s",
            _met(lambda: refused and seconds < REFUSE_S, seconds, refused),
        )
    )
    rows.append(
        _row(
            "Robustness",
            f"{what}: memory added",
            _megabytes(added),
            "",
            "",
            f"< {_megabytes(REFUSE_BYTES)}",
            _met(lambda: added < REFUSE_BYTES, added),
        )
    )
    contrast = results.get("low_contrast", {})
    argmax_crops = contrast.get("argmax_crops_exact")
    argmax_clean = contrast.get("argmax_clean_exact")
    crops = _get(contrast, "noise_0", "crops_exact")
    rows.append(
        _row(
            "Robustness",
            "Low-contrast transfer: trained on clean generator images, exact on "
            "photo crops with the pixel 10 grey levels above the rest",
            _percent(crops),
            f"np.argmax {_percent(argmax_crops)}",
            "",
            f">= {100 * EXACT_GOAL:g} %",
            _met(lambda: crops >= EXACT_GOAL, crops),
        )
    )
    for name, key in (("clean generator images", "clean"), ("photo crops", "crops")):
        value = _get(contrast, "noise_80", f"{key}_exact")
        reference = argmax_clean if key == "clean" else argmax_crops
        rows.append(
            _row(
                "Robustness",
                f"Trained at noise 80: exact on {name}",
                _percent(value),
                f"np.argmax {_percent(reference)}",
                "",
                ">= np.argmax",
                _met(lambda v=value, r=reference: v >= r, value, reference),
            )
        )
    return rows


def evaluate(results, config):
    """The summary rows: each result beside its reference and target."""
    return [
        *_training_rows(results, config),
        *_accuracy_rows(results),
        *_throughput_rows(results, config),
        *_datagen_rows(results, config),
        *_import_rows(results),
        *_scaling_rows(results, config),
        *_training_memory_rows(results, config),
        *_robustness_rows(results),
    ]


# ----------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark pixel_regressor against the original notebook."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small data and few epochs (under two minutes); results labelled quick",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON file to write (default: benchmarks/results/latest.json, or "
        "quick.json with --quick); the Markdown report is written beside it",
    )
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    config = MODES[mode]
    out = args.out or RESULTS / ("quick.json" if args.quick else "latest.json")

    started = time.perf_counter()
    machine = machine_info()
    results = {}
    print(f"pixel_regressor benchmarks, {mode} mode", file=sys.stderr)
    step_start = time.perf_counter()
    results["import"] = measure_import(config["import_repeats"])
    print(f"  {time.perf_counter() - step_start:6.1f} s  import ok", file=sys.stderr)
    for jobs in processes(plan(config), config["shared_process"]):
        step_start = time.perf_counter()
        results.update(run_process(jobs))
        status = [
            f"{key} {'error' if 'error' in results[key] else 'ok'}"
            for key, _, _ in jobs
        ]
        print(
            f"  {time.perf_counter() - step_start:6.1f} s  {', '.join(status)}",
            file=sys.stderr,
        )
    machine["load_average_end"] = list(os.getloadavg())
    machine["keras_backend"] = _get(results, "default", "keras_backend")

    document = {
        "mode": mode,
        "quick": args.quick,
        "command": " ".join(["python", "benchmarks/run.py", *(argv or sys.argv[1:])]),
        "config": config,
        "machine": machine,
        "wall_time_s": time.perf_counter() - started,
        "rows": evaluate(results, config),
        "measurements": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.replace(out)
    print(report.write_markdown(out))
    errors = [key for key, value in results.items() if "error" in value]
    if errors:
        print(f"Measurements that failed: {', '.join(errors)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
