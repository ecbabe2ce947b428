"""Desktop integration without Qt: the launcher command, the desktop entry and the
file-manager actions, and installing them for the current user."""
