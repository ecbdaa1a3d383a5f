"""SQLite results store: every measured row, committed the moment it is added.

    store = Store()                      # $LAB_STORE or data/results/lab.sqlite
    store.add(row, env)                  # row needs 'config_id', env needs 'env_id'
    store.has(config_id, env_id)         # resume: skip what already succeeded
    store.dataframe(); store.export("results.parquet")

Why it looks like this:
- One short-lived connection per operation and no shared state, so a dashboard's
  background thread, the main thread and another process (the CLI) can share a
  file. WAL lets readers run while a writer commits; the busy timeout makes
  writers queue instead of failing. add() commits before returning, so SIGKILL
  mid-sweep loses nothing already added.
- Rows are stored whole as JSON (columns grow with lab, no migrations), with
  config_id / env_id / error / created_at copied into indexed columns for the
  runner's queries. Repeats are separate rows: run-to-run noise is data too.
- NaN and +/-inf survive unchanged (json writes NaN/Infinity and reads them
  back): "could not measure" (NaN) is not the same as "not measured" (None).
- The environment fingerprint is stored once per env_id and merged back into
  each row on read, so every DataFrame row carries its torch version, device...
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from lab.errors import FieldError

SCHEMA_VERSION = 1

_BUSY_TIMEOUT_S = 30.0  # a long sweep's writer and a reader should queue, not fail
_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lab_meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS environments (
    env_id TEXT PRIMARY KEY, env TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reuse ids: exports cite them
    config_id TEXT NOT NULL, env_id TEXT NOT NULL, error TEXT,
    created_at TEXT NOT NULL, row TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS results_config_env ON results (config_id, env_id, error);
CREATE INDEX IF NOT EXISTS results_env ON results (env_id);
"""

# Measured hardware ceilings (lab.roofline), one JSON dict per (environment, device, threads).
# Added after schema_version 1 without a bump: _open() creates it in existing stores too, and
# a lab that predates it never reads it, so old and new labs share a file either way.
_CEILINGS_SCHEMA = """
CREATE TABLE IF NOT EXISTS ceilings (
    env_id TEXT NOT NULL, device TEXT NOT NULL, threads INTEGER NOT NULL,
    ceilings TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (env_id, device, threads))
"""


# Rows of different kinds share one store: an inference row (one configuration's forward pass;
# rows stored before kinds existed have no "kind" and are this), and the kinds the data and
# training sides add. Readers ask for one kind (Store.rows(kind=...)), so no kind's reader
# ever sees another's columns.
INFERENCE = "inference"


def default_path() -> Path:
    """$LAB_STORE if set, else <repo root>/data/results/lab.sqlite (gitignored)."""
    env = os.environ.get("LAB_STORE")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "data" / "results" / "lab.sqlite"


