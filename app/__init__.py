"""Captionist: captions and tags a local photo and video library."""

APP_NAME = "Captionist"
