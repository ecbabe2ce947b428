#!/usr/bin/env python3
"""Screenshots of the real window, for judging it and for the README.

    .venv/bin/python packaging/screenshots.py [--out DIR] [--sizes 1280x800,1440x900,1920x1080]
                                              [--themes light,dark] [--readme]

For each screen size an Xvfb server is started (it must be installed: `.ci/run` installs
it), and for each theme the real app window opens on a demo library in a child process
that then shows, and grabs, each state a user meets:

  main           the whole screen: folders, the grid, a selected photo's details
  details        the details panel of a photo with the user's own caption and history
  activity-*     the activity panel: no model yet, paused, finished with a failure, and
                 search by meaning getting ready
  search-*       the search box: words only (no embedding model: the quiet hint), hybrid
                 results with hits found by meaning ("≈"), Find similar on the rocket
  loupe          the large view (Enter on a photo)
  settings-*     each page of Settings (settings-search: search by meaning ready with one
                 installed model while another downloads)
  finetune       the "fine-tune on my corrections" screen with three corrections
  export         File → Export captions…, set up for a kohya training set

The demo library holds real photos from scikit-image's wheel (an astronaut, a coffee cup,
a cat, a rocket…) and one unreadable file. Their captions were written by hand for these
pictures (so a screenshot never shows a random tiny model's nonsense); they are stored as
the model's captions, and some as the user's corrections, the way the app stores them.
`--readme` also copies the 1440x900 light main window to resources/screenshots/library.png.
Nothing here downloads anything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZES = ("1280x800", "1440x900", "1920x1080")
THEMES = ("light", "dark")
if TYPE_CHECKING:
    from app.core.storage.db import Database

README_SHOT = ROOT / "resources" / "screenshots" / "library.png"

# Written for these pictures, by a person looking at them.
CAPTIONS: dict[str, tuple[str, list[str]]] = {
    "astronaut": (
        "An astronaut in an orange flight suit holding her helmet, the US flag and a model "
        "of the space shuttle behind her",
        ["astronaut", "portrait", "flight suit", "flag"],
    ),
    "coffee": (
        "A cup of coffee on a red saucer with a spoon, on a wooden table",
        ["coffee", "cup", "table"],
    ),
    "chelsea": ("Close-up of a tabby cat looking at the camera", ["cat", "pet", "close-up"]),
    "rocket": (
        "A rocket on its launch pad at dusk, lit by floodlights",
        ["rocket", "launch pad", "dusk"],
    ),
    "camera": (
        "Black-and-white photo of a man looking through a camera on a tripod in a field",
        ["photographer", "camera", "black and white"],
    ),
    "hubble_deep_field": (
        "Hundreds of distant galaxies on a black sky, seen by a space telescope",
        ["galaxies", "space", "astronomy"],
    ),
    "coins": ("Rows of old coins on a grey background", ["coins", "collection"]),
    "moon": ("The surface of the Moon, grey and covered in craters", ["moon", "craters"]),
}
# The user's corrections (the fine-tune screen's lessons), and what the model had said.
CORRECTIONS = {
    "astronaut": "Eileen Collins, NASA astronaut, in her launch and entry suit",
    "chelsea": "Chelsea, our tabby, in the kitchen",
    "coffee": "Espresso at the café on the corner, Sunday morning",
}
UNCAPTIONED = ("immunohistochemistry",)


# -- the parent: one Xvfb per size, one child per theme ---------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "screenshots")
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--themes", default=",".join(THEMES))
    ap.add_argument("--readme", action="store_true", help="also update the README's picture")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--library", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--prefix", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return shoot(args.library, args.out, args.prefix)
    if shutil.which("Xvfb") is None:
        print("error: Xvfb is not installed (apt install xvfb)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="captionist-shots-") as tmp:
        template = Path(tmp) / "template"
        make_library(template)
        for size in args.sizes.split(","):
            for theme in args.themes.split(","):
                library = Path(tmp) / f"{size}-{theme}"
                shutil.copytree(template, library)
                code = run_child(size, theme, library, args.out, f"{size}-{theme}-")
                if code != 0:
                    print(f"error: the {size} {theme} run failed ({code})", file=sys.stderr)
                    return code
    if args.readme:
        shutil.copyfile(args.out / "1440x900-light-main.png", README_SHOT)
        print(f"README picture: {README_SHOT.relative_to(ROOT)}")
    print(f"screenshots in {args.out}")
    return 0


def run_child(size: str, theme: str, library: Path, out: Path, prefix: str) -> int:
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        display = pipe.readline().strip()
    try:
        env = {
            **os.environ,
            "DISPLAY": f":{display}",
            "QT_QPA_PLATFORM": "xcb",
            "CAPTIONIST_THEME": theme,
            "PYTHONPATH": str(ROOT),
        }
        env.pop("WAYLAND_DISPLAY", None)
        command = [sys.executable, __file__, "--child", "--library", str(library)]
        command += ["--out", str(out), "--prefix", prefix]
        print(f"{size} {theme} …", flush=True)
        return subprocess.run(command, env=env, timeout=600).returncode
    finally:
        xvfb.terminate()
        xvfb.wait(10)


# -- the demo library -------------------------------------------------------------------------
def make_library(data: Path) -> None:
    """Photos from scikit-image with hand-written captions, three corrections, an
    uncaptioned photo and an unreadable file, in a fresh data folder."""
    from PIL import Image
    from skimage import data as samples

    from app.core.captions import CaptionStore
    from app.core.datadir import DataDir
    from app.core.library.library import Library
    from app.core.storage.db import Database
    from tests.caption_support import store_model_caption

    photos = data / "Pictures" / "Holiday 2024"
    photos.mkdir(parents=True)
    for name in [*CAPTIONS, *UNCAPTIONED]:
        picture = Image.fromarray(getattr(samples, name)()).convert("RGB")
        picture.save(photos / f"{name}.jpg", quality=90)
    (photos / "scan-0042.jpg").write_bytes(b"\xff\xd8\xff\xe0 half a file, cut off in a copy")
    data_dir = DataDir.resolve(str(data / "captionist"))
    db = Database(data_dir.database)
    try:
        library = Library(db)
        library.settings.set("auto_caption", False)  # no model here: nothing to queue
        root = library.add_root(photos)
        library.scan(root.id)
        with db.read() as conn:
            ids = dict(conn.exec_driver_sql("SELECT name, id FROM media_items").all())
        store = CaptionStore(db)
        for name, (caption, tags) in CAPTIONS.items():
            store_model_caption(db, ids[f"{name}.jpg"], caption, tags, model_id="smolvlm2-500m")
        for name, correction in CORRECTIONS.items():
            store.add_user_caption(ids[f"{name}.jpg"], correction)
        # Two inference servers, one on plain http across the network (its warning shows).
        from app.core.servers.registry import ServerRegistry

        servers = ServerRegistry(library.settings)
        servers.add("https://gpu-box.lan:8443", name="gpu-box", key_env="GPU_BOX_KEY")
        servers.add("http://192.168.1.20:11434", name="old-laptop", enabled=False)
        # Waiting for a caption: with no model installed, the window says what to do.
        library.jobs.enqueue([ids[f"{name}.jpg"] for name in UNCAPTIONED])
        install_embedding_model(db, data_dir.models)
    finally:
        db.close()


def install_embedding_model(db: Database, models_dir: Path) -> None:
    """Search by meaning, ready: the catalog's default embedding model "installed" (the
    tiny test GGUF under its file name, with the manifest a download writes) and the
    captions' vectors in the library. The vectors come from ConceptEmbedderDouble, a test
    double, keyed as the worker keys that file, so the worker finds nothing to re-read."""
    from app.core.semantic.sync import EmbeddingSync
    from models.embedding import model_identity
    from models.embedding_catalog import load_embedding_catalog
    from models.hub import RemoteFile
    from models.installed import model_dir, write_manifest
    from tests.semantic.embedder_double import ConceptEmbedderDouble

    entry = load_embedding_catalog().default
    directory = model_dir(entry.id, models_dir)
    directory.mkdir(parents=True)
    gguf = directory / entry.model_file
    shutil.copyfile(ROOT / "tests" / "fixtures" / "models" / "embed_bert" / "model.gguf", gguf)
    remote = RemoteFile(entry.model_file, gguf.stat().st_size, None)
    write_manifest(directory, entry, "0" * 40, (remote,), ("",))
    double = ConceptEmbedderDouble(model_identity(gguf))
    EmbeddingSync(db, double, entry.name, path=str(gguf)).run_until_done()


# -- the child: the real window, its states, grabbed --------------------------------------------
def shoot(library: Path, out: Path, prefix: str) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QWidget

    from app.core.captioning.events import MemberStatus, ModelLoaded, Progress, Started
    from app.core.datadir import DataDir
    from app.ui.application import apply_look
    from app.ui.settings.servers_section import ServersSection
    from app.ui.window.main_window import MainWindow

    app = QApplication([sys.argv[0]])
    data_dir = DataDir.resolve(str(library / "captionist"))
    apply_look(app, data_dir)
    window = MainWindow(data_dir)
    window.no_welcome = True
    window.showMaximized()

    def wait(seconds: float, until: object = None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents()
            if callable(until) and until():
                break
            time.sleep(0.02)

    def save(widget: QWidget | None, name: str) -> None:
        wait(0.4)
        path = out / f"{prefix}{name}.png"
        if widget is None:
            screen = QGuiApplication.primaryScreen()
            screen.grabWindow(0).save(str(path))
        else:
            widget.grab().save(str(path))
        print(f"  {path.name}", flush=True)

    model = window.gallery_model

    def listed() -> bool:
        return model.rowCount() >= len(CAPTIONS) and all(model.row_of(i) for i in model.ids())

    wait(20, listed)
    rows = [model.row_of(i) for i in model.ids()]
    by_name = {row.name: row.id for row in rows if row is not None}
    window.gallery.select_item(by_name["astronaut.jpg"])
    wait(3, lambda: window.details.panel.preview.pixmap() is not None)
    wait(2)  # thumbnails
    wait(10, lambda: getattr(window.activity, "state", "") == "no_model")
    save(None, "main")
    save(window.details.widget, "details")
    save(window.activity, "activity-no-model")
    window.activity.pause_button.click()
    wait(1)
    save(window.activity, "activity-paused")
    window.activity.pause_button.click()
    # Captioning, as the worker reports it (with no model here, the worker's own events
    # are replayed to the panel: the real panel drawing the real event types).
    item = by_name[f"{UNCAPTIONED[0]}.jpg"]
    window._worker.stop(timeout=3.0)  # its "no model" must not overwrite the replay
    window.activity.handle_worker_event(ModelLoaded("smolvlm2-500m", None, 2.1, None))
    window.activity.handle_worker_event(Started(1, item, "photo"))
    window.activity.handle_worker_event(Progress(8, 10, 12.0, 10.0))
    wait(1)
    save(window.activity, "activity-captioning")
    window.activity.handle_worker_event(MemberStatus("gpu-box", True, None, 2, 24.0))
    window.activity.handle_worker_event(
        MemberStatus("old-laptop", False, "old-laptop is not reachable (refused)", 0, 0.0)
    )
    wait(1)
    save(window.activity, "activity-servers")

    shoot_search(window, by_name, save, wait)

    window.stage.open()
    wait(3, lambda: window.stage.loupe.shown is not None)
    save(None, "loupe")
    window.stage.back_to_grid()

    window.extras.open_settings()
    dialog = window.extras.settings_dialog
    if dialog is not None:
        search = dialog.search_page
        wait(10, lambda: search.status.text != "" and search.table.rowCount() > 0)
        # Another embedding model downloading, as the download bridge reports it.
        downloading = "qwen3-embedding-0.6b"
        downloads = window.downloads
        downloads.current = lambda: downloading  # type: ignore[method-assign]
        downloads.busy = lambda: True  # type: ignore[method-assign]
        downloads.progress.emit(downloading, 262_000_000, 639_000_000, 11_400_000.0, 33.0)
        for index in range(dialog.tabs.count()):
            dialog.tabs.setCurrentIndex(index)
            save(dialog, f"settings-{dialog.tabs.tabText(index).lower()}")
        servers = dialog.findChild(ServersSection)
        if servers is not None:  # below the fold of the Models page
            dialog.tabs.setCurrentIndex(0)
            save(servers, "settings-servers")
        dialog.close()

    window.extras.open_export()
    export = window.extras.export_dialog
    if export is not None:
        export.library_radio.setChecked(True)
        export.form.trigger_edit.setText("mylibrary")
        export.form.path_edit.setText(str(library / "training-set"))
        wait(2)
        save(export, "export")
        export.close()

    window.extras.open_finetune()
    finetune = window.extras.finetune_launcher().dialog
    wait(5)
    save(finetune, "finetune")
    if finetune is not None:
        finetune.close()
    QTimer.singleShot(0, window.close)
    wait(3)
    return 0


# -- search by meaning (issue 14) ------------------------------------------------------------
# A TEST DOUBLE for an embedding model, for these pictures only: each word of the table is
# one concept (words outside it mean nothing), so the shots show what a real multilingual
# model does without one being installed here.
DEMO_CONCEPTS = {
    "space": "space astronaut rocket shuttle galaxies telescope moon craters nasa launch",
    "drink": "coffee cup espresso café saucer drink",
    "animal": "cat tabby pet kitten",
    "photography": "camera tripod photographer photo",
    "money": "coins coin collection",
    "night": "night dusk evening dark floodlights black",
}


class DemoEmbedderDouble:
    model_id = "demo-concepts-v1"
    dimension = len(DEMO_CONCEPTS) + 1

    def __init__(self) -> None:
        self._concept = {
            word: n for n, words in enumerate(DEMO_CONCEPTS.values()) for word in words.split()
        }

    def embed_query(self, text: str):  # type: ignore[no-untyped-def]
        import re

        import numpy as np

        vector = np.zeros(self.dimension, np.float32)
        for word in re.findall(r"\w+", text.lower()):
            if word in self._concept:
                vector[self._concept[word]] += 1.0
        vector[-1] = 0.05  # nothing known: a vector all the same
        return vector / np.linalg.norm(vector)

    def embed_documents(self, texts: list[str]):  # type: ignore[no-untyped-def]
        import numpy as np

        return np.stack([self.embed_query(t) for t in texts]).reshape(len(texts), -1)

    def close(self) -> None:
        pass


def shoot_search(window, by_name, save, wait) -> None:  # type: ignore[no-untyped-def]
    from app.core.captioning.events import EmbeddingProgress
    from app.core.semantic.hybrid import Finder
    from app.core.semantic.sync import EmbeddingSync

    def search(text: str) -> None:
        window.toolbar.search.setText(text)
        wait(5, lambda: window.browser.listing.text == text and window.gallery_model.has_hits())
        wait(2)  # rows and thumbnails

    # No embedding model: keyword results and the quiet "Words only".
    search("rocket")
    save(None, "search-words-only")
    label = "EmbeddingGemma 300M"
    window.activity.handle_worker_event(EmbeddingProgress(label, 1234, 56, False))
    wait(1)
    save(window.activity, "activity-meaning")
    double = DemoEmbedderDouble()
    EmbeddingSync(window.db, double, label).run_until_done()
    window.search.use(Finder(window.db, lambda _model, text: double.embed_query(text)))
    window.activity.handle_worker_event(EmbeddingProgress(label, 0, 1290, True))
    search("space")
    window.gallery.select_item(by_name["moon.jpg"])
    save(None, "search-meaning")
    window.toolbar.search.setText("")
    wait(3, lambda: not window.browser.listing.searching and not window.gallery_model.has_hits())
    window.gallery.select_item(by_name["rocket.jpg"])
    wait(1)
    window.items.find_similar.trigger()
    wait(5, lambda: window.browser.listing.similar and window.gallery_model.has_hits())
    wait(2)
    save(None, "search-similar")
    window.browser.leave_similar()
    wait(3, lambda: not window.gallery_model.has_hits())
    from app.core.captioning.events import EmbeddingFailed

    window.activity.handle_worker_event(
        EmbeddingFailed(f"{label}: the model file is not there any more")
    )
    wait(1)
    save(window.activity, "activity-meaning-failed")


if __name__ == "__main__":
    sys.exit(main())
