"""Writing files all or nothing: a temporary name, then one rename."""

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["atomic_path", "write_atomically"]


@contextlib.contextmanager
def atomic_path(path):
    """Yield a new, empty temporary file beside ``path``; rename it on success.

    The temporary file is hidden, has ``path``'s suffix (some writers, such as
    Keras's ``model.save``, insist on it) and the usual permissions of a new
    file (0666 less the umask; :func:`tempfile.mkstemp` would give 0600). If
    the body raises, or the process dies, ``path`` is left as it was: absent
    or the previous file.
    """
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.stem}.{secrets.token_hex(6)}{path.suffix}")
        try:
            os.close(os.open(tmp, flags, 0o666))
            break
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_atomically(path, write, *, binary=False):
    """Write ``path`` through ``write(file)``, all or nothing.

    Returns
    -------
    path : pathlib.Path
    """
    with atomic_path(path) as tmp:
        mode, encoding = ("wb", None) if binary else ("w", "utf-8")
        with open(tmp, mode, encoding=encoding) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
    return Path(path)
