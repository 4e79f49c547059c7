"""Writing files and directories all or nothing: a temporary name, then a rename.

A directory is built under a hidden temporary name beside its target and
renamed into place: readers see the previous directory or the new one, never
a mix. The temporary name records the host and process that made it, so that
the temporaries of a killed process are recognised and removed by the next
writer.
"""

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import socket
import time
import zlib
from pathlib import Path

__all__ = [
    "atomic_directory",
    "atomic_path",
    "remove_stale_temporaries",
    "replace_directory",
    "sha256_of",
    "write_atomically",
]

# Temporaries of a dead process on this host are removed by the next writer;
# those of other hosts (a shared file system) only once they are this old.
_STALE_AFTER_S = 7 * 24 * 3600
# How often a rename into place is retried when other writers keep putting
# their own directory there in between.
_MAX_SWAPS = 100


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


def sha256_of(path, *, chunk_size=1 << 20):
    """The SHA-256 digest of the file ``path``, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# directories
# ---------------------------------------------------------------------------


def _host_tag():
    """Eight hex digits naming this host in temporary names."""
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def _temporary_name(target, kind):
    """``.NAME.KIND-HOST-PID-RANDOM``: hidden, beside ``target``."""
    return f".{target.name}.{kind}-{_host_tag()}-{os.getpid()}-{secrets.token_hex(4)}"


def _process_is_alive(pid):
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) kills on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process
        return True
    return True


def remove_stale_temporaries(target, kinds=("tmp", "old"), *, where=None):
    """Remove the temporaries left beside ``target`` by killed writers.

    ``where`` is the directory they are in (default: ``target``'s parent).

    A temporary is stale when the process that made it, on this host, is
    gone, or when it is older than a week. Those of live processes (a
    concurrent writer) are left alone. Errors are ignored: cleaning is a
    courtesy, not a condition of writing.
    """
    target = Path(target)
    prefix = f".{target.name}."
    host = _host_tag()
    try:
        entries = list(os.scandir(target.parent if where is None else where))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        parts = entry.name[len(prefix) :].split("-")
        if len(parts) != 4 or parts[0] not in kinds or not parts[2].isdigit():
            continue
        try:
            age = time.time() - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        dead = parts[1] == host and not _process_is_alive(int(parts[2]))
        if dead or age > _STALE_AFTER_S:
            _remove(Path(entry.path))


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _fsync_tree(directory):
    """Flush the files of ``directory`` (and itself) to disk, where possible."""
    for path in (*sorted(Path(directory).rglob("*")), Path(directory)):
        if path.is_symlink():
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:  # pragma: no cover - e.g. directories on Windows
            continue
        try:
            os.fsync(fd)
        except OSError:  # pragma: no cover - file systems without fsync
            pass
        finally:
            os.close(fd)


def replace_directory(new, target, *, may_replace=None):
    """Rename the directory ``new`` to ``target``, replacing what is there.

    An absent ``target`` (or an empty directory) is replaced in one rename.
    Otherwise the old directory is first renamed to a hidden temporary name,
    ``new`` is renamed into place, and the old one is removed: at every moment
    ``target`` is the old directory, the new one, or (between two renames)
    absent; never a mix. When another writer puts its own directory in place
    in between, that one is replaced in turn, so concurrent writers end with
    one complete directory, the last renamed.

    ``may_replace(target)`` is called before an existing, non-empty
    ``target`` is replaced; it raises to refuse.
    """
    new, target = Path(new), Path(target)
    for _ in range(_MAX_SWAPS):
        try:
            os.rename(new, target)
            return target
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                if exc.errno == errno.ENOTDIR:
                    raise NotADirectoryError(
                        errno.ENOTDIR, f"{target} exists and is not a directory"
                    ) from None
                raise
        if may_replace is not None:
            may_replace(target)
        old = target.with_name(_temporary_name(target, "old"))
        try:
            os.rename(target, old)
        except FileNotFoundError:  # another writer moved it away: try again
            continue
        try:
            os.rename(new, target)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                # Put the old directory back if nothing took its place.
                with contextlib.suppress(OSError):
                    os.rename(old, target)
                raise
            _remove(old)  # another writer's directory is in place: replace it
            continue
        _remove(old)
        return target
    raise OSError(  # pragma: no cover - would need 100 writers in a tight race
        errno.EBUSY, f"{target} kept changing while it was being replaced"
    )


# Errors of a rename that cannot replace the directory itself (a mount point,
# a parent that is not writable, another file system): the contents are
# replaced instead.
_IN_PLACE_ERRNOS = {errno.EBUSY, errno.EXDEV, errno.EACCES, errno.EPERM, errno.EROFS}


def is_temporary_of(name, target):
    """Whether ``name`` is one of the temporaries this module makes for ``target``."""
    return name.startswith(f".{Path(target).name}.")


def visible_entries(directory):
    """The entries of ``directory``, without its own in-place temporaries."""
    return [
        p for p in Path(directory).iterdir() if not is_temporary_of(p.name, directory)
    ]


def replaces_in_place(target):
    """Whether ``target`` is an existing directory that cannot be renamed.

    A mount point, the current directory (or one holding it), or a directory
    whose parent is not writable: its contents are replaced instead of the
    directory itself.
    """
    target = Path(target)
    if not target.is_dir():
        return False
    resolved, cwd = target.resolve(), Path.cwd().resolve()
    return (
        os.path.ismount(target)
        or resolved == cwd
        or resolved in cwd.parents
        or not os.access(target.parent, os.W_OK | os.X_OK)
    )


def _replace_contents(new, target, may_replace, last):
    """Move the entries of ``new`` into ``target``, after emptying it.

    Not atomic: ``last`` (the file that marks a complete directory) is removed
    first and moved in last, so that a reader who checks it sees the old
    directory complete, the new one complete, or an incomplete one without it.
    """
    if may_replace is not None:
        may_replace(target)
    old = visible_entries(target)
    old.sort(key=lambda p: p.name != last)  # the marker first
    for path in old:
        _remove(path)
    names = sorted(os.listdir(new), key=lambda name: name == last)  # marker last
    for name in names:
        shutil.move(os.path.join(new, name), os.path.join(target, name))


@contextlib.contextmanager
def atomic_directory(target, *, may_replace=None, last=None):
    """Yield a new, empty directory beside ``target``; rename it on success.

    The directory has the permissions of :func:`os.mkdir` (0777 less the
    umask). Stale temporaries of killed writers are removed first. If the
    body raises (or is interrupted), the temporary directory is removed and
    ``target`` is left as it was. On success the files are flushed to disk
    and the directory replaces ``target`` through :func:`replace_directory`.

    A ``target`` that cannot be renamed (a mount point, a directory whose
    parent is not writable; see :func:`replaces_in_place`) gets the
    temporary directory inside it, and its contents are replaced one entry
    at a time, ``last`` (a file name) last: not atomic, but ordered.
    """
    target = Path(target)
    in_place = replaces_in_place(target)
    where = target if in_place else target.parent
    remove_stale_temporaries(target, where=where)
    while True:
        tmp = where / _temporary_name(target, "tmp")
        try:
            os.mkdir(tmp)
            break
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue
    try:
        yield tmp
        _fsync_tree(tmp)
        if in_place:
            _replace_contents(tmp, target, may_replace, last)
        else:
            try:
                replace_directory(tmp, target, may_replace=may_replace)
            except OSError as exc:
                if exc.errno not in _IN_PLACE_ERRNOS or not target.is_dir():
                    raise
                _replace_contents(tmp, target, may_replace, last)
    finally:
        if tmp.exists():
            _remove(tmp)
