#!/usr/bin/env python
"""A project as written for django-hurricane 1.6 (see README.md): served by
tests/test_python_package.py with `python manage.py serve` and no change to its files."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
