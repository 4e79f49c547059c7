"""Out-of-core training and prediction: peak memory that does not grow with n.

Usage::

    python benchmarks/out_of_core.py [--n N [N ...]] [--quick] [--batch-size B]
                                     [--predict-n M] [--out PATH]

Each measurement runs in a fresh Python process, so that its peak resident set
size (``resource.getrusage(...).ru_maxrss``) is its own:

1. Training: the default ``BrightPixelRegressor`` trained with one
   ``partial_fit`` per chunk of ``iter_bright_pixel_batches(n, batch_size=
   5_000, image_size=50)`` on n = 100,000 and 1,000,000 images (``--quick``:
   20,000 and 100,000; ``--n`` sets the sizes, ``--batch-size`` the chunk).
   Targets: peak RSS under 1.5 GB (1,500 MB) at 1,000,000 images, and the
   largest n peaking within 200 MB of the smallest: 1,000,000 images are 10 GB
   of float32, of which one 100 MB chunk is held at a time.
2. Prediction over a memory-mapped file: 200,000 images of 50x50 float32
   (2 GB; ``--quick``: 20,000) are written a chunk at a time to a ``.npy``
   file (the header from ``np.lib.format``, then each chunk's bytes), then a
   process loads a saved model, opens the file with ``np.load(...,
   mmap_mode="r")`` and predicts it, two ways: ``predict`` on the whole mapped
   array in one call ("whole"), and ``predict`` on one slice of 10,000 images
   per fresh mapping ("sliced"). Targets: the private memory "whole" adds, and
   the RSS "sliced" adds, stay within 200 MB (plus one slice) of the process's
   baseline, whatever the file's size.

Besides the peak RSS, a sampling thread records the peaks of the private
(anonymous) memory and of the file-backed pages the process held. Pages of a
memory-mapped file that have been read stay in the process's RSS as long as
the mapping is open, but they are clean copies of the file: the kernel drops
them when memory is short, as it does for any cached file. Shared libraries
(TensorFlow's are large) count in the file-backed part too.

A table is printed and the results, with the machine's description, are
written to ``benchmarks/results/out_of_core.json`` (``out_of_core_quick.json``
with ``--quick``).
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMAGE_SIZE = 50
CHUNK = 5_000
TARGET_PEAK_MB = 1500  # peak RSS at 1,000,000 training images (1.5 GB)
SLACK_MB = 200  # what a peak may grow with n or with the file's size
MB = 1e6


# ---------------------------------------------------------------------------
# memory


def _status_kb(*fields):
    """Fields of /proc/self/status, in kB (None where unavailable)."""
    values = dict.fromkeys(fields)
    try:
        with open("/proc/self/status") as status:
            for line in status:
                name, _, rest = line.partition(":")
                if name in values:
                    values[name] = int(rest.split()[0])
    except OSError:
        pass
    return values


def _peak_rss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / MB if sys.platform == "darwin" else peak * 1024 / MB


def _rss_mb():
    kb = _status_kb("VmRSS")["VmRSS"]
    return None if kb is None else kb * 1024 / MB


def _baseline():
    """The process's RSS now, with its private (anonymous) and file parts."""
    kb = _status_kb("VmRSS", "RssAnon", "RssFile")
    return {
        f"baseline_{key}_mb": None
        if kb[name] is None
        else round(kb[name] / MB * 1024, 1)
        for key, name in (("rss", "VmRSS"), ("anon", "RssAnon"), ("file", "RssFile"))
    }


class _MemorySampler:
    """Track the peak anonymous and file-backed RSS from a background thread."""

    def __init__(self, interval=0.02):
        self.interval = interval
        self.peak_anon_mb = None
        self.peak_file_mb = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        kb = _status_kb("RssAnon", "RssFile")
        if kb["RssAnon"] is None:
            return
        anon, file = kb["RssAnon"] * 1024 / MB, kb["RssFile"] * 1024 / MB
        self.peak_anon_mb = max(self.peak_anon_mb or 0.0, anon)
        self.peak_file_mb = max(self.peak_file_mb or 0.0, file)

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()


