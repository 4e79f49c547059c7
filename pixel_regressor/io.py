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

NumPy is imported with this module; :mod:`tifffile` and Pillow only when a
file of theirs is read.
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
