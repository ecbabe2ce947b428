"""Export for the web and for video training sets, on real files scanned into a real
library: alt text (the normaliser, the prompt's own limit, the HTML snippet file read
back with Python's HTML parser), video moments exported as frames whose pixels are
checked against the scene they come from, and `metadata.jsonl` read back by Hugging
Face `datasets` itself (its `imagefolder` builder, offline)."""

from __future__ import annotations

import os
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from app.core.alt_text import ALT_TEXT_CHARS, alt_text, img_tag
from app.core.captioning.job_settings import SettingsSnapshot, sampling_for
from app.core.export.formats import Format, Images
from app.core.export.run import Export, ExportError, ExportOptions
from app.core.export.selection import Selection
from app.core.library.library import Library
from app.core.settings import SettingsValues
from app.core.storage.db import Database
from models.prompts import builtin_prompts
from tests.caption_support import store_model_caption
from tests.media_factory import set_mp4_rotation, write_corner_video, write_photo, write_video

# write_video's scene colours, BGR as written, so RGB reversed: one per scene.
SCENE_RGB = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
CUTS = (1.0, 2.0)
MOMENTS = {0.5: "a red scene", 1.5: "a green scene", 2.5: "a blue scene"}


def scanned(db: Database, root: Path) -> dict[str, int]:
    """Scan `root` into the library: {file name: item id}."""
    library = Library(db)
    library.scan(library.add_root(root).id)
    with db.read() as conn:
        rows = conn.exec_driver_sql("SELECT name, id FROM media_items").all()
    return {name: item_id for name, item_id in rows}


def caption_moments(db: Database, video_id: int, moments: dict[float, str]) -> None:
    with db.write() as conn:
        keyframes = {
            conn.exec_driver_sql(
                "INSERT INTO keyframes (item_id, timestamp) VALUES (?, ?)", (video_id, t)
            ).lastrowid: text
            for t, text in moments.items()
        }
    store_model_caption(db, video_id, "shapes changing colour", ["colour"], moments=keyframes)


@pytest.fixture
def world(db: Database, tmp_path: Path) -> tuple[Database, Path, dict[str, int]]:
    root = tmp_path / "lib"
    write_photo(root / "trips" / "astronaut.jpg", size=(300, 200))
    write_photo(root / "trips" / "café & co.png", "coffee", size=(120, 90))
    write_video(root / "clips" / "scenes.mp4", seconds=3.0, cuts=CUTS)
    ids = scanned(db, root)
    store_model_caption(db, ids["astronaut.jpg"], "A photo of an astronaut in a white suit.")
    store_model_caption(db, ids["café & co.png"], 'A cup of "coffee" <on> a saucer ' * 8)
    caption_moments(db, ids["scenes.mp4"], MOMENTS)
    return db, root, ids


def run(db: Database, selection: Selection | None = None, **options: Any) -> Export:
    return Export(db, selection or Selection.whole_library(), ExportOptions(**options))


# -- alt text ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("A photo of a dog on a beach.", "A dog on a beach."),
        ("image showing two cats", "Two cats"),
        ("This picture shows a red tram", "A red tram"),
        ("Photograph: a harbour at dusk", "A harbour at dusk"),
        ("A photographer at work", "A photographer at work"),  # not a lead-in
        ("  spaced\n\nout  ", "spaced out"),
        ("", ""),
        (None, ""),
    ],
)
def test_alt_text_drops_the_lead_in(caption: str | None, expected: str) -> None:
    assert alt_text(caption) == expected


def test_alt_text_is_cut_at_a_sentence_or_a_word() -> None:
    two = "A dog runs along a wide sandy beach at low tide. " + "Gulls circle overhead. " * 8
    cut = alt_text(two)  # as many whole sentences as fit
    assert cut == "A dog runs along a wide sandy beach at low tide." + " Gulls circle overhead." * 3
    assert len(cut) <= ALT_TEXT_CHARS
    long = "a " + "very " * 60 + "long caption"
    cut = alt_text(long)
    assert len(cut) <= ALT_TEXT_CHARS and cut.endswith("very…")
    unbroken = "x" * 400
    assert len(alt_text(unbroken)) == ALT_TEXT_CHARS


def test_the_alt_text_prompt_holds_the_caption_to_125_characters() -> None:
    settings = SettingsSnapshot.of(SettingsValues())
    prompts = builtin_prompts()
    alt = settings.template(prompts, "alt-text")
    assert alt.caption_chars == ALT_TEXT_CHARS
    assert "image of" in alt.instruction and "125" in alt.instruction
    assert sampling_for(settings, alt).limits.caption_chars == ALT_TEXT_CHARS
    short = settings.template(prompts, "short")
    assert sampling_for(settings, short).limits.caption_chars > ALT_TEXT_CHARS
    edited = SettingsSnapshot.of(
        SettingsValues(prompt_overrides={"alt-text": "Say it, {language}"})
    )
    kept = edited.template(prompts, "alt-text")  # the user's wording, the same bound
    assert kept.instruction.startswith("Say it") and kept.caption_chars == ALT_TEXT_CHARS


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_snippets_name_real_files_with_alt_text(world, tmp_path: Path) -> None:
    db, _root, _ids = world
    out = tmp_path / "web"
    summary = run(db, format=Format.HTML, out=out).run()
    assert summary.exported == 3 and summary.output == os.fsdecode(out / "alt-text.html")
    parser = _Tags()
    parser.feed((out / "alt-text.html").read_text(encoding="utf-8"))
    tags = {os.path.basename(urllib.parse.unquote(a["src"] or "")): (t, a) for t, a in parser.tags}
    kind, astronaut = tags["astronaut.jpg"]
    assert kind == "img" and astronaut["alt"] == "An astronaut in a white suit."
    assert (astronaut["width"], astronaut["height"]) == ("300", "200")
    kind, coffee = tags["café & co.png"]
    assert kind == "img" and coffee["alt"] is not None and len(coffee["alt"]) <= ALT_TEXT_CHARS
    assert coffee["alt"].startswith('A cup of "coffee" <on> a saucer')  # unescaped by the parser
    kind, video = tags["scenes.mp4"]
    assert kind == "video" and video["aria-label"] == "shapes changing colour"
    for _kind, attrs in tags.values():  # every src opens, relative to the html file
        assert (out / urllib.parse.unquote(attrs["src"] or "")).is_file()


