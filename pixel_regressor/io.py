"""Reading images, and stacks of them, from files: ``(n_frames, height, width)``.

:func:`read_frames` reads every format the package takes, by the file's
contents (its first bytes), not its name:

- ``.npy`` arrays, memory-mapped read-only (:func:`numpy.load` with
  ``mmap_mode="r"``): ``(height, width)`` or ``(height, width, 1)`` is one
  frame, ``(n_frames, height, width)`` or ``(n_frames, height, width, 1)`` a
  stack;
- TIFF files, through :mod:`tifffile`, every page: a stack whose pixels are
  stored uncompressed and in one piece is memory-mapped (as
  :func:`tifffile.memmap` does); any other is a :class:`TiffFrames`, which
  decodes a page only when it is indexed;
- every other image format through Pillow (PNG, JPEG, BMP, GIF, WebP, ...),
  decoded whole; each frame of an animated image is a frame.

Each frame's size is checked against ``max_pixels`` from the file's header,
before anything is decoded or mapped: a file of a few hundred kilobytes can
claim a 20000x20000 image (a decompression bomb), whose decoding would take
gigabytes. Colour images are turned to grayscale by the mean of their red,
green and blue channels; an alpha channel is ignored. Boolean, complex and
other non-numeric arrays are refused.

:func:`iter_frame_batches` goes through a stack a few frames at a time, so
that a movie larger than memory is read in pieces.

:func:`write_localizations` writes a table of localisations (as
:meth:`pixel_regressor.SpotLocator.locate` returns it) to CSV, or to the HDF5
and YAML pair that Picasso opens; :func:`read_localizations` reads either back.

NumPy is imported with this module; :mod:`tifffile` and Pillow only when a
file of theirs is read, h5py and PyYAML only for Picasso's files.
"""

import numbers
import operator

import numpy as np

__all__ = [
    "MAX_PIXELS",
    "ImageTooLargeError",
    "TiffFrames",
    "iter_frame_batches",
    "read_frames",
    "read_localizations",
    "write_localizations",
]

# Pillow's own default limit (PIL.Image.MAX_IMAGE_PIXELS, 1024**3 // 4 // 3):
# a 24-bit image of a quarter of a gibibyte. Pillow warns above it and
# refuses above twice it.
MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3

# Pixels per batch of iter_frame_batches: 32 MiB of float64.
_BATCH_PIXELS = 1 << 22

_NPY_MAGIC = b"\x93NUMPY"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
# Colour images have this many samples at most (RGB and alpha).
_MAX_SAMPLES = 4


def _check_max_pixels(max_pixels):
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral):
        raise TypeError(
            f"max_pixels must be an int >= 1 or None, got "
            f"{type(max_pixels).__name__} {max_pixels!r}."
        )
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be an int >= 1 or None, got {max_pixels}.")
    return int(max_pixels)


class ImageTooLargeError(ValueError):
    """An image file refused for its size, before it was decoded.

    Raised by :func:`read_frames` when a frame has more pixels than its
    ``max_pixels`` (or Pillow's own limit); a :class:`ValueError`.
    """


def _check_size(path, height, width, max_pixels):
    """Refuse a frame of ``height`` x ``width`` pixels above ``max_pixels``."""
    if max_pixels is not None and height * width > max_pixels:
        raise ImageTooLargeError(
            f"{str(path)!r}: a frame of {height}x{width} pixels "
            f"({height * width:,}) is more than max_pixels={max_pixels:,}; it was "
            "refused before decoding."
        )
    if height == 0 or width == 0:
        raise ValueError(f"{str(path)!r} holds an empty image of {height}x{width}.")


def _check_dtype(path, dtype):
    if dtype.kind not in "iuf":
        hint = "; convert a boolean mask first" if dtype.kind == "b" else ""
        raise TypeError(
            f"{str(path)!r} holds {dtype} values, not real pixel values: it must "
            f"hold real numbers (integers or floats){hint}."
        )


def _gray(array, path):
    """``(..., height, width[, samples])`` pixels as ``(..., height, width)``.

    One or two samples (gray, gray and alpha): the first; three or four (RGB,
    RGBA): the mean of the first three, as float32 (float64 for 32- and
    64-bit samples).
    """
    samples = array.shape[-1]
    if samples <= 2:
        return array[..., 0]
    if samples > _MAX_SAMPLES:
        raise ValueError(
            f"{str(path)!r} has {samples} samples per pixel; images are read as "
            "grayscale, gray and alpha, RGB or RGBA."
        )
    dtype = np.float64 if array.dtype.itemsize > 2 else np.float32
    return array[..., :3].mean(axis=-1, dtype=np.float64).astype(dtype)


