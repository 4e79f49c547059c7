"""Every Python snippet of README.md runs on its own, as a script.

Each ```python block is written to a file and run in a fresh interpreter, as
a reader would paste it into ``snippet.py``; every ``print`` in it must print.
They train models, so these tests are slow; all of them start together.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _snippets():
    if not README.exists():  # e.g. tests run from an installed wheel
        return []
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


SNIPPETS = _snippets()


@pytest.mark.skipif(not README.exists(), reason="README.md is not beside tests/")
def test_readme_has_python_snippets():
    assert len(SNIPPETS) >= 2


@pytest.fixture(scope="module")
def snippet_runs(tmp_path_factory):
    """Every snippet started at once, each in a fresh interpreter in a
    directory of its own: importing TensorFlow keeps one core busy for
    seconds, so the snippets overlap. Yields, for each snippet, its process
    and the files that receive its standard output and error."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    # Run where the package is importable but not from the repository root,
    # so the snippet sees the package as a user does.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(README.parent), env.get("PYTHONPATH", "")] if p
    )
    runs = []
    for i, code in enumerate(SNIPPETS):
        directory = tmp_path_factory.mktemp(f"snippet{i}")
        script = directory / "snippet.py"
        script.write_text(code, encoding="utf-8")
        out, err = directory / "stdout.txt", directory / "stderr.txt"
        # Files, not pipes: a snippet that prints a lot cannot block while
        # the test waits on another.
        with open(out, "w") as stdout, open(err, "w") as stderr:
            process = subprocess.Popen(
                [sys.executable, str(script)],
                cwd=directory,
                env=env,
                stdout=stdout,
                stderr=stderr,
            )
        runs.append((process, out, err))
    yield runs
    for process, _, _ in runs:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
@pytest.mark.parametrize(
    "index", range(len(SNIPPETS)), ids=[f"snippet{i}" for i in range(len(SNIPPETS))]
)
def test_readme_snippet_runs_alone(index, snippet_runs):
    code = SNIPPETS[index]
    process, out, err = snippet_runs[index]
    process.wait(timeout=600)
    stdout = out.read_text(encoding="utf-8")
    assert process.returncode == 0, err.read_text(encoding="utf-8")[-3000:]
    printed = [line for line in stdout.splitlines() if line.strip()]
    n_prints = len(re.findall(r"^\s*print\(", code, flags=re.MULTILINE))
    assert n_prints > 0, "a snippet should show what it computes"
    assert len(printed) >= n_prints, stdout
