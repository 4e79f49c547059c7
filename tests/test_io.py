"""Reading image files and stacks: :mod:`pixel_regressor.io`."""

import struct
import tracemalloc
import zlib

import numpy as np
import pytest
import tifffile
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image, ImageFile

from pixel_regressor import io
from pixel_regressor.io import (
    MAX_PIXELS,
    ImageTooLargeError,
    TiffFrames,
    iter_frame_batches,
    read_frames,
)

GRAY = {"photometric": "minisblack"}


@pytest.fixture
def stack():
    rng = np.random.default_rng(0)
    return rng.integers(0, 4000, size=(3, 8, 10), dtype=np.uint16)


def _png_header(width, height):
    """A PNG file that claims ``width`` x ``height`` pixels and holds none."""

    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------
# TIFF


def test_a_contiguous_tiff_stack_is_memory_mapped_whole(tmp_path, stack):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, **GRAY)
    frames = read_frames(path)
    assert isinstance(frames, np.memmap)
    assert frames.shape == (3, 8, 10)
    assert not frames.flags.writeable
    assert_array_equal(frames, stack)


def test_a_big_endian_tiff_is_mapped_in_its_byte_order(tmp_path, stack):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, byteorder=">", **GRAY)
    assert_array_equal(read_frames(path), stack)


def test_a_compressed_tiff_is_read_page_by_page(tmp_path, stack):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, compression="zlib", **GRAY)
    with read_frames(path) as frames:
        assert isinstance(frames, TiffFrames)
        assert (len(frames), frames.shape, frames.ndim) == (3, (3, 8, 10), 3)
        assert frames.dtype == np.uint16
        assert_array_equal(frames[1], stack[1])
        assert_array_equal(frames[-1], stack[2])
        assert_array_equal(frames[::2], stack[::2])
        assert_array_equal(frames[[2, 0]], stack[[2, 0]])
        assert_array_equal(frames[1:, 2:4, 5], stack[1:, 2:4, 5])
        assert frames[0, 3, 4] == stack[0, 3, 4]
        assert_array_equal(np.asarray(frames), stack)
        assert_array_equal(np.stack(list(frames)), stack)
        with pytest.raises(IndexError, match="out of range"):
            frames[3]
        assert "3 frame(s) of 8x10" in repr(frames)
    with pytest.raises(ValueError, match="closed"):
        frames[0]


def test_only_the_pages_asked_for_are_decoded(tmp_path, stack):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, compression="zlib", **GRAY)
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[2]
        offset, count = page.dataoffsets[0], page.databytecounts[0]
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = b"\xff" * count  # page 2 is corrupt
    path.write_bytes(bytes(data))
    with read_frames(path) as frames:
        assert_array_equal(frames[:2], stack[:2])
        with pytest.raises(ValueError, match="page 2 cannot be decoded"):
            frames[2]


def test_every_page_of_a_tiff_written_page_by_page(tmp_path, stack):
    path = tmp_path / "pages.tif"
    for frame in stack:
        tifffile.imwrite(path, frame, append=True, **GRAY)
    with tifffile.TiffFile(path) as tiff:
        assert len(tiff.series) == 3  # not one stack to tifffile
    with read_frames(path) as frames:
        assert frames.shape == (3, 8, 10)
        assert_array_equal(np.asarray(frames), stack)


def test_tiff_pages_of_different_shapes_are_refused(tmp_path, stack):
    path = tmp_path / "pages.tif"
    tifffile.imwrite(path, stack[0], append=True, **GRAY)
    tifffile.imwrite(path, stack[1, :4], append=True, **GRAY)
    with pytest.raises(
        ValueError, match=r"page 1 holds uint16 pixels of shape \(4, 10\)"
    ):
        read_frames(path)


@pytest.mark.parametrize("planar", [False, True])
def test_colour_tiff_frames_are_the_mean_of_red_green_blue(tmp_path, planar):
    rgb = np.random.default_rng(1).integers(0, 255, (2, 6, 7, 3), dtype=np.uint8)
    path = tmp_path / "rgb.tif"
    if planar:
        data = np.moveaxis(rgb, -1, 1)
        tifffile.imwrite(path, data, photometric="rgb", planarconfig="separate")
    else:
        tifffile.imwrite(path, rgb, photometric="rgb")
    with read_frames(path) as frames:
        assert frames.shape == (2, 6, 7)
        assert frames.dtype == np.float32
        assert_allclose(np.asarray(frames), rgb.mean(axis=-1), rtol=1e-6)


