"""A Django app for the probe, start-up and webhook tests.

Loaded through `--pythonpath tests/apps --settings testsettings.probes` (or the
other testsettings.probes* modules) in a copy of examples/mysite.

Environment variables it reads (all optional):
    PROBETEST_FLAGS   a directory of flag files the checks look at (see checks.py)
    PROBETEST_OUT     a file `echo_args` appends one JSON line to per run
"""
