"""Captionist launcher: no arguments opens the GUI, subcommands run headless."""

import sys

from app.launch import main

if __name__ == "__main__":
    sys.exit(main())
