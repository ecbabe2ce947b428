"""Qt-free domain layer: library, storage, media, jobs. Never imports PySide6."""
