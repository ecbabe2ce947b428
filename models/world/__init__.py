"""The shapes world: synthetic photos and videos whose truth is known (issue 16).

A seeded generator of shapes in named colours, sizes and positions on plain, gradient,
noisy and real-photo backgrounds, and of videos of moving shapes with hard cuts at known
times; each item's truth renders as the engine's exact JSON answer. The ground a tiny
model is trained and measured on. No Qt, never imports `app`; Pillow, numpy and OpenCV
only (scikit-image, a dev dependency, for the real-photo backgrounds).
"""
