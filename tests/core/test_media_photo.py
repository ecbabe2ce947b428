"""Photos for the model: every odd kind a library holds comes out upright, small, RGB.

Real files throughout: scikit-image photographs saved in each format, and images
built pixel by pixel where a test must know exactly which colour lands where.
"""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.media import photo
from app.core.media.errors import MediaError
from app.core.media.photo import encode_jpeg, load_for_model, save_thumbnail
from tests.media_factory import (
    EXIF_ORIENTATION,
    real_photo,
    write_animated_gif,
    write_gif_header,
    write_large_png,
    write_photo,
    write_png_header,
    write_truncated,
)

HEIF_INSTALLED = importlib.util.find_spec("pillow_heif") is not None
RED, GREEN, BLUE, GREY = (230, 20, 20), (20, 200, 20), (20, 20, 230), (128, 128, 128)


def assert_for_model(image: Image.Image, max_side: int = 768) -> None:
    assert image.mode == "RGB"
    assert max(image.size) <= max_side
    assert min(image.size) >= 1


def mean_rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64).reshape(-1, 3).mean(axis=0)


def close(a, b, tolerance: float = 12) -> bool:
    return bool(np.all(np.abs(np.asarray(a, float) - np.asarray(b, float)) <= tolerance))


# -- ordinary photos ---------------------------------------------------------------------
def test_a_jpeg_comes_back_whole_and_at_most_max_side(tmp_path):
    path = write_photo(tmp_path / "coffee.jpg", "coffee", quality=95)  # 600x400
    image = load_for_model(str(path), max_side=300)
    assert image.size == (300, 200)
    assert_for_model(image, 300)
    reference = Image.fromarray(real_photo("coffee")).resize((300, 200))
    assert close(mean_rgb(image), mean_rgb(reference), 3)


def test_a_small_photo_is_never_enlarged(tmp_path):
    path = write_photo(tmp_path / "chelsea.png", "chelsea")  # 451x300
    assert load_for_model(path, max_side=768).size == (451, 300)


def test_bytes_paths_and_names_that_are_not_utf8_work(tmp_path):
    path = os.fsencode(tmp_path) + b"/caf\xe9-\xff.jpg"
    write_photo(Path(os.fsdecode(path)), "rocket")
    assert_for_model(load_for_model(path, max_side=256), 256)


def test_a_24_megapixel_jpeg_is_decoded_at_reduced_scale(tmp_path, monkeypatch):
    path = write_photo(tmp_path / "big.jpg", "astronaut", size=(6000, 4000), quality=90)
    decoded_sizes = []
    fit = photo._fit

    def spy(image, max_side, **kwargs):
        decoded_sizes.append(image.size)
        return fit(image, max_side, **kwargs)

    monkeypatch.setattr(photo, "_fit", spy)
    started = time.perf_counter()
    image = load_for_model(path, max_side=768)
    drafted = time.perf_counter() - started
    assert image.size == (768, 512)
    # Draft mode picked 1/4 (1/8 would give 750 px, under the 768 asked for): the
    # decoder never produced the 24 MP original.
    assert decoded_sizes == [(1500, 1000)]
    started = time.perf_counter()
    with Image.open(path) as full:
        full.load()
    print(
        f"\n24 MP JPEG: draft decode + resize {drafted:.3f} s, full decode alone "
        f"{time.perf_counter() - started:.3f} s"
    )


# -- odd modes ---------------------------------------------------------------------------
def test_a_palette_png_becomes_rgb(tmp_path):
    source = Image.fromarray(real_photo("astronaut"))
    source.convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "p.png")
    image = load_for_model(tmp_path / "p.png", max_side=512)
    assert_for_model(image, 512)
    assert close(mean_rgb(image), mean_rgb(source), 4)


