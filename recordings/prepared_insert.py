"""One model's single-row INSERT, compiled once per process rather than once per row.

The callback receiver stores every delivery with one INSERT before it answers (bench/webhooks.py).
`Model.objects.create` compiles that INSERT again for every row: storing a callback so cost the web
worker about 0.3-0.4 ms of CPU, against about 0.2 ms here. With psycopg's client-side binding,
Django's default, PostgreSQL also parsed and planned the statement every time. Here the statement is
built once from the model's own fields and the backend's SQL pieces, so the model stays the only
description of the table. On PostgreSQL it runs with server-side binding, and psycopg prepares it on
each connection once it has run OPTIONS `prepare_threshold` times (settings.py: 5, or never with
DB_PREPARED_STATEMENTS=false, as a transaction-pooling PgBouncer before 1.21 needs).

The row goes through the cursor wrapper that Django uses for its own queries (error translation,
broken-transaction check, execute_wrapper hooks, query logging), but no pre_save or post_save signal
is sent. Use it only for a model that no signal handler watches.
"""

from __future__ import annotations

from django.db import connections
from django.db.models.constants import OnConflict

try:
    import psycopg
except ImportError:  # psycopg2 or another backend: Django's own cursor is used
    psycopg = None


class PreparedInsert:
    """`insert(obj)` writes `obj` as one row unless a unique constraint already holds its values."""

    def __init__(self, model) -> None:
        self.model = model
        meta = model._meta
        self.fields = [
            f for f in meta.concrete_fields if not f.primary_key and not getattr(f, "generated", False)
        ]
        self._sql: dict[str, str] = {}

    def sql(self, connection) -> str:
        sql = self._sql.get(connection.alias)
        if sql is None:
            ops, meta = connection.ops, self.model._meta
            returning, _ = ops.return_insert_columns([meta.pk])
            columns = ", ".join(ops.quote_name(f.column) for f in self.fields)
            placeholders = ", ".join(["%s"] * len(self.fields))
            sql = " ".join(
                part
                for part in (
                    ops.insert_statement(on_conflict=OnConflict.IGNORE),
                    ops.quote_name(meta.db_table),
                    f"({columns})",
                    f"VALUES ({placeholders})",
                    ops.on_conflict_suffix_sql(self.fields, OnConflict.IGNORE, None, None),
                    returning,
                )
                if part
            )
            self._sql[connection.alias] = sql
        return sql

    def insert(self, obj, using: str = "default") -> bool:
        """Insert `obj` (its primary key is then set) and return True; return False, writing nothing,
        when the row would break a unique constraint (ON CONFLICT DO NOTHING)."""
        connection = connections[using]
        # What the ORM sends for each field: defaults applied at __init__, pre_save, then the
        # backend's adaptation (JSON, bytes, aware datetimes).
        values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in self.fields]
        sql = self.sql(connection)
        with self._cursor(connection) as cursor:
            cursor.execute(sql, values)
            row = cursor.fetchone()
        if row is None:
            return False
        obj.pk = row[0]
        obj._state.adding = False
        obj._state.db = using
        return True

    @staticmethod
    def _cursor(connection):
        if psycopg is None or connection.vendor != "postgresql":
            return connection.cursor()
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        if not isinstance(connection.connection, psycopg.Connection):  # Django on psycopg2
            return connection.cursor()
        # Django's own cursor binds on the client unless OPTIONS server_side_binding is set; this one
        # statement uses a server-binding psycopg cursor under the same wrapper Django would use.
        connection.validate_thread_sharing()
        with connection.wrap_database_errors:
            raw = psycopg.Cursor(connection.connection)
        if connection.queries_logged:
            return connection.make_debug_cursor(raw)
        return connection.make_cursor(raw)