def utc_now() -> str:
    """Now, UTC, to the second, ISO 8601 ('2026-01-31T12:00:00+00:00'): every stamp the lab writes
    (rows' measured_at, the store's created_at, manifests, ceilings)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _json_default(value):
    # numpy scalars and 0-d tensors slip into rows easily; store their Python value.
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(d: dict, what: str) -> str:
    try:
        return json.dumps(d, default=_json_default)
    except (TypeError, ValueError):
        pass
    for key, value in d.items():  # failure path only: name the offending field
        try:
            json.dumps(value, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what}[{key!r}]={value!r:.60} cannot be stored ({exc}); "
                             "use numbers, strings, bools, None or lists of them") from None
    raise ValueError(f"{what} cannot be stored as JSON; use a flat dict with string keys")


@contextlib.contextmanager
def _transaction(con: sqlite3.Connection):
    con.execute("BEGIN IMMEDIATE")  # lock up front: a late read->write upgrade fails, not waits
    try:
        yield
    except BaseException:
        if con.in_transaction:  # SQLite may already have rolled back (disk full, ...)
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


class Store:
    """Append-only results store in one SQLite file; safe across threads and processes."""

    def __init__(self, path: str | Path | None = None, *, create: bool = True):
        """path: the store's file (None: $LAB_STORE or data/results/lab.sqlite).

        create: make a new store where ``path`` has none. Its directory must exist (a mistyped
            ``--store`` path is an error, not a silent new store), except the default one,
            which is made on first use. With create=False a missing file is an error too
            (``export``, ``figures``: nothing to read).
        """
        default = path is None
        self.path = Path(default_path() if default else path).expanduser().absolute()
        if self.path.is_dir():
            self._refuse("is a directory")
        if not self.path.exists():
            if not create:
                self._refuse("holds no lab store (no such file)", what="the path of an existing store")
            if not default and not self.path.parent.is_dir():
                self._refuse(f"is in a directory that does not exist ({self.path.parent})",
                             what="a path in an existing directory (create it first)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._refuse(f"cannot be created ({exc.strerror or exc}: {exc.filename})")
        try:
            self._open()
        except sqlite3.OperationalError as exc:  # locked, unwritable, ...: not a format problem
            self._refuse(f"cannot be opened: {exc}", what="a writable path")
        except sqlite3.DatabaseError as exc:  # random bytes, text: "file is not a database"
            self._refuse(f"is not a lab results store ({exc})")

    def _refuse(self, why: str, what: str = "a new path or an existing lab store"):
        raise FieldError("store", str(self.path), f"it {why}; give {what}") from None

    def _open(self) -> None:
        with self._connect() as con:
            tables = {r[0] for r in con.execute(  # "file is not a database" raises here
               "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
            if not tables:  # a new or 0-byte file: make it a store
                self._create(con)
            elif "lab_meta" not in tables:
                names = ", ".join(sorted(tables)[:5])
                self._refuse(f"is not a lab results store (an SQLite database with tables {names})")
            else:
                self._check_version(con)
                if "ceilings" not in tables:  # a store made before the table existed gains it
                    con.execute(_CEILINGS_SCHEMA)

    def _create(self, con: sqlite3.Connection) -> None:
        # WAL persists in the file; it cannot be switched inside a transaction.
        con.execute("PRAGMA journal_mode=WAL")
        # One transaction + IF NOT EXISTS: two processes creating one new file both succeed.
        with _transaction(con):
            for stmt in [*filter(str.strip, _SCHEMA.split(";")), _CEILINGS_SCHEMA]:  # executescript would COMMIT
                con.execute(stmt)
            con.execute("INSERT OR IGNORE INTO lab_meta VALUES ('schema_version', ?), "
                        "('created_at', ?)", (str(SCHEMA_VERSION), utc_now()))
        self._check_version(con)

    def _check_version(self, con: sqlite3.Connection) -> None:
        found = con.execute("SELECT value FROM lab_meta WHERE key='schema_version'").fetchone()
        try:
            version = int(found[0])
        except (TypeError, ValueError):
            self._refuse("is not a lab results store (lab_meta has no schema_version)")
        if version > SCHEMA_VERSION:
            self._refuse(f"has schema_version {version}, newer than this lab knows ({SCHEMA_VERSION})",
                         what="a store written by this lab version, or upgrade lab")

    @contextlib.contextmanager
    def _connect(self):
        # isolation_level=None: we BEGIN/COMMIT ourselves; no implicit transactions left open.
        con = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            yield con
        finally:
            con.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def add(self, row: dict, env: dict) -> int:
        """Append one result row measured in environment `env`; committed on return."""
        config_id, env_id, error = row.get("config_id"), env.get("env_id"), row.get("error")
        if not isinstance(config_id, str) or not config_id:
            raise ValueError(f"config_id={config_id!r} is not valid; give a non-empty string in row")
        if not isinstance(env_id, str) or not env_id:
            raise ValueError(f"env_id={env_id!r} is not valid; give a non-empty string in env")
        if error is not None and not isinstance(error, str):
            raise ValueError(f"error={error!r:.60} is not valid; give a string message or None")
        row_json, env_json, now = _dumps(row, "row"), _dumps(env, "env"), utc_now()
        with self._connect() as con, _transaction(con):
            con.execute("INSERT OR IGNORE INTO environments VALUES (?, ?, ?)",
                        (env_id, env_json, now))
            cur = con.execute(
                "INSERT INTO results (config_id, env_id, error, created_at, row) "
                "VALUES (?, ?, ?, ?, ?)",
                (config_id, env_id, error or None, now, row_json))  # '' means no error
        return cur.lastrowid

    def has(self, config_id: str, env_id: str) -> bool:
        """True when a successful row exists; failed rows don't count, so reruns retry them."""
        with self._connect() as con:
            return con.execute(
                "SELECT 1 FROM results WHERE config_id=? AND env_id=? AND error IS NULL LIMIT 1",
                (config_id, env_id)).fetchone() is not None

    def _select(self, where: list[str], args: list, suffix: str = "ORDER BY r.id") -> list[dict]:
        sql = ("SELECT r.id, r.created_at, r.row, e.env FROM results r "
               "LEFT JOIN environments e ON e.env_id = r.env_id")
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._connect() as con:
            found = con.execute(f"{sql} {suffix}", args).fetchall()
        out = []
        for rid, created_at, row_json, env_json in found:
            row, env = json.loads(row_json), json.loads(env_json or "{}")
            # The store owns id and created_at; the row owns every other name it uses.
            merged = {"id": rid}
            merged.update((k, v) for k, v in row.items() if k not in ("id", "created_at"))
            merged.update((k, v) for k, v in env.items() if k not in merged)
            merged["created_at"] = created_at
            out.append(merged)
        return out

    def rows(self, *, env_id: str | None = None, config_id: str | None = None,
             ids: list[int] | None = None, kind: str | None = INFERENCE) -> list[dict]:
        """Stored rows merged with their environment, plus 'id' and 'created_at', by id.

        kind: which kind of row (``row["kind"]``; a row without one is an inference row, as
        every row was before the lab measured loaders and training): 'inference' (default),
        'loader', 'training', ..., or None for every kind.
        """
        given = {"r.env_id = ?": env_id, "r.config_id = ?": config_id}
        where = [cond for cond, value in given.items() if value is not None]
        args = [value for value in given.values() if value is not None]
        if ids is not None:
            # json_each takes any number of ids in one parameter (no 999-variable limit).
            where.append("r.id IN (SELECT value FROM json_each(?))")
            args.append(json.dumps([int(i) for i in ids]))
        found = self._select(where, args)
        # Filtered here, not in SQL: rows hold NaN and Infinity, which SQLite's JSON functions refuse.
        return found if kind is None else [r for r in found if r.get("kind", INFERENCE) == kind]

    def latest(self, config_id: str, env_id: str) -> dict | None:
        """Newest successful row for this config in this environment (a cache hit), or None."""
        found = self._select(["r.config_id = ?", "r.env_id = ?", "r.error IS NULL"],
                             [config_id, env_id], "ORDER BY r.id DESC LIMIT 1")
        return found[0] if found else None

    def get_ceilings(self, env_id: str, device: str, threads: int) -> dict | None:
        """The ceilings stored for (env_id, device, threads) by put_ceilings, or None."""
        with self._connect() as con:
            found = con.execute("SELECT ceilings FROM ceilings WHERE env_id=? AND device=? AND threads=?",
                                (env_id, device, int(threads))).fetchone()
        return json.loads(found[0]) if found else None

    def put_ceilings(self, env_id: str, device: str, threads: int, ceilings: dict) -> None:
        """Store (or replace) the measured ceilings of ``device`` at ``threads`` in environment ``env_id``."""
        if not isinstance(env_id, str) or not env_id:
            raise ValueError(f"env_id={env_id!r} is not valid; give a non-empty string")
        text = _dumps(ceilings, "ceilings")
        with self._connect() as con, _transaction(con):
            con.execute("INSERT OR REPLACE INTO ceilings VALUES (?, ?, ?, ?, ?)",
                        (env_id, device, int(threads), text, utc_now()))

    def __len__(self) -> int:
        with self._connect() as con:
            return con.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def dataframe(self, **filters):
        """rows(**filters) as a DataFrame (inference rows unless ``kind=`` says otherwise): 'id' first, then columns in first-seen order."""
        import pandas as pd  # lazy: importing lab.store stays cheap

        rows = self.rows(**filters)
        columns = list(dict.fromkeys(k for r in rows for k in r)) or ["id"]
        return pd.DataFrame(rows, columns=columns)

    def export(self, out: str | Path, format: str | None = None) -> Path:
        """Write every row, of every kind (a ``kind`` column tells them apart), to parquet or csv
        (format from out's suffix when None)."""
        out = Path(out).expanduser()
        fmt = export_format(out, format)
        df = self.dataframe(kind=None)
        # Write beside the target and rename: an interrupted export never leaves half a file.
        tmp = out.with_name(f".{out.name}.tmp")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "csv":
                df.to_csv(tmp, index=False)
            else:
                parquet_safe(df).to_parquet(tmp, index=False)
            os.replace(tmp, out)
        except OSError as exc:
            raise ValueError(f"out={out} cannot be written ({exc.strerror or exc}); give a writable path") from None
        finally:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
        return out


def export_format(out: str | Path, format: str | None = None) -> str:
    """'parquet' or 'csv': ``format``, or from ``out``'s suffix when None; ValueError naming the field otherwise."""
    out = Path(out)
    fmt = _FORMATS.get(out.suffix.lower()) if format is None else str(format).lower()
    if fmt not in ("parquet", "csv"):
        given = f"format={format!r}" if format is not None else f"format=None with out={out}"
        raise ValueError(f"{given} is not supported; give format='parquet' or 'csv' "
                         "(or an out path ending in .parquet, .pq or .csv)")
    return fmt


def parquet_safe(df):
    """Parquet needs one type per column; a knob like `compile` may hold False and 'max-autotune'."""
    df = df.copy()
    for name in df.columns[df.dtypes == object]:
        kinds = {type(v) for v in df[name] if v is not None and v == v}  # v == v drops NaN
        if len(kinds) > 1:
            df[name] = [None if v is None else str(v) for v in df[name]]
    return df