def test_a_cmyk_jpeg_becomes_rgb_with_its_colours(tmp_path):
    source = Image.new("RGB", (200, 100), GREEN)
    source.paste(Image.new("RGB", (100, 100), BLUE), (100, 0))
    source.convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    with Image.open(tmp_path / "cmyk.jpg") as check:
        assert check.mode == "CMYK"
    image = load_for_model(tmp_path / "cmyk.jpg")
    assert_for_model(image)
    assert close(image.getpixel((50, 50)), GREEN, 20)
    assert close(image.getpixel((150, 50)), BLUE, 20)


def test_a_16_bit_png_is_scaled_not_clipped(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (64, 1))
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as check:
        assert check.mode.startswith("I")
    image = load_for_model(tmp_path / "deep.png")
    assert_for_model(image)
    row = np.asarray(image)[32, :, 0].astype(int)
    assert row[0] <= 1 and row[-1] >= 254
    assert abs(row[128] - 128) <= 2  # mid grey stays mid grey (clipping makes it 255)


def test_a_32_bit_integer_image_is_scaled(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.int32), (16, 1))
    image = photo._to_rgb(Image.fromarray(ramp, mode="I"))
    assert abs(int(np.asarray(image)[8, 128, 0]) - 128) <= 2


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparency_is_composited_over_white(tmp_path, mode):
    rgba = Image.new("RGBA", (100, 50), (*RED, 255))
    rgba.paste(Image.new("RGBA", (50, 50), (0, 0, 0, 0)), (50, 0))  # right half clear
    rgba.convert(mode).save(tmp_path / "alpha.png")
    image = load_for_model(tmp_path / "alpha.png")
    assert_for_model(image)
    assert image.getpixel((75, 25)) == (255, 255, 255)
    red_as_grey = Image.new("RGB", (1, 1), RED).convert("L").getpixel((0, 0))
    expected = RED if mode == "RGBA" else (red_as_grey,) * 3
    assert close(image.getpixel((25, 25)), expected, 2)


def test_a_palette_png_with_a_transparent_colour_shows_white_there(tmp_path):
    image = Image.new("P", (40, 20), 0)
    image.putpalette([*RED, *BLUE] + [0] * 762)
    image.paste(1, (20, 0, 40, 20))
    image.save(tmp_path / "clear.png", transparency=1)
    loaded = load_for_model(tmp_path / "clear.png")
    assert loaded.getpixel((5, 5)) == RED
    assert loaded.getpixel((30, 5)) == (255, 255, 255)


def test_a_greyscale_jpeg_becomes_three_equal_channels(tmp_path):
    Image.fromarray(real_photo("coffee")).convert("L").save(tmp_path / "grey.jpg")
    pixels = np.asarray(load_for_model(tmp_path / "grey.jpg"))
    assert pixels.shape[2] == 3
    assert np.array_equal(pixels[..., 0], pixels[..., 2])


# -- animations --------------------------------------------------------------------------
def test_an_animated_gif_gives_its_first_frame(tmp_path):
    path = write_animated_gif(tmp_path / "anim.gif", frames=4)
    frames = []
    with Image.open(path) as gif:
        for k in range(gif.n_frames):
            gif.seek(k)
            frames.append(mean_rgb(gif.convert("RGB")))
    assert np.abs(frames[0] - frames[1]).max() > 20  # the frames do differ
    image = load_for_model(path)
    assert_for_model(image)
    assert close(mean_rgb(image), frames[0], 3)


def test_an_animated_webp_gives_its_first_frame(tmp_path):
    colours = [RED, GREEN, BLUE]
    frames = [Image.new("RGB", (64, 48), c) for c in colours]
    frames[0].save(
        tmp_path / "anim.webp", save_all=True, append_images=frames[1:], duration=100, lossless=True
    )
    with Image.open(tmp_path / "anim.webp") as check:
        assert check.n_frames == 3
    image = load_for_model(tmp_path / "anim.webp")
    assert_for_model(image)
    assert close(image.getpixel((32, 24)), RED, 2)


