"""File → Export captions…: the dialog over `app.core.export` (issue 15).

`words` says formats, scopes and summaries in plain words, `choices` remembers what the
user picked last, `runner` runs an export off the GUI thread with progress and Cancel,
`dialog` puts them together.
"""
