"""Decoders keep their own log lines to themselves: a scan of a folder with a broken
video prints our per-item reason, not FFmpeg's ("moov atom not found") or OpenCV's
("[ WARN:0@0.02] global cap.cpp ...") messages on the user's terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.media_factory import write_photo, write_truncated, write_video

REPO = Path(__file__).resolve().parents[2]


def test_a_scan_prints_no_ffmpeg_or_opencv_log_lines(tmp_path: Path) -> None:
    tree = tmp_path / "library"
    tree.mkdir()
    whole = write_video(tmp_path / "whole.mp4", seconds=2)
    write_truncated(tree / "cut.mp4", whole, keep=0.5)  # no moov atom: FFmpeg complains
    (tree / "noise.mov").write_bytes(os.urandom(4000))
    write_video(tree / "fine.avi", seconds=1)
    write_photo(tree / "fine.jpg", size=(40, 30))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}

    result = subprocess.run(
        [sys.executable, "main.py", "--data-dir", str(tmp_path / "d"), "scan", str(tree)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "4 new" in result.stdout
    assert "not a video Captionist can read" in result.stdout + result.stderr  # ours, kept
    for noise in ("moov atom", "[mov,mp4", "@ 0x", "WARN", "cap.cpp", "VIDEOIO"):
        assert noise not in result.stderr, result.stderr
