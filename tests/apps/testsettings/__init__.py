"""Settings modules for the CLI tests. Each builds on examples/mysite's settings.

They are found through `--pythonpath tests/apps` (the project dir itself is the
working directory, so `mysite.settings` is importable as with manage.py).
"""
