"""Round trips through the built-in image readers and writers."""
import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from skimage import data

from imrestore.files import read_image, write_image


def roundtrip(tmp_path, name, raw=None, save=None):
    src, dst = tmp_path / f"in_{name}", tmp_path / f"out_{name}"
    save(src) if save else PILImage.fromarray(raw).save(src)
    img = read_image(src)
    write_image(img, dst)
    return img, src, dst


@pytest.mark.parametrize("suffix", ["png", "bmp", "tif"])
@pytest.mark.parametrize("raw", [data.camera()[:40, :50], data.astronaut()[:40, :50]], ids=["grey", "rgb"])
def test_lossless_8bit_round_trip(tmp_path, suffix, raw):
    img, src, dst = roundtrip(tmp_path, f"x.{suffix}", save=lambda p: (tifffile.imwrite(p, raw) if suffix == "tif" else PILImage.fromarray(raw).save(p)))
    assert img.data.dtype == np.float32 and 0 <= img.data.min() and img.data.max() <= 1
    assert img.axes == ("YX" if raw.ndim == 2 else "YXC")
    back = tifffile.imread(dst) if suffix == "tif" else np.asarray(PILImage.open(dst))
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, raw)


def test_rgba_png_keeps_alpha_untouched(tmp_path):
    rgba = np.dstack([data.astronaut()[:32, :32], np.linspace(0, 255, 32 * 32).reshape(32, 32).astype(np.uint8)])
    img, _, dst = roundtrip(tmp_path, "a.png", rgba)
    assert img.data.shape == (32, 32, 3)  # restorers see RGB only
    img2 = img.with_data(np.zeros_like(img.data))
    write_image(img2, dst)
    back = np.asarray(PILImage.open(dst))
    assert back.shape == (32, 32, 4)
    np.testing.assert_array_equal(back[..., 3], rgba[..., 3])


def test_16bit_grey_png(tmp_path):
    raw = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    img, _, dst = roundtrip(tmp_path, "g.png", raw)
    assert img.dtype == np.uint16
    back = np.asarray(PILImage.open(dst))
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, raw)


def test_16bit_tiff_keeps_dtype_and_resolution(tmp_path):
    raw = (data.camera()[:64, :64].astype(np.uint16) * 257)
    img, _, dst = roundtrip(tmp_path, "c.tif", save=lambda p: tifffile.imwrite(p, raw, resolution=(2.5, 4.0), resolutionunit=3, description="sample 7"))
    with tifffile.TiffFile(dst) as tif:
        page = tif.pages[0]
        assert page.dtype == np.uint16
        assert page.tags["XResolution"].value == (5, 2)
        assert page.tags["YResolution"].value == (4, 1)
        assert page.tags["ResolutionUnit"].value == 3
        assert page.tags["ImageDescription"].value == "sample 7"
        np.testing.assert_array_equal(page.asarray(), raw)


def test_float_tiff_keeps_its_range(tmp_path):
    raw = np.linspace(-5, 300, 32 * 32, dtype=np.float32).reshape(32, 32)
    img, _, dst = roundtrip(tmp_path, "f.tif", save=lambda p: tifffile.imwrite(p, raw))
    assert img.value_range == (-5.0, 300.0) and img.data.min() == 0 and img.data.max() == 1
    back = tifffile.imread(dst)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, raw, rtol=1e-5, atol=1e-4)


def test_jpeg_round_trip_is_close_and_keeps_dpi(tmp_path):
    raw = data.astronaut()[:64, :64]
    img, _, dst = roundtrip(tmp_path, "p.jpg", save=lambda p: PILImage.fromarray(raw).save(p, quality=95, dpi=(300, 300)))
    with PILImage.open(dst) as im:
        assert im.format == "JPEG" and im.mode == "RGB"
        assert tuple(round(v) for v in im.info["dpi"]) == (300, 300)
        assert np.abs(np.asarray(im).astype(int) - raw).mean() < 4


def test_truncated_png_is_a_clear_error(tmp_path):
    PILImage.fromarray(data.camera()).save(tmp_path / "ok.png")
    blob = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "bad.png").write_bytes(blob[: len(blob) // 3])
    with pytest.raises(OSError, match="cannot read .*bad.png: image file is truncated"):
        read_image(tmp_path / "bad.png")


def test_truncated_tiff_is_a_clear_error(tmp_path):
    tifffile.imwrite(tmp_path / "ok.tif", data.camera())
    blob = (tmp_path / "ok.tif").read_bytes()
    (tmp_path / "bad.tif").write_bytes(blob[:100])
    with pytest.raises(OSError, match="cannot read .*bad.tif"):
        read_image(tmp_path / "bad.tif")


def test_16bit_colour_png_is_refused_not_silently_reduced(tmp_path):
    import struct
    import zlib

    h = w = 4
    rows = b"".join(b"\x00" + bytes(w * 6) for _ in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    (tmp_path / "c16.png").write_bytes(png)
    with pytest.raises(OSError, match="16-bit colour PNG is not supported"):
        read_image(tmp_path / "c16.png")


def test_tiff_stack_is_refused_with_its_shape(tmp_path):
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((3, 8, 8), np.uint8), photometric="minisblack")
    with pytest.raises(OSError, match="stack with axes QYX and shape \\(3, 8, 8\\)"):
        read_image(tmp_path / "stack.tif")


def test_planar_rgb_tiff_is_read_channels_last(tmp_path):
    rgb = data.astronaut()[:16, :16]
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    img = read_image(tmp_path / "planar.tif")
    assert img.axes == "YXC"
    np.testing.assert_array_equal(np.rint(img.data * 255).astype(np.uint8), rgb)


def test_planar_rgb_tiff_is_written_planar_again(tmp_path):
    rgb = np.moveaxis(data.astronaut()[:16, :24].astype(np.uint16) * 257, -1, 0)
    tifffile.imwrite(tmp_path / "planar.tif", rgb, photometric="rgb", planarconfig="separate")
    write_image(read_image(tmp_path / "planar.tif"), tmp_path / "out.tif")
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.series[0].axes == "SYX" and tif.pages.first.planarconfig == 2
        np.testing.assert_array_equal(tif.asarray(), rgb)


def test_failed_write_leaves_no_file(tmp_path):
    img = read_image_from_array(np.zeros((8, 8, 3), np.float32), np.uint16)
    with pytest.raises(ValueError, match="16-bit colour"):
        write_image(img, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def read_image_from_array(data_, dtype):
    from imrestore.interfaces import Image

    return Image(data=data_, axes="YXC", dtype=np.dtype(dtype), value_range=(0.0, 65535.0))
