"""Turning queued caption jobs into captions: media preparation, the worker process
that keeps the model loaded, and its supervisor. Qt-free: the CLI runs it too."""