def read_frames(path, *, max_pixels=MAX_PIXELS):
    """Read an image file, or a stack of them, as ``(n_frames, height, width)``.

    Parameters
    ----------
    path : str or path-like
        A ``.npy`` array, a TIFF file (every page), or any image file Pillow
        reads (PNG, JPEG, BMP, GIF, WebP, ...; every frame of an animated
        one). The format is told by the file's first bytes.
    max_pixels : int or None, default=MAX_PIXELS
        The most pixels of one frame (of all frames, for the formats Pillow
        decodes whole), checked from the file's header before anything is
        decoded. The default is Pillow's own ``MAX_IMAGE_PIXELS``
        (89,478,485); None reads any size (Pillow still refuses images above
        twice its ``PIL.Image.MAX_IMAGE_PIXELS``).

    Returns
    -------
    frames : ndarray or TiffFrames of shape (n_frames, height, width)
        A read-only :class:`numpy.memmap` for a ``.npy`` file and for a TIFF
        file stored uncompressed in one piece; a :class:`TiffFrames`, which
        reads a page when it is indexed, for any other TIFF file (close it,
        or use it in a ``with`` block, to close the file); an array in memory
        for the formats Pillow reads. Pixel values are as stored (colour
        images: the mean of red, green and blue, as float32).

    Raises
    ------
    ValueError
        When the file is not an image of a format read here, is truncated or
        corrupt, or holds an empty image.
    ImageTooLargeError
        A :class:`ValueError`: when a frame has more than ``max_pixels``
        pixels (all frames, for the formats Pillow decodes whole).
    TypeError
        When the file holds values that are not real numbers: booleans (a
        mask; bilevel image files are read as 0 and 1, or 0 and 255),
        complex numbers, strings or objects.
    FileNotFoundError, IsADirectoryError
        When ``path`` is not a file.

    See Also
    --------
    iter_frame_batches : Go through the frames a few at a time.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import tifffile
    >>> from pixel_regressor.io import read_frames
    >>> folder = Path(tempfile.mkdtemp())
    >>> stack = np.zeros((3, 8, 10), dtype=np.uint16)
    >>> stack[:, 2, 5] = [10, 20, 30]
    >>> tifffile.imwrite(folder / "stack.tif", stack, photometric="minisblack")
    >>> frames = read_frames(folder / "stack.tif")
    >>> frames.shape
    (3, 8, 10)
    >>> int(frames[2].max())
    30
    >>> np.save(folder / "image.npy", np.eye(4))
    >>> read_frames(folder / "image.npy").shape
    (1, 4, 4)
    >>> read_frames(folder / "stack.tif", max_pixels=50)
    Traceback (most recent call last):
    ...
    pixel_regressor.io.ImageTooLargeError: '.../stack.tif': a frame of 8x10 ...
    """
    import os

    max_pixels = _check_max_pixels(max_pixels)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path!r}: no such file.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not an image file.")
    with open(path, "rb") as file:
        magic = file.read(8)
    if magic.startswith(_NPY_MAGIC):
        return _read_npy(path, max_pixels)
    if magic.startswith(_TIFF_MAGICS):
        return _read_tiff(path, max_pixels)
    if path.lower().endswith(".npy"):
        raise ValueError(
            f"{path!r} is not a NumPy .npy file: it does not start with the .npy "
            "format's magic string."
        )
    return _read_pillow(path, max_pixels)


# ---------------------------------------------------------------------------
# .npy
# ---------------------------------------------------------------------------


def _npy_header(path):
    """The shape and dtype of a ``.npy`` file, from its header alone."""
    from numpy.lib import format as npy_format

    with open(path, "rb") as file:
        version = npy_format.read_magic(file)
        if version == (1, 0):
            shape, _, dtype = npy_format.read_array_header_1_0(file)
        elif version == (2, 0):
            shape, _, dtype = npy_format.read_array_header_2_0(file)
        else:  # 3.0 exists only for structured dtypes with non-Latin-1 names
            raise ValueError(f"a .npy format version {version} of structured values")
    return shape, dtype


def _read_npy(path, max_pixels):
    try:
        shape, dtype = _npy_header(path)
    except (OSError, ValueError, EOFError, SyntaxError) as exc:
        raise ValueError(f"{path!r} is not a readable .npy array: {exc}") from None
    _check_dtype(path, dtype)
    if 0 in shape:
        raise ValueError(f"{path!r} holds an empty array of shape {shape}.")
    if len(shape) == 3 and 1 < shape[2] <= _MAX_SAMPLES:
        raise ValueError(
            f"{path!r} holds an array of shape {shape}, a colour image? A .npy "
            "file holds one grayscale image, (height, width) or (height, width, "
            "1), or a stack of them, (n_frames, height, width[, 1])."
        )
    if len(shape) == 3 and shape[2] == 1:
        frame_shape = shape[:2]
    elif len(shape) in (2, 3, 4) and (len(shape) < 4 or shape[3] == 1):
        frame_shape = shape[-2:] if len(shape) < 4 else shape[1:3]
    else:
        raise ValueError(
            f"{path!r} holds an array of shape {shape}; expected one grayscale "
            "image, (height, width) or (height, width, 1), or a stack of them, "
            "(n_frames, height, width[, 1])."
        )
    _check_size(path, *frame_shape, max_pixels)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{path!r} is not a readable .npy array: {exc}") from None
    if array.ndim == 4:
        return array[..., 0]
    if array.ndim == 3 and array.shape[2] == 1:
        return array[np.newaxis, :, :, 0]
    return array if array.ndim == 3 else array[np.newaxis]