# ---------------------------------------------------------------------------
# jobs, each run in its own process


def _import_everything():
    """Import the estimator, Keras and its backend: the process's baseline."""
    import keras  # noqa: F401
    import scikeras.wrappers  # noqa: F401  (imports TensorFlow too)

    from pixel_regressor import BrightPixelRegressor  # noqa: F401


def job_train(n, batch_size):
    _import_everything()
    from pixel_regressor import (
        BrightPixelRegressor,
        exact_pixel_accuracy,
        iter_bright_pixel_batches,
        make_bright_pixel_dataset,
    )

    baseline = _baseline()
    reg = BrightPixelRegressor(random_state=0)
    rss_after_chunk = []
    generate_s = 0.0
    start = time.perf_counter()
    with _MemorySampler() as sampler:
        chunks = iter_bright_pixel_batches(
            n, batch_size=batch_size, image_size=IMAGE_SIZE, random_state=0
        )
        while True:
            tick = time.perf_counter()
            chunk = next(chunks, None)
            generate_s += time.perf_counter() - tick
            if chunk is None:
                break
            reg.partial_fit(*chunk)
            del chunk
            rss_after_chunk.append(round(_rss_mb(), 1))
    train_s = time.perf_counter() - start
    X_test, y_test = make_bright_pixel_dataset(
        2000, image_size=IMAGE_SIZE, random_state=12345
    )
    return {
        "job": "train",
        "n_samples": n,
        "batch_size": batch_size,
        "chunks": reg.n_iter_,
        "time_s": round(train_s, 2),
        "generate_s": round(generate_s, 2),
        "images_per_s": round(n / train_s),
        **baseline,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "peak_anon_mb": _round(sampler.peak_anon_mb),
        "peak_file_mb": _round(sampler.peak_file_mb),
        "chunk_mb": round(batch_size * IMAGE_SIZE**2 * 4 / MB, 1),
        "rss_after_chunk_mb": _thin(rss_after_chunk, 20),
        "exact_on_2000_test_images": exact_pixel_accuracy(y_test, reg.predict(X_test)),
    }


