"""Many rows at once in the caller's transaction: COPY on PostgreSQL, executemany elsewhere.

The SMS fan-out writes two rows per message (its result, its audit entry). Through executemany that is
several times the CPU of the COPY protocol, on the worker that also has to keep its sends going.
"""
from __future__ import annotations

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

# Below this many rows COPY's extra statements cost more than they save.
COPY_FROM = 20


def insert_rows(session: Session, table: Table, rows: list[dict]) -> None:
    """Insert `rows` (dicts with the same keys) into `table`."""
    if not rows:
        return
    if _copies(session, rows):
        _copy(session, table, table.name, list(rows[0]), rows)
    else:
        session.execute(insert(table), rows)


def update_rows(session: Session, table: Table, rows: list[dict], key: str = "id", kept: str = "") -> None:
    """Set the other columns of each of `rows` (dicts with the same keys) on the row whose `key` matches,
    except on rows whose `kept` column already holds another value (someone else wrote it first)."""
    if not rows:
        return
    columns = list(rows[0])
    if not _copies(session, rows):
        renamed = [{**row, f"b_{key}": row[key], **({f"b_{kept}": row[kept]} if kept else {})} for row in rows]
        for row in renamed:
            del row[key]
        where = [table.c[key] == bindparam(f"b_{key}")]
        if kept:
            where.append(table.c[kept].is_(None) | (table.c[kept] == bindparam(f"b_{kept}")))
        session.execute(update(table).where(*where), renamed)
        return
    connection = session.connection()
    stage = f"{table.name}_stage_{'_'.join(columns)}"[:63]
    # Per database connection (created with the transaction, so not remembered: a rollback undoes it).
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                               f"SELECT {', '.join(columns)} FROM {table.name} WITH NO DATA")
    _copy(session, table, stage, columns, rows)
    assignments = ", ".join(f"{c} = s.{c}" for c in columns if c != key)
    unless = f" AND (t.{kept} IS NULL OR t.{kept} = s.{kept})" if kept else ""
    connection.exec_driver_sql(f"UPDATE {table.name} AS t SET {assignments} FROM {stage} AS s "
                               f"WHERE t.{key} = s.{key}{unless}")


def _copies(session: Session, rows: list[dict]) -> bool:
    return len(rows) >= COPY_FROM and session.get_bind().dialect.name == "postgresql"


def _copy(session: Session, table: Table, target: str, columns: list[str], rows: list[dict]) -> None:
    """COPY rows into `target`, each value through its column's own conversion (UTC datetimes checked)."""
    dialect = session.get_bind().dialect
    convert = {c: table.c[c].type.process_bind_param for c in columns if isinstance(table.c[c].type, TypeDecorator)}
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY {target} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([convert[c](row[c], dialect) if c in convert else row[c] for c in columns])
