"""Export captions as training data sets or tables (issue 15): kohya-style text files
beside or mirroring the images, Hugging Face `imagefolder` metadata.jsonl, CSV.

`selection` says which items (the whole library, a search, a view, a list of ids),
`formats` how one caption becomes bytes, `run` writes them with progress and Cancel.
Qt-free: the CLI (`captionist export`) and the window share it.
"""
