"""Functions `r2d-sdk sql` refuses by name: reads are fine, these act on the server or the session.

Most of them work inside a READ ONLY transaction (pg_read_file, advisory locks, set_config,
pg_terminate_backend), so the transaction alone does not stop them; a superuser URL allows
them all. The real guard is a read-only role (docs/sql.md); this list is the second one, and
the parser finds the names in function-call nodes, never in the text. `pg_sleep` is left to
the query timeout.
"""

from __future__ import annotations

REFUSED_FUNCTIONS = frozenset({
    # files on the server, and SQL run from a string (which hides the functions it calls)
    "pg_read_file", "pg_read_binary_file", "pg_stat_file", "query_to_xml", "query_to_xmlschema",
    "query_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema", "ts_stat", "ts_rewrite",
    # the session, the server and other sessions
    "set_config", "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
    "pg_notify", "pg_switch_wal", "pg_promote", "pg_backup_start", "pg_backup_stop", "pg_start_backup",
    "pg_stop_backup", "pg_import_system_collations", "pg_log_backend_memory_contexts",
    "pg_drop_replication_slot", "pg_replication_slot_advance",
    # sequences
    "nextval", "setval",
    # SQLite: extensions and the shell's file functions
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
})
REFUSED_PREFIXES = (
    "pg_ls_",                     # pg_ls_dir, pg_ls_logdir, pg_ls_waldir, ...
    "lo_",                        # large objects: lo_import, lo_export, lo_unlink, ...
    "dblink",                     # SQL on another connection, outside this transaction
    "pg_advisory_", "pg_try_advisory_",
    "pg_file_", "pg_logdir_",     # adminpack
    "pg_create_", "pg_copy_", "pg_logical_", "pg_replication_origin_",  # restore points, slots, origins
    "pg_stat_reset", "pg_wal_replay_",
)


def refused_function(name: str) -> bool:
    """Whether `r2d-sdk sql` refuses a call to the function `name` (case-insensitive, schema left off)."""
    bare = name.lower()
    return bare in REFUSED_FUNCTIONS or bare.startswith(REFUSED_PREFIXES)