# ---------------------------------------------------------------------------
# TIFF
# ---------------------------------------------------------------------------


class TiffFrames:
    """The frames of a TIFF file, each page decoded when it is indexed.

    Returned by :func:`read_frames` for TIFF files that cannot be
    memory-mapped (compressed, or stored in pieces). It behaves as a
    read-only array of shape ``(n_frames, height, width)`` for ``len``,
    ``shape``, ``dtype``, indexing (an int gives one frame, a slice or a
    sequence of ints a stack of those frames; further indices apply to
    them), iteration (one frame at a time) and :func:`numpy.asarray` (every
    frame: the whole stack in memory). Only the pages asked for are read.

    It holds the file open: :meth:`close` it, or use it as a context manager.
    Not safe to use from several threads at once.

    Attributes
    ----------
    path : str
        The file.
    shape : tuple of int
        ``(n_frames, height, width)``.
    dtype : numpy.dtype
        The frames' dtype.
    """

    ndim = 3

    def __init__(self, path, tiff, pages, frame_shape, dtype, convert):
        self.path = path
        self._tiff = tiff
        self._pages = pages
        self.shape = (len(pages), *frame_shape)
        self.dtype = np.dtype(dtype)
        self._convert = convert

    def __len__(self):
        return self.shape[0]

    @property
    def size(self):
        """The number of pixels of all frames."""
        return int(np.prod(self.shape))

    def _frame(self, index):
        if self._tiff is None:
            raise ValueError(f"{self.path!r}: reading a closed TIFF file.")
        page = self._pages[index]
        try:
            if page is None:
                raise ValueError("the page is missing")
            array = page.asarray()
        except MemoryError:
            raise
        except Exception as exc:  # tifffile's and its codecs' many errors
            raise ValueError(
                f"{self.path!r}: page {index} cannot be decoded: {exc}"
            ) from None
        return self._convert(array)

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            if not key:
                return self[:]
            key, rest = key[0], key[1:]
        try:
            index = operator.index(key)
        except TypeError:
            if isinstance(key, slice):
                indices = range(*key.indices(len(self)))
            else:
                indices = np.arange(len(self))[key]
                if indices.ndim != 1:
                    raise IndexError(
                        "TiffFrames takes an int, a slice or a 1-D sequence of "
                        "frame indices"
                    ) from None
            out = np.empty((len(indices), *self.shape[1:]), dtype=self.dtype)
            for i, frame in enumerate(indices):
                out[i] = self._frame(int(frame))
            return out[(slice(None), *rest)] if rest else out
        if not -len(self) <= index < len(self):
            raise IndexError(f"frame {index} is out of range for {len(self)} frame(s)")
        frame = self._frame(index % len(self))
        return frame[rest] if rest else frame

    def __iter__(self):
        for index in range(len(self)):
            yield self._frame(index)

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("TiffFrames cannot be read as an array without a copy")
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def close(self):
        """Close the file; further reading raises ``ValueError``."""
        if self._tiff is not None:
            self._tiff.close()
            self._tiff = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self):
        n, height, width = self.shape
        return (
            f"TiffFrames({self.path!r}, {n} frame(s) of {height}x{width}, {self.dtype})"
        )


def _page_layout(path, axes, shape):
    """How to turn a page of ``axes`` into a 2-D frame: (height, width, convert)."""
    axes = "".join(axes)
    if axes == "YX":
        return shape[0], shape[1], lambda a: a
    samples = shape[-1] if axes == "YXS" else shape[0] if axes == "SYX" else 1
    if samples > _MAX_SAMPLES:
        raise ValueError(
            f"{path!r} has {samples} samples per pixel; images are read as "
            "grayscale, gray and alpha, RGB or RGBA."
        )
    if axes == "YXS":
        return shape[0], shape[1], lambda a: _gray(a, path)
    if axes == "SYX":
        return shape[1], shape[2], lambda a: _gray(np.moveaxis(a, 0, -1), path)
    raise ValueError(
        f"{path!r} holds TIFF pages of axes {axes!r} and shape {tuple(shape)}; "
        "pages are read as 2-D grayscale or colour images."
    )


def _read_tiff(path, max_pixels):
    import tifffile

    try:
        tiff = tifffile.TiffFile(path)
    except MemoryError:
        raise
    except Exception as exc:  # tifffile's and its parsers' many errors
        raise ValueError(f"{path!r} is not a readable TIFF file: {exc}") from None
    try:
        return _tiff_frames(path, tiff, max_pixels)
    except BaseException:
        tiff.close()
        raise


