"""Captions outside the database: XMP written beside or into the user's files, and
captions other apps wrote, read when files are indexed."""
