"""A Django app for the static/media file tests (tests/test_static*.py).

Loaded through `--pythonpath tests/apps --settings testsettings.static` in a copy of
examples/mysite, next to `probetest` (whose /wedge view holds the GIL).

- `static/` holds files that Django's AppDirectoriesFinder finds (finder mode, DEBUG on)
  and that `collectstatic` copies into STATIC_ROOT;
- `urls.py` puts Django views *under* the static and media prefixes
  (`/static/django-view`, `/media/django-view`), so that a test can tell a response
  of hurricane's file routes from one of Django.
"""
