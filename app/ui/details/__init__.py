"""The details panel: preview, caption editor and commands, tags, history, moments, player."""