# -- EXIF orientation ---------------------------------------------------------------------
def _marked(tmp_path: Path, orientation: int) -> Path:
    """A landscape JPEG, red in its stored top-left corner, with an EXIF orientation."""
    image = Image.new("RGB", (120, 60), GREY)
    image.paste(Image.new("RGB", (30, 15), RED), (0, 0))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    path = tmp_path / f"turned{orientation}.jpg"
    image.save(path, quality=95, exif=exif.tobytes())
    return path


@pytest.mark.parametrize(
    ("orientation", "red_corner"),
    [(1, "top-left"), (3, "bottom-right"), (6, "top-right"), (8, "bottom-left")],
)
def test_exif_orientation_turns_the_pixels(tmp_path, orientation, red_corner):
    image = load_for_model(_marked(tmp_path, orientation))
    width, height = image.size
    assert (width, height) == ((60, 120) if orientation in (6, 8) else (120, 60))
    corners = {
        "top-left": (3, 3),
        "top-right": (width - 4, 3),
        "bottom-left": (3, height - 4),
        "bottom-right": (width - 4, height - 4),
    }
    for name, xy in corners.items():
        expected = RED if name == red_corner else GREY
        assert close(image.getpixel(xy), expected, 25), (name, image.getpixel(xy))


def test_orientation_applies_after_draft_decoding_too(tmp_path):
    path = write_photo(tmp_path / "tall.jpg", "rocket", size=(3000, 2000), orientation=6)
    assert load_for_model(path, max_side=600).size == (400, 600)


# -- files that are not usable photos -----------------------------------------------------
def test_a_truncated_jpeg_is_a_media_error(tmp_path):
    good = write_photo(tmp_path / "good.jpg", "astronaut")
    bad = write_truncated(tmp_path / "half.jpg", good, keep=0.5)
    with pytest.raises(MediaError, match="truncated"):
        load_for_model(bad)


def test_a_text_file_named_jpg_is_a_media_error(tmp_path):
    (tmp_path / "notes.jpg").write_text("shopping list: eggs, milk\n")
    with pytest.raises(MediaError, match="not an image"):
        load_for_model(tmp_path / "notes.jpg")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "write",
    [
        lambda p: write_png_header(p.with_suffix(".png"), 20_000, 20_000),
        lambda p: write_png_header(p.with_suffix(".png"), 40_000, 40_000),
        lambda p: write_gif_header(p.with_suffix(".gif"), 65_535, 65_535),
    ],
    # 400 MP is between our limit and Pillow's own (2x); 1600 MP and 4.3 GP beyond both.
    ids=["png-400MP", "png-1600MP", "gif-4GP"],
)
def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, write):
    path = write(tmp_path / "bomb")
    started = time.perf_counter()
    with pytest.raises(MediaError, match="too large"):
        load_for_model(path)
    print(f"\n{path.name}: refused in {time.perf_counter() - started:.4f} s")