def _gray_dtype(dtype, samples):
    """The dtype :func:`_gray` gives for pixels of ``dtype`` with ``samples``."""
    if dtype.kind == "b":
        return np.dtype(np.uint8)
    if samples <= 2:
        return np.dtype(dtype)
    return np.dtype(np.float64 if dtype.itemsize > 2 else np.float32)


def _tiff_frames(path, tiff, max_pixels):
    try:
        series = tiff.series
        pages = series[0].pages if len(series) == 1 else tiff.pages
        first = next((page for page in pages if page is not None), None)
        if first is None:
            raise ValueError("it holds no image")
        first = first.keyframe
        axes, shape, dtype = first.axes, tuple(first.shape), first.dtype
    except MemoryError:
        raise
    except Exception as exc:  # tifffile's and its parsers' many errors
        raise ValueError(f"{path!r} is not a readable TIFF file: {exc}") from None
    if dtype is None:
        raise ValueError(f"{path!r} holds TIFF pages of a sample format not read here.")
    height, width, convert = _page_layout(path, axes, shape)
    _check_size(path, height, width, max_pixels)
    if dtype.kind != "b":
        _check_dtype(path, dtype)
    samples = shape[-1] if axes == "YXS" else shape[0] if axes == "SYX" else 1
    out_dtype = _gray_dtype(dtype, samples)
    if len(series) > 1:
        # Pages of several series (each written on its own, say): every page
        # is a frame, if all are alike.
        for index, page in enumerate(pages):
            if tuple(page.shape) != shape or page.dtype != dtype:
                raise ValueError(
                    f"{path!r}: page {index} holds {page.dtype} pixels of shape "
                    f"{tuple(page.shape)}, page 0 {dtype} pixels of shape {shape}; "
                    "a stack is read from pages of one shape and dtype."
                )
    elif series[0].dataoffset is not None and axes == "YX" and dtype.kind != "b":
        # Uncompressed, in one piece: memory-mapped, as tifffile.memmap does.
        whole = series[0]
        try:
            mapped = np.memmap(
                path,
                np.dtype(tiff.byteorder + dtype.char),
                "r",
                whole.dataoffset,
                tuple(whole.shape),
                "C",
            )
        except (OSError, ValueError) as exc:  # truncated
            raise ValueError(f"{path!r} is not a readable TIFF file: {exc}") from None
        tiff.close()
        return mapped.reshape(-1, height, width)
    if dtype.kind == "b":  # bilevel: 0 and 1

        def convert(array, gray=convert):
            return gray(array).astype(np.uint8)

    return TiffFrames(path, tiff, pages, (height, width), out_dtype, convert)


# ---------------------------------------------------------------------------
# Pillow
# ---------------------------------------------------------------------------

# Pillow's modes read as they are; any other is converted to RGB first.
_PILLOW_MODES = ("L", "LA", "I", "F", "RGB", "RGBA", "I;16", "I;16L", "I;16B")


