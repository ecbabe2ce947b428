"""The Settings dialog and its pages: models, prompts, library."""
