"""SQLite that goes away on demand: stands in for a network database that dies.

A real SQLite file can never fail `SELECT 1` on an open connection (the statement
does not touch the file), so this backend wraps Django's sqlite3 backend and,
while the flag file `<$PROBETEST_FLAGS>/database-down` exists, fails the way a
dead database server does: opening a connection and executing any statement
raise the driver's own `sqlite3.OperationalError` (Django turns that into
`django.db.OperationalError`).
"""

import sqlite3

from django.db.backends.sqlite3 import base

from probetest.checks import flag

MESSAGE = "probetest: the database server went away"


def _check():
    if flag("database-down"):
        raise sqlite3.OperationalError(MESSAGE)


class FlakyCursor(base.SQLiteCursorWrapper):
    def execute(self, query, params=None):
        _check()
        return super().execute(query, params)

    def executemany(self, query, param_list):
        _check()
        return super().executemany(query, param_list)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        _check()
        return super().get_new_connection(conn_params)

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=FlakyCursor)
