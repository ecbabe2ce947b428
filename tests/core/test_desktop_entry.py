"""The desktop entry and file-manager actions: valid for desktop-file-validate, and their
commands reach the app with exactly the launcher's arguments and the selected paths (GLib's
own launcher, `gio launch`, parses them; the Nautilus script runs as Nautilus runs it).
install-desktop / uninstall-desktop write and remove exactly their files."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.desktop import windows_menu
from app.core.desktop.entries import desktop_entry, nautilus_script
from app.core.desktop.install import (
    DOLPHIN_MENU,
    ENTRY,
    MANIFEST,
    NAUTILUS_SCRIPT,
    NEMO_ACTION,
    install_desktop,
    uninstall_desktop,
)

REPO = Path(__file__).resolve().parents[2]
needs_validator = pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None, reason="Debian desktop-file-utils"
)
needs_gio = pytest.mark.skipif(shutil.which("gio") is None, reason="Debian libglib2.0-bin")


def recording_launcher(folder: Path) -> tuple[Path, Path]:
    """An executable that stands in for the app and writes down the argv it was given
    (at a path with a space and a quote, as real installs have)."""
    folder.mkdir(parents=True)
    record = folder / "argv.json"
    launcher = folder / "Captionist's launcher"
    launcher.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    launcher.chmod(0o755)
    return launcher, record


def validate(path: Path) -> str:
    result = subprocess.run(
        ["desktop-file-validate", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def gio_launch(entry: Path, *files: Path, record: Path) -> list[str]:
    record.unlink(missing_ok=True)
    subprocess.run(["gio", "launch", str(entry), *map(str, files)], check=True, timeout=30)
    for _ in range(100):  # gio returns once the program started
        if record.exists() and record.read_text():
            return json.loads(record.read_text())
        subprocess.run(["sleep", "0.05"], check=True)
    raise AssertionError("the launcher never ran")


def action_exec(text: str) -> str:
    group = text.split("[Desktop Action caption-this]", 1)[1]
    return next(line for line in group.splitlines() if line.startswith("Exec="))


@needs_validator
def test_the_entry_passes_desktop_file_validate(tmp_path: Path) -> None:
    launcher = ["/opt/My Apps/Captionist's 100% build/captionist", "--data-dir", '/d $x\\"y']
    entry = tmp_path / "captionist.desktop"
    entry.write_text(desktop_entry(launcher))
    assert validate(entry) == ""  # not even a hint


@needs_gio
@needs_validator
def test_open_with_and_the_caption_action_pass_paths_through_unchanged(tmp_path: Path) -> None:
    launcher, record = recording_launcher(tmp_path / "My Apps")
    data_dir = str(tmp_path / 'library 100% "mine" $HOME \\ `x`')
    text = desktop_entry([str(launcher), "--data-dir", data_dir])
    entry = tmp_path / "captionist.desktop"
    entry.write_text(text)
    validate(entry)
    photo = tmp_path / "été à la mer (1).jpg"
    photo.touch()
    assert gio_launch(entry, photo, record=record) == ["--data-dir", data_dir, "open", str(photo)]

    # The desktop action, through the same launcher: its Exec in an entry of its own.
    action = tmp_path / "action.desktop"
    action.write_text(text.split("[Desktop Action")[0].replace(
        next(line for line in text.splitlines() if line.startswith("Exec=")), action_exec(text)
    ))  # fmt: skip
    second = tmp_path / "b.png"
    second.touch()
    assert gio_launch(action, photo, second, record=record) == [
        "--data-dir", data_dir, "caption-this", str(photo), str(second),
    ]  # fmt: skip


def test_the_nautilus_script_hands_the_selection_over(tmp_path: Path) -> None:
    launcher, record = recording_launcher(tmp_path / "bin dir")
    script = tmp_path / "Caption with Captionist"
    script.write_text(nautilus_script([str(launcher), "--data-dir", "/lib $x"]))
    script.chmod(0o755)
    folder = tmp_path / "Photos"
    folder.mkdir()
    # Nautilus runs it in the shown folder with the selected names as arguments.
    subprocess.run([str(script), "a b.jpg", "c'd.png"], cwd=folder, check=True, timeout=30)
    assert json.loads(record.read_text()) == [
        "--data-dir", "/lib $x", "caption-this", "a b.jpg", "c'd.png",
    ]  # fmt: skip


def installed_under(base: Path) -> set[Path]:
    return {p for p in base.rglob("*") if p.is_file()}


@needs_validator
def test_install_writes_entry_icons_and_present_file_managers_then_uninstall_removes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "share"
    monkeypatch.setenv("XDG_DATA_HOME", str(base))
    mine = base / "applications" / "my-own.desktop"  # the user's own file, untouched
    mine.parent.mkdir(parents=True)
    mine.write_text("[Desktop Entry]\n")
    present = {"nautilus", "dolphin"}
    # A stand-in for the PATH lookup: which file managers "are installed" here.
    report = install_desktop(["/usr/bin/captionist"], which=lambda p: p if p in present else None)

    assert report.skipped == ["Nemo: not installed"]
    validate(base / ENTRY)
    sizes = {p.parts[-3] for p in (base / "icons/hicolor").glob("*/apps/captionist.png")}
    assert sizes == {f"{s}x{s}" for s in (16, 24, 32, 48, 64, 128, 256, 512)}
    assert (base / "icons/hicolor/scalable/apps/captionist.svg").is_file()
    for executable in (NAUTILUS_SCRIPT, DOLPHIN_MENU):
        assert (base / executable).stat().st_mode & stat.S_IXUSR
    assert not (base / NEMO_ACTION).exists()
    caches = {p for p in installed_under(base) if p.name.endswith("cache")}  # the menus' own
    assert installed_under(base) - caches == set(report.written) | {mine, base / MANIFEST}

    # Later only Nemo is there: its action arrives, the others' go.
    present = {"nemo"}
    again = install_desktop(["/usr/bin/captionist"], which=lambda p: p if p in present else None)
    assert (base / NEMO_ACTION).is_file()
    assert set(again.removed) == {base / NAUTILUS_SCRIPT, base / DOLPHIN_MENU}

    gone = uninstall_desktop()
    assert set(gone.removed) == set(again.written)
    assert {p for p in installed_under(base) if not p.name.endswith("cache")} == {mine}
    assert uninstall_desktop().skipped == ["nothing: Captionist's desktop files are not installed"]


def test_install_desktop_command_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "share"), "HOME": str(tmp_path)}
    main = [sys.executable, str(REPO / "main.py"), "--data-dir", str(tmp_path / "data")]
    done = subprocess.run([*main, "install-desktop"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    entry = tmp_path / "share" / ENTRY
    assert f"installed {entry}" in done.stdout.splitlines()
    # The entry starts this very install, with the library it was installed for.
    assert f"--data-dir {tmp_path / 'data'} open %F" in entry.read_text()
    removed = subprocess.run([*main, "uninstall-desktop"], env=env, capture_output=True,
                             text=True, timeout=60, check=False)  # fmt: skip
    assert removed.returncode == 0 and f"removed {entry}" in removed.stdout
    assert not entry.exists()


def test_the_explorer_menu_as_a_reg_file(tmp_path: Path) -> None:
    launcher = [r"C:\Program Files\Captionist\Captionist.exe"]
    values = windows_menu.registry_values(launcher, icon=launcher[0])
    text = windows_menu.reg_file(values)
    verb = r"HKEY_CURRENT_USER\Software\Classes\SystemFileAssociations\image\shell"
    assert f"[{verb}\\Captionist.CaptionThis]" in text
    assert '@="Caption with Captionist"' in text
    assert (
        '@="\\"C:\\\\Program Files\\\\Captionist\\\\Captionist.exe\\" caption-this \\"%1\\""'
    ) in text
    assert text.count("caption-this") == 3  # photos, videos, folders
    assert text.startswith("Windows Registry Editor Version 5.00\r\n")
    written = tmp_path / "menu.reg"
    result = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "--data-dir", str(tmp_path / "d"),
         "install-desktop", "--reg", str(written)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "caption-this" in written.read_text(encoding="utf-8")