def _read_pillow(path, max_pixels):
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit; max_pixels decides here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as exc:
        limit = "" if max_pixels is None else f"max_pixels={max_pixels:,}; "
        raise ImageTooLargeError(
            f"{path!r} was refused before decoding: {exc} ({limit}Pillow refuses "
            "images above twice PIL.Image.MAX_IMAGE_PIXELS)"
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ValueError(f"{path!r} is not a readable image: {exc}") from None
    with image:
        width, height = image.size
        _check_size(path, height, width, max_pixels)
        try:
            n_frames = int(getattr(image, "n_frames", 1))
        except MemoryError:
            raise
        except Exception as exc:  # a truncated animation
            raise ValueError(f"{path!r} is not a readable image: {exc}") from None
        if max_pixels is not None and n_frames * height * width > max_pixels:
            raise ImageTooLargeError(
                f"{path!r}: {n_frames} frames of {height}x{width} pixels "
                f"({n_frames * height * width:,} in all) are more than max_pixels="
                f"{max_pixels:,}; they were refused before decoding."
            )
        out = None
        for index in range(n_frames):
            frame = _pillow_frame(path, image, index, n_frames)
            if frame.shape != (height, width):
                raise ValueError(
                    f"{path!r}: frame {index} is {frame.shape[0]}x{frame.shape[1]} "
                    f"pixels, frame 0 {height}x{width}."
                )
            if out is None:
                out = np.empty((n_frames, height, width), dtype=frame.dtype)
            out[index] = frame
    return out


def _pillow_frame(path, image, index, n_frames):
    """Frame ``index`` of a Pillow image, decoded, as a 2-D array."""
    try:
        image.seek(index)
        frame = image
        if frame.mode == "1":
            frame = frame.convert("L")
        elif frame.mode not in _PILLOW_MODES:
            frame = frame.convert("RGB")
        array = np.asarray(frame)
    except MemoryError:
        raise
    except Exception as exc:  # Pillow's decoders raise many kinds
        where = "" if n_frames == 1 else f" (frame {index} of {n_frames})"
        raise ValueError(f"{path!r} is not a readable image{where}: {exc}") from None
    return _gray(array, path) if array.ndim == 3 else array


# ---------------------------------------------------------------------------
# batches
# ---------------------------------------------------------------------------


def iter_frame_batches(frames, *, batch_pixels=_BATCH_PIXELS, max_pixels=MAX_PIXELS):
    """Go through a stack of frames a few at a time, in bounded memory.

    Parameters
    ----------
    frames : str, path-like, or array-like of shape (n_frames, height, width)
        A file (read with :func:`read_frames`, and closed at the end) or
        what :func:`read_frames` returns.
    batch_pixels : int, default=4194304
        The most pixels of a batch (at least one frame is in each):
        ``batch_pixels // (height * width)`` frames per batch, 32 MiB of
        float64 by default.
    max_pixels : int or None, default=MAX_PIXELS
        Passed to :func:`read_frames` when ``frames`` is a file.

    Yields
    ------
    start : int
        The index of the batch's first frame.
    batch : ndarray of shape (n_batch, height, width)
        Frames ``start`` to ``start + n_batch``; a view of a memory-mapped
        file, which reads its pages as they are used.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> from pixel_regressor.io import iter_frame_batches
    >>> movie = Path(tempfile.mkdtemp()) / "movie.npy"
    >>> np.save(movie, np.zeros((10, 16, 16), dtype=np.uint16))
    >>> for start, batch in iter_frame_batches(movie, batch_pixels=1024):
    ...     print(start, batch.shape)
    0 (4, 16, 16)
    4 (4, 16, 16)
    8 (2, 16, 16)
    """
    if isinstance(batch_pixels, bool) or not isinstance(batch_pixels, numbers.Integral):
        raise TypeError(
            f"batch_pixels must be an int >= 1, got {type(batch_pixels).__name__} "
            f"{batch_pixels!r}."
        )
    if batch_pixels < 1:
        raise ValueError(f"batch_pixels must be an int >= 1, got {batch_pixels}.")
    import os

    opened = isinstance(frames, (str, bytes, os.PathLike))
    if opened:
        frames = read_frames(frames, max_pixels=max_pixels)
    try:
        shape = tuple(frames.shape)
        if len(shape) != 3:
            raise ValueError(
                f"frames must have shape (n_frames, height, width), got {shape}."
            )
        n, height, width = shape
        size = max(1, int(batch_pixels) // max(1, height * width))
        for start in range(0, n, size):
            yield start, np.asarray(frames[start : start + size])
    finally:
        if opened and isinstance(frames, TiffFrames):
            frames.close()


# ---------------------------------------------------------------------------
# tables of localisations
# ---------------------------------------------------------------------------

# Picasso's localisation fields (picasso.localize), in its order and dtypes,
# with the table column each is made from (None: computed).
_PICASSO_FIELDS = (
    ("frame", "u4", "frame"),
    ("x", "f4", "col"),
    ("y", "f4", "row"),
    ("photons", "f4", "photons"),
    ("sx", "f4", None),
    ("sy", "f4", None),
    ("bg", "f4", "background"),
    ("lpx", "f4", "col_std"),
    ("lpy", "f4", "row_std"),
    ("ellipticity", "f4", None),
    ("net_gradient", "f4", "score"),
)
# Fields of a Picasso file read back into the table's columns.
_FROM_PICASSO = {
    "x": "col",
    "y": "row",
    "lpx": "col_std",
    "lpy": "row_std",
    "bg": "background",
    "net_gradient": "score",
}
_CSV_SUFFIXES = (".csv",)
_HDF5_SUFFIXES = (".hdf5", ".h5")
# The most bytes of a Picasso metadata (.yaml) file read back.
_MAX_YAML_BYTES = 1 << 20


def _table_format(path):
    import os

    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix in _CSV_SUFFIXES:
        return "csv"
    if suffix in _HDF5_SUFFIXES:
        return "hdf5"
    raise ValueError(
        f"{os.fspath(path)!r}: a table of localisations is written to and read "
        "from .csv (CSV) or .hdf5 / .h5 (Picasso's HDF5 and YAML pair) files, "
        f"not {suffix or 'a file without a suffix'!r}."
    )


def _import_hdf5(caller):
    try:
        import h5py
        import yaml
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs h5py and PyYAML for Picasso's HDF5 files: install "
            "them with `pip install pixel-regressor[hdf5]` (or `pip install h5py "
            f"pyyaml`); {exc}"
        ) from exc
    return h5py, yaml


def _check_table(table, required, where):
    """``table``'s ``required`` columns, checked: finite numbers, int frames."""
    if not hasattr(table, "columns") or not hasattr(table, "to_csv"):
        raise TypeError(
            f"{where} must be a pandas DataFrame of localisations (as "
            f"SpotLocator.locate returns), got {type(table).__name__}."
        )
    missing = [name for name in required if name not in table.columns]
    if missing:
        raise ValueError(
            f"{where} lacks the column(s) {missing}; it has {list(table.columns)}."
        )
    for name in required:
        values = np.asarray(table[name])
        if values.dtype.kind not in "biuf":
            raise TypeError(
                f"{where}'s column {name!r} must hold numbers, got {values.dtype}."
            )
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise ValueError(f"{where}'s column {name!r} holds NaN or infinity.")
    frame = np.asarray(table["frame"])
    if len(frame) and (
        frame.dtype.kind == "b"
        or (frame.dtype.kind == "f" and not np.all(frame == np.round(frame)))
        or frame.min() < 0
        or frame.max() > np.iinfo(np.uint32).max
    ):
        raise ValueError(
            f"{where}'s frame column must hold frame indices, integers from 0 "
            f"to {np.iinfo(np.uint32).max}."
        )


def _check_frames_shape(frames_shape):
    if frames_shape is None:
        raise ValueError(
            "frames_shape=(n_frames, height, width) is needed for Picasso's "
            "files: their metadata give the movie's Frames, Height and Width."
        )
    shape = tuple(frames_shape) if np.iterable(frames_shape) else ()
    if len(shape) != 3 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
        for v in shape
    ):
        raise ValueError(
            "frames_shape must be (n_frames, height, width), three ints >= 1, got "
            f"{frames_shape!r}."
        )
    return tuple(int(v) for v in shape)