def test_missing_empty_and_folder_paths_are_media_errors(tmp_path):
    with pytest.raises(MediaError, match="vanished"):
        load_for_model(tmp_path / "gone.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        load_for_model(tmp_path / "empty.jpg")
    (tmp_path / "folder.jpg").mkdir()
    with pytest.raises(MediaError):
        load_for_model(tmp_path / "folder.jpg")


@pytest.mark.skipif(HEIF_INSTALLED, reason="pillow-heif is installed: HEIC is readable")
def test_heic_without_pillow_heif_says_what_to_install(tmp_path):
    (tmp_path / "phone.heic").write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic")
    with pytest.raises(MediaError, match="pillow-heif"):
        load_for_model(tmp_path / "phone.heic")
    # An iPhone photo renamed .jpg is still a HEIF file: same advice.
    (tmp_path / "renamed.jpg").write_bytes(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic")
    with pytest.raises(MediaError, match="pillow-heif"):
        load_for_model(tmp_path / "renamed.jpg")


def test_max_side_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        load_for_model(write_photo(tmp_path / "a.png"), max_side=0)


# -- handing it on -----------------------------------------------------------------------
def test_encode_jpeg_round_trips(tmp_path):
    image = load_for_model(write_photo(tmp_path / "a.png", "chelsea"), max_side=200)
    data = encode_jpeg(image, quality=90)
    assert data[:3] == b"\xff\xd8\xff"
    with Image.open(io.BytesIO(data)) as back:
        assert back.format == "JPEG" and back.size == image.size
        assert close(mean_rgb(back.convert("RGB")), mean_rgb(image), 3)
    assert len(encode_jpeg(image, quality=40)) < len(data)
    assert encode_jpeg(Image.new("RGBA", (8, 8), (*RED, 0)))[:2] == b"\xff\xd8"


def test_save_thumbnail_writes_a_small_jpeg_atomically(tmp_path):
    image = Image.fromarray(real_photo("astronaut"))  # 512x512
    dest = tmp_path / "thumbs" / "a.jpg"
    dest.parent.mkdir()
    dest.write_bytes(b"an older thumbnail")
    assert save_thumbnail(image, dest) == dest
    with Image.open(dest) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (320, 320)
    assert [p.name for p in dest.parent.iterdir()] == ["a.jpg"]  # no temp file left


# -- huge images: one decoded bitmap at most ---------------------------------------------
PEAK_CHILD = """
import json, resource, sys
from app.core.media.photo import load_for_model
if sys.argv[1] != "-":
    image = load_for_model(sys.argv[1], max_side=768)
    assert image.size == (768, 768) and image.mode == "RGB", image
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
"""


def _child_peak_mb(path: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PEAK_CHILD, path],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    return float(out)


def test_a_huge_png_holds_one_decoded_bitmap_at_most(tmp_path):
    """A 12000x12000 RGB PNG (144 MP, under the 300 MP limit) cannot be decoded at a
    reduced scale; Pillow holds it as 4 bytes a pixel (576 MB). Preparing it used to
    hold that plus a full-size copy (~1.15 GB over the child's imports; a 17000x17000
    one took 2.3 GB, RGBA 6.6 GB: tests/benchmarks/bench_photo_memory.py); the bound
    is the bitmap plus a quarter."""
    side = 12000
    bitmap_mb = side * side * 4 / 2**20
    path = write_large_png(tmp_path / "huge.png", side, side)

    grown = _child_peak_mb(str(path)) - _child_peak_mb("-")

    assert grown < 1.25 * bitmap_mb, (
        f"{grown:.0f} MB over the imports for a {bitmap_mb:.0f} MB bitmap"
    )


@pytest.mark.parametrize("mode", ["RGBA", "P", "I;16"])
def test_a_reduced_decode_looks_like_the_full_one(tmp_path, mode):
    """Large enough to be box-reduced first (orientation and the aspect of the result
    taken from the original): the same picture and size as resizing the full image."""
    source = Image.fromarray(real_photo("coffee")).resize((2400, 1600))
    if mode == "RGBA":
        source = source.convert("RGBA")
        source.putalpha(Image.linear_gradient("L").resize(source.size))
    elif mode == "P":
        source = source.convert("P", palette=Image.Palette.ADAPTIVE)
    else:
        source = Image.fromarray(np.asarray(source.convert("L"), np.uint16) * 257)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    path = tmp_path / "big.png"
    source.save(path, exif=exif.tobytes())

    image = load_for_model(path, max_side=256)

    assert image.size == (171, 256)
    upright = photo._to_rgb(source).transpose(Image.Transpose.ROTATE_270)  # alpha over white
    reference = upright.resize((171, 256), Image.Resampling.LANCZOS)
    diff = np.abs(np.asarray(image, np.int16) - np.asarray(reference, np.int16))
    assert diff.mean() < 3, diff.mean()