def job_write(n, path):
    """Write n images to a .npy file a chunk at a time (never all in memory)."""
    import numpy as np

    from pixel_regressor import iter_bright_pixel_batches

    start = time.perf_counter()
    targets = np.empty((n, 2), dtype=np.intp)
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
        "fortran_order": False,
        "shape": (n, IMAGE_SIZE, IMAGE_SIZE),
    }
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(file, header)
        done = 0
        for X, y in iter_bright_pixel_batches(
            n, batch_size=CHUNK, image_size=IMAGE_SIZE, random_state=1
        ):
            X.tofile(file)
            targets[done : done + len(X)] = y
            done += len(X)
    np.save(Path(path).with_name("targets.npy"), targets)
    return {
        "job": "write",
        "n_samples": n,
        "file_mb": round(os.path.getsize(path) / MB, 1),
        "time_s": round(time.perf_counter() - start, 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def job_fit_save(model_dir):
    from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset

    X, y = make_bright_pixel_dataset(10_000, image_size=IMAGE_SIZE, random_state=2)
    BrightPixelRegressor(random_state=0).fit(X, y).save(model_dir)
    return {"job": "fit_save"}


def job_predict(path, model_dir, how):
    """Predict the mapped file: in one call, or a slice per fresh mapping."""
    _import_everything()
    import numpy as np

    from pixel_regressor import exact_pixel_accuracy, load_model

    reg = load_model(model_dir)
    baseline = _baseline()
    targets = np.load(Path(path).with_name("targets.npy"))
    start = time.perf_counter()
    with _MemorySampler() as sampler:
        if how == "whole":
            images = np.load(path, mmap_mode="r")
            n = len(images)
            pred = reg.predict(images)
            del images
        else:
            # Each slice through a mapping of its own: closing it takes the
            # pages read out of this process (the kernel may keep them cached).
            n = len(targets)
            pred = np.empty((n, 2))
            for first in range(0, n, CHUNK):
                images = np.load(path, mmap_mode="r")
                pred[first : first + CHUNK] = reg.predict(images[first : first + CHUNK])
                del images
    predict_s = time.perf_counter() - start
    return {
        "job": f"predict_{how}",
        "n_samples": n,
        "file_mb": round(os.path.getsize(path) / MB, 1),
        "time_s": round(predict_s, 2),
        "images_per_s": round(n / predict_s),
        **baseline,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "peak_anon_mb": _round(sampler.peak_anon_mb),
        "peak_file_mb": _round(sampler.peak_file_mb),
        "predictions_mb": round(pred.nbytes / MB, 1),
        "exact": exact_pixel_accuracy(targets, pred),
    }


def _round(value, digits=1):
    return None if value is None else round(value, digits)


def _thin(values, at_most):
    """At most ``at_most`` evenly spaced values, the last one included."""
    if len(values) <= at_most:
        return values
    step = len(values) / at_most
    return [values[int(i * step)] for i in range(at_most - 1)] + [values[-1]]


JOBS = {
    "train": job_train,
    "write": job_write,
    "fit_save": job_fit_save,
    "predict": job_predict,
}


# ---------------------------------------------------------------------------
# driver


def _spawn(job, *args):
    """Run one job in a fresh interpreter; return the dict it printed."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, __file__, "--job", job, *map(str, args)]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"job {job} {args} failed with status {proc.returncode}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = round(time.perf_counter() - started, 1)
    return result


def _machine():
    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    cpu_model = platform.processor() or None
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = None
    return {
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "ram_bytes": ram,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "versions": {
            name: version(name)
            for name in (
                "pixel-regressor",
                "numpy",
                "scikit-learn",
                "keras",
                "tensorflow",
                "tensorflow-cpu",
                "scikeras",
                "jax",
            )
            if version(name) is not None
        },
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_start": _load_average(),
    }


def _load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _table(train, write, predict):
    columns = (
        f"{'time s':>8} {'img/s':>8} {'baseline MB':>11} {'peak RSS MB':>11} "
        f"{'peak anon MB':>12} {'peak file MB':>12} {'exact':>6}"
    )

    def cells(r, exact):
        return (
            f"{r['time_s']:>8.1f} {r['images_per_s']:>8,} "
            f"{r['baseline_rss_mb']:>11.0f} {r['peak_rss_mb']:>11.0f} "
            f"{_fmt(r['peak_anon_mb']):>12} {_fmt(r['peak_file_mb']):>12} "
            f"{exact:>6.3f}"
        )

    lines = [
        f"Training: one partial_fit per chunk of {train[0]['batch_size']:,} "
        f"images of {IMAGE_SIZE}x{IMAGE_SIZE} (float32, "
        f"{train[0]['chunk_mb']:.0f} MB a chunk)",
        "",
        f"{'n':>10} {'chunks':>6} " + columns,
    ]
    for r in train:
        lines.append(
            f"{r['n_samples']:>10,} {r['chunks']:>6} "
            + cells(r, r["exact_on_2000_test_images"])
        )
    first = predict[0]
    lines += [
        "",
        f"Prediction over a memory-mapped .npy of {first['n_samples']:,} images "
        f"({first['file_mb']:,.0f} MB; written a chunk at a time, writer peak RSS "
        f"{write['peak_rss_mb']:,.0f} MB)",
        "",
        f"{'how':>17} " + columns,
    ]
    for r in predict:
        lines.append(f"{r['job']:>17} " + cells(r, r["exact"]))
    return "\n".join(lines)


def _fmt(value):
    return "n/a" if value is None else f"{value:.0f}"


def _checks(train, predict):
    """Pass/fail of the targets. Growth is allowed a fixed slack, SLACK_MB."""
    largest = max(train, key=lambda r: r["n_samples"])
    smallest = min(train, key=lambda r: r["n_samples"])
    whole, sliced = predict
    checks = {
        # Memory does not grow with n: the largest run peaks within SLACK_MB
        # of the smallest, whatever the ratio of their sizes.
        "train_peak_rss_flat_in_n": largest["peak_rss_mb"] - smallest["peak_rss_mb"]
        < SLACK_MB,
    }
    if largest["n_samples"] >= 1_000_000:
        checks["train_peak_rss_under_1.5_gb_at_1m"] = (
            largest["peak_rss_mb"] < TARGET_PEAK_MB
        )
    if whole["peak_anon_mb"] is not None:
        # One predict call on the whole mapped array: the private memory it
        # adds does not depend on the file's size (the pages it reads are
        # file-backed: counted in RSS, but reclaimable like any cached file).
        checks["predict_whole_private_memory_independent_of_file"] = (
            whole["peak_anon_mb"] - whole["baseline_anon_mb"] < SLACK_MB
        )
    # A slice per mapping: the RSS itself stays at the baseline plus a slice.
    checks["predict_sliced_peak_rss_independent_of_file"] = (
        sliced["peak_rss_mb"] - sliced["baseline_rss_mb"] < SLACK_MB + _slice_mb()
    )
    return checks


def _slice_mb():
    """Size of one slice of mapped images, in MB."""
    return CHUNK * IMAGE_SIZE**2 * 4 / MB


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", help="training sizes")
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=CHUNK,
        help=f"images per training chunk (default {CHUNK:,})",
    )
    parser.add_argument("--predict-n", type=int, help="images in the mapped file")
    parser.add_argument("--out", type=Path, help="JSON file to write")
    parser.add_argument("--job", choices=sorted(JOBS), help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)

    if options.job:
        args = [int(a) if a.isdigit() else a for a in options.args]
        print(json.dumps(JOBS[options.job](*args)))
        return 0

    sizes = options.n or ([20_000, 100_000] if options.quick else [100_000, 1_000_000])
    predict_n = options.predict_n or (20_000 if options.quick else 200_000)
    out = options.out or HERE / "results" / (
        "out_of_core_quick.json" if options.quick else "out_of_core.json"
    )
    machine = _machine()
    command = "python benchmarks/out_of_core.py" + (" --quick" if options.quick else "")
    if options.n:
        command += " --n " + " ".join(map(str, options.n))
    if options.batch_size != CHUNK:
        command += f" --batch-size {options.batch_size}"
    if options.predict_n:
        command += f" --predict-n {options.predict_n}"

    train = []
    for n in sizes:
        print(f"training on {n:,} images ...", file=sys.stderr, flush=True)
        train.append(_spawn("train", n, options.batch_size))
    with tempfile.TemporaryDirectory(prefix="out-of-core-") as tmp:
        path = Path(tmp) / "images.npy"
        model_dir = Path(tmp) / "model"
        print(f"writing {predict_n:,} images ...", file=sys.stderr, flush=True)
        write = _spawn("write", predict_n, path)
        _spawn("fit_save", model_dir)
        print("predicting over the mapped file ...", file=sys.stderr, flush=True)
        predict = [
            _spawn("predict", path, model_dir, how) for how in ("whole", "sliced")
        ]

    checks = _checks(train, predict)
    results = {
        "command": command,
        "quick": options.quick,
        "image_size": IMAGE_SIZE,
        "chunk_size": CHUNK,
        "target_peak_rss_mb_at_1m": TARGET_PEAK_MB,
        "machine": machine,
        "train": train,
        "write": write,
        "predict": predict,
        "checks": checks,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(_table(train, write, predict))
    print()
    for name, passed in checks.items():
        print(f"{'ok    ' if passed else 'MISSED'} {name}")
    print(f"\nwritten to {out}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