def _positive_number(value, name):
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a number > 0 or None, got {value!r}.")
    return float(value)


def _picasso_records(table, psf_sigma):
    """The table as Picasso's structured array of localisations."""
    n = len(table)
    records = np.zeros(n, dtype=[(name, dtype) for name, dtype, _ in _PICASSO_FIELDS])
    for name, _, column in _PICASSO_FIELDS:
        if column is not None:
            records[name] = np.asarray(table[column])
    for name in ("sx", "sy"):
        records[name] = table[name] if name in table.columns else psf_sigma
    wide = np.maximum(records["sx"], records["sy"])
    narrow = np.minimum(records["sx"], records["sy"])
    with np.errstate(divide="ignore", invalid="ignore"):
        records["ellipticity"] = np.where(wide > 0, (wide - narrow) / wide, 0.0)
    if "close_pair" in table.columns:
        from numpy.lib import recfunctions

        records = recfunctions.append_fields(
            records,
            "close_pair",
            np.asarray(table["close_pair"], dtype=np.uint8),
            usemask=False,
        )
    return records


def write_localizations(
    table,
    path,
    *,
    frames_shape=None,
    psf_sigma=None,
    pixel_size=None,
    metadata=None,
):
    """Write a table of localisations to CSV, or to Picasso's HDF5 and YAML.

    The format is told by ``path``'s suffix:

    - ``.csv``: every column of ``table``, as :meth:`pandas.DataFrame.to_csv`
      writes it (no index);
    - ``.hdf5`` or ``.h5``: the files Picasso (Localize, Render, Filter)
      reads: an HDF5 file whose dataset ``locs`` is a structured array of
      one record per localisation, and beside it a YAML file of the same
      name with the suffix ``.yaml``, its metadata (see Notes).

    Each file is written all or nothing: under a temporary name beside it,
    renamed into place at the end, so that an interrupted write leaves the
    earlier file or none.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per localisation, as :meth:`SpotLocator.locate
        <pixel_regressor.SpotLocator.locate>` returns it: ``frame``, ``row``
        and ``col`` at least; Picasso's files also need ``row_std``,
        ``col_std``, ``photons``, ``background`` and ``score``.
    path : str or path-like
        The file to write: ``.csv``, ``.hdf5`` or ``.h5``.
    frames_shape : tuple of (int, int, int), default=None
        ``(n_frames, height, width)`` of the movie located: Picasso's
        metadata (``Frames``, ``Height``, ``Width``). Needed for Picasso's
        files; not used for CSV.
    psf_sigma : float, default=None
        The PSF's width in pixels (:attr:`SpotLocator.psf_sigma_
        <pixel_regressor.SpotLocator>`), Picasso's ``sx`` and ``sy`` when the
        table has no such columns. Needed for Picasso's files then.
    pixel_size : float, default=None
        The camera's pixel size in nanometres, Picasso's ``Pixelsize``.
    metadata : dict, default=None
        More entries for the YAML file's localisation document (strings,
        numbers, booleans, lists and dicts of them).

    Returns
    -------
    path : pathlib.Path
        The table's file (for Picasso's pair, the ``.hdf5`` file; the
        ``.yaml`` file lies beside it).

    Raises
    ------
    ValueError
        When ``path`` has another suffix, a column is missing or holds NaN,
        infinity or negative frames, or Picasso's files lack
        ``frames_shape`` or a width.
    TypeError
        When ``table`` is not a DataFrame or a column does not hold numbers.
    ImportError
        When h5py or PyYAML, needed for Picasso's files, is not installed
        (``pip install pixel-regressor[hdf5]``).

    See Also
    --------
    read_localizations : Read such a file back.

    Notes
    -----
    Picasso's fields, as its Localize writes them (``frame`` uint32, the
    others float32): ``frame``; ``x``, the **column**, and ``y``, the
    **row**, in camera pixels; ``photons``; ``sx`` and ``sy``, the PSF's
    width along x and y; ``bg``, the background per pixel; ``lpx`` and
    ``lpy``, the localisation precision along x and y (``col_std`` and
    ``row_std``); ``ellipticity``; ``net_gradient``, the detection's
    strength (``score``); and, from this package, ``close_pair`` (uint8).
    Picasso's Localize gives ``x = box_x + fitted offset``, the box's
    centre pixel's index plus the offset from that pixel's centre: pixel
    centres lie at integer coordinates, as for ``(row, col)`` here, so
    ``x = col`` and ``y = row`` with no shift. Picasso drops, on loading,
    localisations with a negative ``x`` or ``y`` or one beyond ``Width`` or
    ``Height`` (a spot centred in the outer half of an edge pixel); they
    are written all the same.

    The YAML file holds two documents, as Picasso's Localize writes them:
    the movie's (``Frames``, ``Height``, ``Width``) and the localisation's
    (``Generated by``, ``PSF sigma``, ``Pixelsize``, and ``metadata``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from pixel_regressor.io import read_localizations, write_localizations
    >>> table = pd.DataFrame({
    ...     "frame": [0, 0, 1], "row": [3.2, 10.5, 7.0], "col": [4.0, 2.25, 9.5],
    ...     "row_std": [0.1, 0.2, 0.1], "col_std": [0.1, 0.2, 0.15],
    ...     "score": [12.0, 8.0, 20.0], "photons": [900.0, 500.0, 2000.0],
    ...     "background": [10.0, 11.0, 9.0], "close_pair": [False, False, True],
    ... })
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_localizations(table, folder / "locs.csv").name
    'locs.csv'
    >>> _ = write_localizations(
    ...     table, folder / "locs.hdf5", frames_shape=(2, 16, 16), psf_sigma=1.3
    ... )
    >>> sorted(p.name for p in folder.iterdir())
    ['locs.csv', 'locs.hdf5', 'locs.yaml']
    >>> again = read_localizations(folder / "locs.hdf5")
    >>> again[["frame", "row", "col"]].values.tolist()
    [[0.0, 3.200000047683716, 4.0], [0.0, 10.5, 2.25], [1.0, 7.0, 9.5]]
    """
    import os
    from pathlib import Path

    from ._io import atomic_path, write_atomically

    kind = _table_format(path)
    path = Path(os.fspath(path))
    if kind == "csv":
        _check_table(table, ("frame", "row", "col"), "table")
        return write_atomically(
            path, lambda file: table.to_csv(file, index=False, lineterminator="\n")
        )

    h5py, yaml = _import_hdf5("write_localizations")
    required = ("frame", "row", "col", "row_std", "col_std")
    required += ("photons", "background", "score")
    _check_table(table, required, "table")
    n_frames, height, width = _check_frames_shape(frames_shape)
    psf_sigma = _positive_number(psf_sigma, "psf_sigma")
    pixel_size = _positive_number(pixel_size, "pixel_size")
    if psf_sigma is None and not {"sx", "sy"} <= set(table.columns):
        raise ValueError(
            "psf_sigma is needed for Picasso's files (their sx and sy) when the "
            "table has no sx and sy columns: pass the locator's psf_sigma_."
        )
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict or None, got {type(metadata)}.")
    frame = np.asarray(table["frame"])
    if len(frame) and frame.max() >= n_frames:
        raise ValueError(
            f"table's frame column reaches {frame.max()}, beyond the "
            f"{n_frames} frames of frames_shape."
        )
    from . import __version__

    movie = {"Frames": n_frames, "Height": height, "Width": width}
    located = {"Generated by": f"pixel_regressor {__version__} SpotLocator"}
    if psf_sigma is not None:
        located["PSF sigma"] = psf_sigma
    if pixel_size is not None:
        located["Pixelsize"] = pixel_size
    located.update(metadata or {})
    try:
        info = yaml.safe_dump_all([movie, located], default_flow_style=False)
    except yaml.YAMLError as exc:
        raise TypeError(
            f"metadata must hold strings, numbers, booleans, lists and dicts: {exc}"
        ) from None
    records = _picasso_records(table, psf_sigma)
    yaml_path = path.with_suffix(".yaml")
    with atomic_path(path) as tmp_locs:
        with h5py.File(tmp_locs, "w") as file:
            file.create_dataset("locs", data=records)
        write_atomically(yaml_path, lambda file: file.write(info))
    return path


