"""Where a video's scene changes, and which moments should stand for the whole video.

No decoding here: video.py hands over tiny signatures of frames sampled a few times
a second, and gets back which samples to keep. Kept apart so the choice can be
tested with plain numbers.

A change score compares two consecutive samples twice: an H-S-V colour histogram
(steady while the camera pans or people move, so motion does not look like a cut)
and a 64x36 grey thumbnail (catches a cut between two scenes of similar colours).
A cut is a score that is high on its own and high against its neighbourhood, the
median change over the surrounding +-2 s (a shaky, busy clip changes a lot every
sample without ever cutting).
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

SIGNATURE_SIZE = (64, 36)  # width, height of the grey thumbnail compared pixel by pixel
HIST_BINS = [16, 4, 4]  # hue, saturation, value: hue matters most for "another scene"
HIST_RANGES = [0, 180, 0, 256, 0, 256]
MIN_CUT_SCORE = 0.15  # below this nothing is a cut (static noise scores ~0.02)
CUT_RATIO = 3.0  # ...and it must stand this far above the local background
BACKGROUND_S = 2.0  # the neighbourhood (each side) whose median is the background
PEAK_S = 0.5  # a cut is the strongest change this close around it
MIN_GAP_S = 1.0  # keyframes closer than this show the same moment twice


@dataclass(frozen=True, slots=True)
class Signature:
    hist: np.ndarray  # H-S-V histogram, normalised to sum 1
    grey: np.ndarray  # SIGNATURE_SIZE grey levels, float32


def signature(frame: np.ndarray) -> Signature:
    """A BGR frame of any size reduced to what change() compares (~0.5 ms at 720p).

    INTER_AREA over the whole frame costs ~1.2 ms at 720p; a strided view first
    (every n-th pixel, leaving ~4x the target) keeps most of its anti-aliasing."""
    step = max(1, min(frame.shape[0] // (SIGNATURE_SIZE[1] * 4), frame.shape[1] // 256))
    small = cv2.resize(frame[::step, ::step], SIGNATURE_SIZE, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    hist: np.ndarray = cv2.calcHist([hsv], [0, 1, 2], None, HIST_BINS, HIST_RANGES).ravel()
    hist /= max(float(hist.sum()), 1.0)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return Signature(hist, grey)


def change(a: Signature, b: Signature) -> float:
    """0 (the same picture) to 1: half the histograms' total variation distance plus
    the mean grey difference (weighted double: a cut moves it ~0.3, a histogram ~0.9)."""
    colours = 0.5 * float(np.abs(a.hist - b.hist).sum())
    pixels = float(np.abs(a.grey - b.grey).mean()) / 255.0
    return min(1.0, 0.5 * colours + pixels)


def find_cuts(times: Sequence[float], scores: Sequence[float]) -> list[int]:
    """Indices of the samples that open a new scene (scores[i] compares i-1 and i)."""
    cuts = []
    for i in range(1, len(scores)):
        score = scores[i]
        if score < MIN_CUT_SCORE:
            continue
        lo = bisect.bisect_left(times, times[i] - PEAK_S)
        hi = bisect.bisect_right(times, times[i] + PEAK_S)
        if score < max(scores[lo:hi]):
            continue  # a neighbour is the real cut (or the peak of a transition)
        lo = bisect.bisect_left(times, times[i] - BACKGROUND_S)
        hi = bisect.bisect_right(times, times[i] + BACKGROUND_S)
        around = [scores[j] for j in range(max(lo, 1), hi) if abs(j - i) > 1]
        background = statistics.median(around) if around else 0.0
        if score >= CUT_RATIO * background:
            cuts.append(i)
    return cuts


def choose(
    times: Sequence[float],
    scores: Sequence[float],
    duration: float,
    max_keyframes: int,
    available: Collection[int],
) -> list[tuple[int, bool]]:
    """(sample index, is_cut) of the keyframes, in time order, 1..max_keyframes of them.

    The strongest cuts first (at most max_keyframes - 1, leaving room for the opening
    scene), then evenly spread moments in the stretches between them. Only samples
    in `available` (whose frames were kept) can be chosen."""
    chosen: dict[int, bool] = {}
    by_strength = sorted(find_cuts(times, scores), key=lambda i: -scores[i])
    for i in by_strength:
        if len(chosen) >= max_keyframes - 1:
            break
        if i in available and all(abs(times[i] - times[j]) >= MIN_GAP_S for j in chosen):
            chosen[i] = True
    pool = sorted(available, key=lambda i: times[i])
    pool_times = [times[i] for i in pool]
    spacing = duration / max_keyframes
    for target in fill_times([times[i] for i in chosen], duration, max_keyframes - len(chosen)):
        nearest = _nearest_free(
            pool, pool_times, target, chosen, times, reach=max(spacing, MIN_GAP_S)
        )
        if nearest is not None:
            chosen[nearest] = False
    if not chosen and pool:  # nothing fitted: the sample nearest the middle
        chosen[pool[bisect.bisect_left(pool_times, duration / 2) % len(pool)]] = False
    return sorted(chosen.items(), key=lambda item: times[item[0]])


def fill_times(anchors: Sequence[float], duration: float, count: int) -> list[float]:
    """Up to `count` moments spread evenly over [0, duration] around the `anchors`.

    Each stretch between anchors gets points in turn, always the one where they
    would stand furthest apart, until `count` are placed or the next would stand
    closer than MIN_GAP_S. The video's start and end are not keyframes, so the
    first and last points stand half a step in from them; with no anchors at all
    the points form an even grid and at least one is placed, however short."""
    bounds = [0.0, *sorted(anchors), max(duration, 0.0)]
    stretches = [
        (a, b, 1 if k > 0 else 0, 1 if k < len(bounds) - 2 else 0)
        for k, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))
    ]
    counts = [0] * len(stretches)

    def step(k: int, points: int) -> float:
        start, end, left, right = stretches[k]
        return (end - start) / (points + (left + right) / 2)

    for _ in range(count):
        k = max(range(len(stretches)), key=lambda k: step(k, counts[k] + 1))
        if step(k, counts[k] + 1) < MIN_GAP_S and (anchors or sum(counts)):
            break
        counts[k] += 1
    moments = []
    for k, points in enumerate(counts):
        if points:
            start, _end, left, _right = stretches[k]
            gap = step(k, points)
            moments += [start + gap * (j if left else j - 0.5) for j in range(1, points + 1)]
    return moments


def _nearest_free(
    pool: list[int],
    pool_times: list[float],
    target: float,
    chosen: dict[int, bool],
    times: Sequence[float],
    reach: float,
) -> int | None:
    """The kept sample nearest `target` (within `reach`) at least half a gap from
    every chosen one: snapping must not stack two keyframes on one moment."""
    at = bisect.bisect_left(pool_times, target)
    near = range(max(0, at - 8), min(len(pool), at + 8))
    order = sorted(near, key=lambda k: abs(pool_times[k] - target))
    for k in order:
        if abs(pool_times[k] - target) > reach:
            break
        i = pool[k]
        if i not in chosen and all(abs(times[i] - times[j]) >= MIN_GAP_S / 2 for j in chosen):
            return i
    return None
