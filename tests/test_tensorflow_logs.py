"""TensorFlow starts quietly when it is imported through the package."""

import os
import subprocess
import sys
import textwrap

import pytest

from pixel_regressor import _tensorflow_logs

NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called "
    "are written to STDERR\n"
    "I0000 00:00:1796038023.997647   19591 port.cc:153] oneDNN custom "
    "operations are on.\n"
    "I0000 00:00:1796038023.999831   19591 cudart_stub.cc:31] Could not find "
    "cuda drivers on your machine, GPU will not be used.\n"
    "I0000 00:00:1796676897.498627    4788 cpu_feature_guard.cc:227] This "
    "TensorFlow binary is optimized to use available CPU instructions in "
    "performance-critical operations.\n"
    "To enable the following instructions: AVX2 FMA, in other operations, "
    "rebuild TensorFlow with the appropriate compiler flags.\n"
    "E0000 00:00:1796038033.035673   19591 cuda_platform.cc:52] failed "
    "call to cuInit: INTERNAL: CUDA error\n"
)
REAL = "E0000 00:00:1796038033.035673   19591 op.cc:1] disk on fire\n"
MARKERS = ("I0000", "E0000", "W0000", "absl", "oneDNN", "cuda", "CUDA", "cuInit")


@pytest.mark.parametrize("level", [None, "1", "2", "3"])
def test_quiet_start_drops_the_start_up_lines_only(monkeypatch, capfd, level):
    if level is None:
        monkeypatch.delenv(_tensorflow_logs.LEVEL_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(_tensorflow_logs.LEVEL_VARIABLE, level)
    with _tensorflow_logs.quiet_start():
        os.write(2, (NOISE + REAL).encode())
        print("out")
    captured = capfd.readouterr()
    assert captured.err == REAL
    assert captured.out == "out\n"
    assert os.environ[_tensorflow_logs.LEVEL_VARIABLE] == (level or "2")


def test_a_users_level_0_sees_everything(monkeypatch, capfd):
    monkeypatch.setenv(_tensorflow_logs.LEVEL_VARIABLE, "0")
    with _tensorflow_logs.quiet_start():
        os.write(2, (NOISE + REAL).encode())
    assert capfd.readouterr().err == NOISE + REAL
    assert os.environ[_tensorflow_logs.LEVEL_VARIABLE] == "0"


def test_the_lines_are_replayed_when_the_import_fails(monkeypatch, capfd):
    monkeypatch.setenv(_tensorflow_logs.LEVEL_VARIABLE, "2")

    def broken_import():
        with _tensorflow_logs.quiet_start():
            os.write(2, (NOISE + REAL).encode())
            raise ImportError("broken build")

    with pytest.raises(ImportError, match="broken build"):
        broken_import()
    assert capfd.readouterr().err == REAL


def test_the_hook_quiets_the_first_import_and_keeps_other_hooks(
    monkeypatch, capfd, tmp_path
):
    # A stand-in for TensorFlow that writes its start-up lines on import, and
    # another hook after ours (as the layers' registration is) that must
    # still see the import.
    (tmp_path / "noisy_stand_in.py").write_text(
        f"import os\nos.write(2, {(NOISE + REAL).encode()!r})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(_tensorflow_logs, "_WATCHED", ("noisy_stand_in",))
    monkeypatch.setenv(_tensorflow_logs.LEVEL_VARIABLE, "2")
    seen = []

    class Other:
        def find_spec(self, fullname, path=None, target=None):
            if fullname == "noisy_stand_in":
                seen.append(fullname)
            return None

    finder = _tensorflow_logs._FINDER
    monkeypatch.setattr(sys, "meta_path", [finder, Other(), *sys.meta_path])
    monkeypatch.delitem(sys.modules, "noisy_stand_in", raising=False)
    import noisy_stand_in  # noqa: F401

    assert capfd.readouterr().err == REAL
    assert seen == ["noisy_stand_in"]


def _fresh_interpreter(code, level):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow  # two new interpreters that import TensorFlow
def test_a_new_interpreter_fits_without_a_tensorflow_line():
    fit = """
        import os
        from pixel_regressor import BrightPixelRegressor, make_bright_pixel_dataset

        X, y = make_bright_pixel_dataset(16, image_size=5, random_state=0)
        BrightPixelRegressor(epochs=1, random_state=0).fit(X, y).predict(X[:2])
        print(os.environ["TF_CPP_MIN_LOG_LEVEL"])
        """
    imports = """
        import os
        import pixel_regressor
        import keras
        import tensorflow as tf

        print(os.environ["TF_CPP_MIN_LOG_LEVEL"])
        """
    # Started side by side: each import of TensorFlow takes seconds of a core.
    quiet = _fresh_interpreter(fit, None)
    user = _fresh_interpreter(imports, "0")
    out, err = quiet.communicate(timeout=300)
    user_out, _ = user.communicate(timeout=300)
    assert quiet.returncode == 0, err
    assert out.split() == ["2"]
    for marker in MARKERS:
        assert marker not in err, err
    assert err == ""
    assert user.returncode == 0
    assert user_out.split() == ["0"]  # the user's level, kept