def test_a_bilevel_tiff_is_read_as_zeros_and_ones(tmp_path, stack):
    path = tmp_path / "bits.tif"
    tifffile.imwrite(path, stack > 2000, **GRAY)
    with read_frames(path) as frames:
        assert frames.dtype == np.uint8
        assert_array_equal(np.asarray(frames), (stack > 2000).astype(np.uint8))


def test_a_complex_tiff_is_refused(tmp_path):
    path = tmp_path / "complex.tif"
    tifffile.imwrite(path, np.ones((4, 4), dtype=np.complex64))
    with pytest.raises(TypeError, match="complex64 values, not real pixel values"):
        read_frames(path)


@pytest.mark.parametrize("keep", [4, 100])
def test_a_truncated_tiff_is_refused(tmp_path, stack, keep):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, stack, **GRAY)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(ValueError, match="cut.tif"):
        read_frames(path)


# ---------------------------------------------------------------------------
# .npy


@pytest.mark.parametrize(
    ("shape", "frames"),
    [((5, 6), (1, 5, 6)), ((5, 6, 1), (1, 5, 6)), ((3, 5, 6), (3, 5, 6))]
    + [((3, 5, 6, 1), (3, 5, 6))],
)
def test_npy_arrays_are_memory_mapped_frames(tmp_path, shape, frames):
    path = tmp_path / "x.npy"
    array = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    np.save(path, array)
    out = read_frames(path)
    assert isinstance(out, np.memmap)
    assert not out.flags.writeable
    assert out.shape == frames
    assert_array_equal(out.ravel(), array.ravel())


def test_a_fortran_ordered_npy_is_read_in_its_order(tmp_path, stack):
    path = tmp_path / "f.npy"
    np.save(path, np.asfortranarray(stack))
    assert_array_equal(read_frames(path), stack)


@pytest.mark.parametrize(
    ("array", "error", "match"),
    [
        (np.zeros((4, 4), dtype=bool), TypeError, "bool values.*boolean mask"),
        (np.zeros((4, 4), dtype=complex), TypeError, "complex128 values"),
        (np.array([["a", "b"]]), TypeError, "<U1 values"),
        (np.array([{}], dtype=object), TypeError, "object values"),
        (np.zeros((6, 6, 3)), ValueError, r"shape \(6, 6, 3\), a colour image"),
        (np.zeros((2, 3, 4, 5)), ValueError, r"shape \(2, 3, 4, 5\); expected"),
        (np.zeros(5), ValueError, r"shape \(5,\); expected"),
        (np.zeros((0, 4, 4)), ValueError, "empty"),
        (np.zeros((4, 0)), ValueError, "empty"),
    ],
)
def test_npy_arrays_that_are_not_images_are_refused(tmp_path, array, error, match):
    path = tmp_path / "bad.npy"
    np.save(path, array, allow_pickle=True)
    with pytest.raises(error, match=match):
        read_frames(path)


def test_a_truncated_npy_is_refused(tmp_path, stack):
    path = tmp_path / "cut.npy"
    np.save(path, stack)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="not a readable .npy array"):
        read_frames(path)


# ---------------------------------------------------------------------------
# Pillow's formats


