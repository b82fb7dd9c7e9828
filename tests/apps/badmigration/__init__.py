"""An app whose only migration fails (for --check-migrations-apply failures).

Installed by testsettings.probes when $PROBETEST_BAD_MIGRATION is set."""