def read_localizations(path, *, return_metadata=False):
    """Read a table of localisations from CSV, or from Picasso's HDF5 files.

    The format is told by ``path``'s suffix, as for
    :func:`write_localizations`. Nothing read is trusted: the columns
    ``frame``, ``row`` and ``col`` (Picasso's ``frame``, ``x`` and ``y``)
    must be there, hold finite numbers and frame indices; Picasso's YAML
    file is read with PyYAML's safe loader, at most 1 MiB of it.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` file, or a ``.hdf5`` / ``.h5`` file with a dataset
        ``locs`` (written by Picasso or :func:`write_localizations`).
    return_metadata : bool, default=False
        Also return the metadata of Picasso's YAML file.

    Returns
    -------
    table : pandas.DataFrame
        One row per localisation. Picasso's fields are renamed to this
        package's columns (``x`` to ``col``, ``y`` to ``row``, ``lpx`` to
        ``col_std``, ``lpy`` to ``row_std``, ``bg`` to ``background``,
        ``net_gradient`` to ``score``; ``close_pair`` as bool), in the order
        of :meth:`SpotLocator.locate <pixel_regressor.SpotLocator.locate>`'s
        table, Picasso's other fields after them under their own names.
    metadata : list of dict
        Only with ``return_metadata``: the YAML file's documents (an empty
        list for CSV, or where the YAML file is missing).

    Raises
    ------
    ValueError
        When the file is not a table of localisations, lacks a column, or
        holds NaN, infinity or negative frames in them.
    FileNotFoundError
        When ``path`` does not exist.
    ImportError
        When h5py or PyYAML is missing, for Picasso's files.

    See Also
    --------
    write_localizations : Write such a file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from pixel_regressor.io import read_localizations, write_localizations
    >>> path = Path(tempfile.mkdtemp()) / "locs.csv"
    >>> table = pd.DataFrame({"frame": [0, 2], "row": [1.5, 3.0], "col": [2.0, 4.5]})
    >>> _ = write_localizations(table, path)
    >>> read_localizations(path).equals(table)
    True
    """
    import os

    import pandas as pd

    from .locator import LOCATION_COLUMNS

    kind = _table_format(path)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path!r}: no such file.")
    metadata = []
    if kind == "csv":
        try:
            table = pd.read_csv(path)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise ValueError(f"{path!r} is not a readable CSV table: {exc}") from None
        if table.empty:  # read as text: numbers, as a table with rows has
            table = table.astype(dict.fromkeys(table.columns, np.float64))
    else:
        table, metadata = _read_picasso(path)
    _check_table(table, ("frame", "row", "col"), repr(path))
    table["frame"] = np.asarray(table["frame"]).astype(np.int64)
    if "close_pair" in table.columns:
        values = np.asarray(table["close_pair"])
        if values.dtype.kind not in "biuf" or not np.isin(values, (0, 1)).all():
            raise ValueError(f"{path!r}'s close_pair column must hold booleans.")
        table["close_pair"] = values.astype(bool)
    order = [c for c in LOCATION_COLUMNS if c in table.columns]
    table = table[order + [c for c in table.columns if c not in order]]
    return (table, metadata) if return_metadata else table


