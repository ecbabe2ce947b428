"""The captioning activity panel: progress, pause/resume/cancel, failures and retry."""
