"""Every Python snippet of README.md runs on its own, as a script.

Each ```python block is written to a file and run in a fresh interpreter, as
a reader would paste it into ``snippet.py``; every ``print`` in it must print.
They train models, so these tests are slow.
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


@pytest.mark.slow
@pytest.mark.parametrize(
    "code", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))]
)
def test_readme_snippet_runs_alone(code, tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    # Run where the package is importable but not from the repository root,
    # so the snippet sees the package as a user does.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(README.parent), env.get("PYTHONPATH", "")] if p
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    printed = [line for line in result.stdout.splitlines() if line.strip()]
    n_prints = len(re.findall(r"^\s*print\(", code, flags=re.MULTILINE))
    assert n_prints > 0, "a snippet should show what it computes"
    assert len(printed) >= n_prints, result.stdout