def _read_picasso(path):
    """The ``locs`` dataset of an HDF5 file as a table, and its YAML's documents."""
    import os

    import pandas as pd

    h5py, yaml = _import_hdf5("read_localizations")
    try:
        with h5py.File(path, "r") as file:
            dataset = file.get("locs")
            if not isinstance(dataset, h5py.Dataset):
                raise ValueError("it has no dataset 'locs'")
            dtype = dataset.dtype
            if dtype.names is None or dataset.ndim != 1:
                raise ValueError(
                    "its dataset 'locs' is not a 1-D table of named fields"
                )
            odd = [name for name in dtype.names if dtype[name].kind not in "biuf"]
            if odd or any(dtype[name].shape for name in dtype.names):
                raise ValueError(f"its fields {odd} do not hold one number each")
            records = dataset[()]
    except OSError as exc:
        raise ValueError(f"{path!r} is not a readable HDF5 file: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{path!r} is not a table of localisations: {exc}") from None
    table = pd.DataFrame(
        {
            _FROM_PICASSO.get(name, name): records[name].astype(
                np.float64 if records.dtype[name].kind == "f" else records.dtype[name]
            )
            for name in records.dtype.names
        }
    )
    yaml_path = os.path.splitext(path)[0] + ".yaml"
    if not os.path.isfile(yaml_path):
        return table, []
    with open(yaml_path, "rb") as file:
        text = file.read(_MAX_YAML_BYTES + 1)
    if len(text) > _MAX_YAML_BYTES:
        raise ValueError(
            f"{yaml_path!r} is larger than {_MAX_YAML_BYTES} bytes, too large for "
            "the metadata of a table of localisations."
        )
    try:
        documents = list(yaml.safe_load_all(text))
    except (yaml.YAMLError, RecursionError) as exc:
        raise ValueError(f"{yaml_path!r} is not readable YAML: {exc}") from None
    if not all(isinstance(document, dict) for document in documents):
        raise ValueError(f"{yaml_path!r} does not hold mappings of metadata.")
    return table, documents