def test_img_tag_escapes_and_keeps_non_utf8_bytes() -> None:
    tag = img_tag('a b/"x".jpg', 'say "hi" & <go>')
    assert 'src="a%20b/%22x%22.jpg"' in tag and 'alt="say &quot;hi&quot; &amp; &lt;go&gt;"' in tag
    odd = os.fsdecode(b"caf\xe9.jpg")
    assert 'src="caf%E9.jpg"' in img_tag(odd, "")  # the name's own byte, percent-encoded


# -- video frames --------------------------------------------------------------------------
def scene_of(image: Image.Image) -> int:
    """Which scene colour a frame shows (its mean over the centre, away from the text)."""
    pixels = np.asarray(image.convert("RGB"), dtype=float)
    h, w = pixels.shape[:2]
    mean = pixels[h // 3 :, w // 3 :].reshape(-1, 3).mean(axis=0)
    return int(np.argmin([np.abs(mean - np.array(c)).sum() for c in SCENE_RGB]))


def test_video_moments_become_frames_with_their_captions(world, tmp_path: Path) -> None:
    db, _root, ids = world
    out = tmp_path / "kohya"
    selection = Selection.of_ids([ids["scenes.mp4"]])
    summary = run(db, selection, format=Format.TXT, out=out, video_frames=True).run()
    assert summary.frames == 3 and summary.exported == 4 and not summary.failed
    frames = sorted((out / "clips").glob("scenes_*.jpg"))
    assert [f.name for f in frames] == [
        "scenes_0000.50s.jpg",
        "scenes_0001.50s.jpg",
        "scenes_0002.50s.jpg",
    ]
    for scene, (frame, caption) in enumerate(zip(frames, MOMENTS.values(), strict=True)):
        with Image.open(frame) as image:
            assert image.size == (160, 120)  # the video's own size, not a thumbnail
            assert scene_of(image) == scene
        assert frame.with_suffix(".txt").read_text(encoding="utf-8") == caption + "\n"
    assert (out / "clips" / "scenes.txt").read_text() == "shapes changing colour\n"
    again = run(db, selection, format=Format.TXT, out=out, video_frames=True).run()
    assert again.frames == 0 and again.kept == 7  # 3 frames, their 3 captions, the video's


def test_video_frames_in_jsonl_are_listed_with_moment_text(world, tmp_path: Path) -> None:
    db, _root, _ids = world
    out = tmp_path / "hf"
    summary = run(db, format=Format.JSONL, out=out, video_frames=True).run()
    assert summary.frames == 3
    import json

    lines = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    frame_lines = [line for line in lines if line["file_name"].endswith("s.jpg")]
    assert [line["text"] for line in frame_lines] == list(MOMENTS.values())
    assert all((out / line["file_name"]).is_file() for line in frame_lines)


def test_frames_of_a_turned_phone_video_are_upright(db: Database, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    set_mp4_rotation(write_corner_video(root / "phone.mp4", size=(160, 96)), 90)
    ids = scanned(db, root)
    caption_moments(db, ids["phone.mp4"], {0.5: "a turned frame"})
    out = tmp_path / "out"
    run(db, format=Format.CAPTION, out=out, video_frames=True).run()
    with Image.open(next(out.rglob("*.jpg"))) as frame:
        assert frame.size == (96, 160)  # portrait, as a player shows it


def test_an_unreadable_video_is_a_failure_for_that_video_only(world, tmp_path: Path) -> None:
    db, root, _ids = world
    (root / "clips" / "scenes.mp4").write_bytes(b"not a video any more")
    out = tmp_path / "out"
    summary = run(db, format=Format.TXT, out=out, video_frames=True).run()
    assert summary.frames == 0 and summary.exported == 3  # the photos and the video's txt
    assert [os.path.basename(p) for p, _ in summary.failed] == ["scenes.mp4"]
    assert "not a video" in summary.failed[0][1]


@pytest.mark.parametrize(
    "options",
    [
        {"format": Format.CSV, "out": Path("x"), "video_frames": True},
        {"format": Format.TXT, "beside": True, "video_frames": True},
        {"format": Format.HTML, "out": Path("x"), "images": Images.COPY},
    ],
)
def test_options_that_make_no_sense_are_refused(db: Database, options: dict[str, Any]) -> None:
    with pytest.raises(ExportError):
        run(db, **options)


# -- Hugging Face datasets reads the jsonl ------------------------------------------------
def test_datasets_imagefolder_loads_the_export(
    world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets  # a dev dependency: never skipped

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    db, _root, ids = world
    out = tmp_path / "set"
    photos = Selection.of_ids([ids["astronaut.jpg"], ids["café & co.png"]])
    run(db, photos, format=Format.JSONL, out=out, images=Images.COPY).run()
    loaded = datasets.load_dataset(
        "imagefolder", data_dir=str(out), split="train", cache_dir=str(tmp_path / "cache")
    )
    rows = {row["text"][:20]: row for row in loaded}
    assert set(rows) == {"A photo of an astron", 'A cup of "coffee" <o'}
    astronaut = rows["A photo of an astron"]
    assert astronaut["image"].size == (300, 200) and astronaut["tags"] == []
