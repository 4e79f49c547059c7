"""Test configuration shared by the tests and the doctests."""

import os
import subprocess
import sys
import textwrap

import pytest

# Quiet TensorFlow's C++ logs; must be set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Plots are drawn off screen.
os.environ.setdefault("MPLBACKEND", "Agg")


def _run_concurrently(codes, env=None, timeout=600):
    """Run each of ``codes`` in a new interpreter, all at the same time.

    Starting an interpreter that imports TensorFlow takes several seconds of
    one core: two started together take little longer than one. Returns the
    ``subprocess.CompletedProcess`` of each code, in order, with text output;
    a run that does not end within ``timeout`` seconds is killed and raises
    ``subprocess.TimeoutExpired``.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for code in codes
    ]
    results = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=timeout)
            results.append(
                subprocess.CompletedProcess(
                    process.args, process.returncode, stdout, stderr
                )
            )
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return results


@pytest.fixture
def run_concurrently():
    """:func:`_run_concurrently`: new interpreters that run side by side."""
    return _run_concurrently
