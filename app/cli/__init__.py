"""Headless commands: `captionist-cli COMMAND` (app.cli.main builds the parser)."""