def test_png_and_jpeg_frames(tmp_path):
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    assert_array_equal(read_frames(tmp_path / "gray.png"), gray[np.newaxis])
    deep = gray.astype(np.uint16) * 1000
    Image.fromarray(deep).save(tmp_path / "deep.png")
    assert_array_equal(read_frames(tmp_path / "deep.png"), deep[np.newaxis])
    rgba = np.random.default_rng(2).integers(0, 255, (6, 8, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    assert_allclose(read_frames(tmp_path / "rgba.png")[0], rgba[..., :3].mean(-1))
    Image.fromarray(gray > 20).save(tmp_path / "bits.png")
    assert_array_equal(read_frames(tmp_path / "bits.png")[0], (gray > 20) * 255)
    Image.fromarray(rgba[..., :3]).save(tmp_path / "colour.jpg")
    assert read_frames(tmp_path / "colour.jpg").shape == (1, 6, 8)


def test_every_frame_of_an_animated_image(tmp_path):
    frames = [Image.fromarray(np.full((5, 7), 40 * i, dtype=np.uint8)) for i in (1, 2)]
    path = tmp_path / "movie.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    out = read_frames(path)
    assert out.shape == (2, 5, 7)
    assert out[1].mean() > out[0].mean()


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n"])
def test_garbage_is_refused(tmp_path, content):
    path = tmp_path / "garbage.png"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="garbage.png' is not a readable image"):
        read_frames(path)


def test_a_npy_name_without_npy_contents_is_refused(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a NumPy .npy file"):
        read_frames(path)


def test_a_truncated_png_is_refused(tmp_path):
    path = tmp_path / "cut.png"
    noise = np.random.default_rng(3).integers(0, 255, (40, 40), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    path.write_bytes(path.read_bytes()[:800])  # of about 1,700 bytes
    with pytest.raises(ValueError, match="cut.png' is not a readable image"):
        read_frames(path)


def test_missing_files_and_directories(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_frames(tmp_path / "nope.png")
    with pytest.raises(IsADirectoryError):
        read_frames(tmp_path)


# ---------------------------------------------------------------------------
# the pixel limit


@pytest.fixture
def nothing_is_decoded(monkeypatch):
    def load(self):  # pragma: no cover - must not be reached
        raise AssertionError("decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.mark.parametrize(("side", "limit"), [(12000, MAX_PIXELS), (20000, None)])
def test_a_huge_png_is_refused_from_its_header(
    tmp_path, nothing_is_decoded, side, limit
):
    # 12000**2 is above this reader's limit, 20000**2 above Pillow's own.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(side, side))
    assert path.stat().st_size < 100
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLargeError, match="refused before decoding") as info:
            read_frames(path, max_pixels=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    message = str(info.value)
    assert "bomb.png" in message
    assert f"{side * side}" in message.replace(",", "")
    if limit is not None:
        assert f"{side}x{side}" in message
        assert f"max_pixels={MAX_PIXELS:,}" in message
    assert isinstance(info.value, ValueError)


def test_max_pixels_is_the_most_pixels_of_a_frame(tmp_path, stack):
    for name, write in [
        ("s.npy", lambda p: np.save(p, stack)),
        ("s.tif", lambda p: tifffile.imwrite(p, stack, **GRAY)),
        ("z.tif", lambda p: tifffile.imwrite(p, stack, compression="zlib", **GRAY)),
    ]:
        path = tmp_path / name
        write(path)
        with pytest.raises(ImageTooLargeError, match="8x10 pixels"):
            read_frames(path, max_pixels=79)
        frames = read_frames(path, max_pixels=80)
        assert frames.shape == (3, 8, 10)
        if isinstance(frames, TiffFrames):
            frames.close()


def test_max_pixels_counts_every_frame_of_an_animated_image(tmp_path):
    frames = [Image.fromarray(np.full((5, 7), 40 * i, dtype=np.uint8)) for i in (1, 2)]
    path = tmp_path / "movie.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(ImageTooLargeError, match="2 frames of 5x7 pixels"):
        read_frames(path, max_pixels=69)
    assert read_frames(path, max_pixels=70).shape == (2, 5, 7)


@pytest.mark.parametrize(
    ("value", "error"), [(0, ValueError), (1.5, TypeError), (True, TypeError)]
)
def test_max_pixels_is_checked(tmp_path, value, error):
    np.save(tmp_path / "x.npy", np.eye(3))
    with pytest.raises(error, match="max_pixels"):
        read_frames(tmp_path / "x.npy", max_pixels=value)


def test_max_pixels_is_pillows_default():
    assert MAX_PIXELS == Image.MAX_IMAGE_PIXELS


# ---------------------------------------------------------------------------
# batches


def test_batches_cover_every_frame_in_order(tmp_path, stack):
    path = tmp_path / "z.tif"
    tifffile.imwrite(path, stack, compression="zlib", **GRAY)
    batches = list(iter_frame_batches(path, batch_pixels=160))
    assert [(start, batch.shape[0]) for start, batch in batches] == [(0, 2), (2, 1)]
    assert_array_equal(np.concatenate([b for _, b in batches]), stack)
    # a frame larger than the budget: one at a time
    assert len(list(iter_frame_batches(stack, batch_pixels=1))) == 3


def test_batches_of_frames_read_before(tmp_path, stack):
    np.save(tmp_path / "s.npy", stack)
    frames = read_frames(tmp_path / "s.npy")
    ((start, batch),) = iter_frame_batches(frames)
    assert start == 0
    assert_array_equal(batch, stack)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"batch_pixels": 0}, ValueError), ({"batch_pixels": 2.0}, TypeError)],
)
def test_batch_pixels_is_checked(stack, kwargs, error):
    with pytest.raises(error, match="batch_pixels"):
        next(iter_frame_batches(stack, **kwargs))


def test_batches_need_a_stack():
    with pytest.raises(ValueError, match=r"\(n_frames, height, width\)"):
        next(iter_frame_batches(np.zeros((4, 4))))


def test_the_module_is_public():
    import pixel_regressor

    assert pixel_regressor.read_frames is read_frames
    assert pixel_regressor.iter_frame_batches is iter_frame_batches
    assert pixel_regressor.io is io
