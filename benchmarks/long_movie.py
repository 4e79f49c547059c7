"""A long TIFF movie located in bounded memory: peak RSS against its length.

Usage::

    python benchmarks/long_movie.py [--frames 10000 1000] [--dir DIR]

Writes a TIFF stack of 512x512 uint16 frames (about 50 spots per frame,
photons 300-3,000, background 10-50, PSF width 1.0-1.6 px: 200 simulated
frames, repeated to the length asked; 0.5 MB a frame, 5.2 GB for 10,000), fits
a small locator on its first 200 frames (2,000 training crops, 2 epochs: the
figures here are memory and time, not accuracy) and saves it. Then, for each
length, a fresh interpreter loads the locator and runs ``locate`` on
``read_frames(path)`` (a lazy reader: ``batch_frames`` = 64 frames read at a
time) over that many frames, and reports its peak resident memory
(``ru_maxrss``, TensorFlow included, which counts the memory-mapped file's
pages read), its peak anonymous memory (``RssAnon``, sampled every 20 ms:
what the process holds, not the file's cached pages), its wall time and the
table's rows. A flat anonymous peak over the lengths is memory bounded by a
batch; the table itself (about 80 bytes a row) is the only thing that
grows.

Writes ``benchmarks/results/long_movie.json`` and ``.md``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from frames import _write_atomically
from run import machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SHAPE = (512, 512)
DISTINCT = 200
CHUNK = 100

CHILD = """
import json, resource, sys, threading, time, warnings
from pixel_regressor import load_locator
from pixel_regressor.io import read_frames

peak_anon = [0]


def watch():  # the anonymous memory (not the file's mapped pages), sampled
    while True:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    peak_anon[0] = max(peak_anon[0], int(line.split()[1]))
        time.sleep(0.02)


threading.Thread(target=watch, daemon=True).start()

locator = load_locator(sys.argv[1])
movie = read_frames(sys.argv[2])
n = int(sys.argv[3])


class First:  # the first n frames, still lazy
    def __len__(self):
        return n

    def __getitem__(self, index):
        r = range(n)[index]
        if isinstance(r, range):
            return movie[slice(r.start, r.stop, r.step)]
        return movie[r]


frames = First()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    table = locator.locate(frames)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "frames": n, "seconds": seconds, "rows": len(table),
    "peak_rss_mb": peak / 1024, "rss_before_locate_mb": before / 1024,
    "peak_anon_mb": peak_anon[0] / 1024, "reader": type(movie).__name__,
    "table_mb": table.memory_usage(deep=True).sum() / 2**20,
}))
"""


def write_movie(path, n_frames):
    import numpy as np
    import tifffile

    from pixel_regressor import make_spot_frames

    frames, _ = make_spot_frames(
        DISTINCT,
        shape=SHAPE,
        density=50 * 1024 / (SHAPE[0] * SHAPE[1]),
        photons=(300.0, 3000.0),
        background=(10.0, 50.0),
        psf_sigma=(1.0, 1.6),
        random_state=0,
    )
    frames = np.clip(np.round(frames), 0, 65535).astype(np.uint16)
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        for start in range(0, n_frames, CHUNK):
            index = np.arange(start, min(start + CHUNK, n_frames)) % DISTINCT
            tif.write(frames[index], contiguous=True, photometric="minisblack")
    return frames


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory")
    parser.add_argument("--out", type=Path, default=RESULTS / "long_movie.json")
    args = parser.parse_args(argv)
    from pixel_regressor import BrightPixelRegressor, SpotLocator

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        movie = Path(scratch) / "movie.tif"
        t = time.perf_counter()
        frames = write_movie(movie, max(args.frames))
        write_s = time.perf_counter() - t
        locator = SpotLocator(
            BrightPixelRegressor(head="spot", epochs=2),
            training_size=2000,
            random_state=0,
        ).fit(frames)
        locator.save(Path(scratch) / "locator")
        runs = []
        for n in sorted(args.frames):
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    str(Path(scratch) / "locator"),
                    str(movie),
                    str(n),
                ],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
            run = json.loads(done.stdout.strip().splitlines()[-1])
            run["frames_per_s"] = run["frames"] / run["seconds"]
            print(run, flush=True)
            runs.append(run)
        size_gb = movie.stat().st_size / 1e9
    document = {
        "command": " ".join(
            ["python benchmarks/long_movie.py", *(argv or sys.argv[1:])]
        ),
        "machine": machine_info(),
        "movie_gb": size_gb,
        "write_s": write_s,
        "runs": runs,
        "wall_time_s": time.perf_counter() - start,
        "load_average_end": list(os.getloadavg()),
    }
    lines = [
        "# A long TIFF movie in bounded memory",
        "",
        f"Command: `{document['command']}` ({document['wall_time_s']:.0f} s; "
        f"{document['machine'].get('cpu_count')} cores, load average at the end "
        f"{document['load_average_end'][0]:.1f}). A {size_gb:.1f} GB TIFF of "
        "512x512 uint16 frames, about 50 spots each, read lazily by "
        f"`read_frames` (a {runs[0]['reader']}). The peak RSS counts the "
        "file's pages mapped and read (the kernel's page cache, which it "
        "drops as it needs); the anonymous memory is what the process holds.",
        "",
        "| frames | peak anonymous memory (MB) | peak RSS (MB) | RSS before "
        "locate (MB) | table (MB) | rows | frames/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        lines.append(
            f"| {run['frames']:,} | {run['peak_anon_mb']:.0f} | "
            f"{run['peak_rss_mb']:.0f} | "
            f"{run['rss_before_locate_mb']:.0f} | {run['table_mb']:.1f} | "
            f"{run['rows']:,} | {run['frames_per_s']:.1f} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(args.out, json.dumps(document, indent=2) + "\n")
    _write_atomically(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
