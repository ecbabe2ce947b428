"""Opening the library database: pragmas, migrations, sessions.

SQLite in WAL mode lets the GUI, the scanner and the caption worker process read
while one of them writes; `busy_timeout` makes a writer wait for the lock instead
of failing at once.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import quote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Row, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.core.storage import backups
from app.core.storage.problems import LibraryBusy, LibraryDamaged, StorageProblem, explain

log = logging.getLogger(__name__)

# A row of a raw query: any number of columns of any type (SQLAlchemy 2.1's typed rows).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

BUSY_TIMEOUT_MS = 10_000
# No memory-mapped reads (PRAGMA mmap_size): they saved some CPU on phrase searches at
# a million captions (weak evidence, tests/benchmarks/bench_search.py), but an I/O
# error on a mapped page is a SIGBUS that kills the process instead of an error
# SQLite can report (a data directory on a network or removable drive), and the app
# promises no native aborts.
MIGRATIONS = "app.core.storage:migrations"


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _switch_to_wal(cur: sqlite3.Cursor) -> None:
    """`PRAGMA journal_mode=WAL`, waiting up to the busy timeout for other processes.

    On a new library several processes can open the file at once (Windows starts one
    per selected file). Switching a database to WAL needs an exclusive lock, and SQLite
    answers "database is locked" at once, without calling the busy handler, when another
    connection is itself switching: so retry here, with the same patience as a writer.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 0.1)


def _apply_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _switch_to_wal(cur)
    cur.execute("PRAGMA foreign_keys=ON")
    # NORMAL is durable across app crashes in WAL mode; only a power cut can lose
    # the last transactions, never corrupt the file.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


WRITE_OPTION = "captionist_write"


def _begin(conn: Connection) -> None:
    # Writers take the write lock up front (BEGIN IMMEDIATE): two writers that both
    # started as readers could otherwise deadlock and fail with "database is locked".
    # Readers use a deferred BEGIN so they never wait for a writer (WAL).
    writes = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def _apply_read_only_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(path: Path, *, read_only: bool = False) -> Engine:
    """An engine on the library file; `read_only` opens it with SQLite's `mode=ro`
    (a folder the user cannot write: reading still works, writing says why not)."""
    if read_only:
        # A WAL library read without its -shm file (which a read-only folder cannot
        # get) opens only as immutable: nothing else can be writing there then.
        shm = path.with_name(f"{path.name}-shm")
        immutable = "" if shm.exists() else "&immutable=1"
        url = f"sqlite:///file:{quote(str(path))}?mode=ro{immutable}&uri=true"
    else:
        url = f"sqlite:///{path}"
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _apply_read_only_pragmas if read_only else _apply_pragmas)

    # Let SQLAlchemy, not pysqlite, decide when a transaction begins.
    @event.listens_for(engine, "connect")
    def _no_pysqlite_transactions(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    event.listen(engine, "begin", _begin)
    return engine


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", str(engine.url))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, path: Path, revision: str = "head") -> None:
    """Bring the schema to `revision`, backing up an existing library first.

    A user's library must survive upgrades: if a migration fails, the copy taken
    here (in the backup folder, see `backups`) is what they restore from.
    """
    current = current_revision(engine)
    target = head_revision() if revision == "head" else revision
    if current == target:
        return
    if current is not None and path.exists():
        backups.take_backup(path, f"before-{target}")
    cfg = alembic_config(engine)
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _daily_backup(path: Path) -> None:
    """At most one a day; a backup that cannot be made (a full disk) does not keep
    the library from opening: the older backups are still there."""
    try:
        backups.daily_backup(path)
    except (OSError, sqlite3.Error) as exc:
        log.warning("no backup of the library today: %s", exc)


def folder_is_writable(folder: Path) -> bool:
    """Whether this process may create files in `folder` (the WAL's companions, a
    new library). Named so that the read-only path can be chosen, and tested, here."""
    return os.access(folder, os.W_OK)


# Called with the seconds waited so far each time the write lock was not free within
# the busy timeout: True to keep waiting, False to give up (LibraryBusy).
LockWait = Callable[[float], bool]
# Called (on whichever thread found it) the first time SQLite says the file is damaged.
DamageSeen = Callable[[LibraryDamaged], None]


class Database:
    """The library database: one engine, migrated on open, handing out sessions.

    Anything wrong with where it lives (see `problems`) is raised as a
    StorageProblem with a sentence for the user, never as a SQLite traceback. A
    damaged file (`PRAGMA quick_check` at open, or SQLite's "malformed" later) is
    LibraryDamaged, and is not opened for writing at all.

    Damage found while the library is in use (any statement, on any thread, answered
    "malformed") is remembered in `damaged`: from then on nothing is written (a write
    raises LibraryDamaged at once) and `on_damaged` is told, once."""

    def __init__(
        self,
        path: Path,
        *,
        migrate: bool = True,
        on_lock_wait: LockWait | None = None,
        check: bool = True,
    ) -> None:
        self.path = path
        self.on_lock_wait = on_lock_wait
        self.damaged: LibraryDamaged | None = None
        self.on_damaged: DamageSeen | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.read_only = not folder_is_writable(path.parent) or (
                path.is_file() and not os.access(path, os.W_OK)
            )
            if self.read_only and not path.is_file():
                raise StorageProblem(
                    f"there is no library in {path.parent} and that folder is read-only: "
                    "make it writable, or choose another folder with --data-dir"
                )
            if check and not self.read_only:
                found = backups.damage(path)
                if found is not None:
                    raise LibraryDamaged(path, found)
            self.engine = make_engine(path, read_only=self.read_only)
            event.listen(self.engine, "handle_error", self._error_seen)
            if migrate and self.read_only:
                if current_revision(self.engine) != head_revision():
                    raise StorageProblem(
                        f"the library in {path.parent} needs an upgrade but its folder is "
                        "read-only: make it writable, then open it again"
                    )
            elif migrate:
                upgrade(self.engine, path)
                _daily_backup(path)
        except (OSError, DBAPIError, sqlite3.Error) as exc:
            problem = explain(exc, path)
            if problem is None:
                raise
            raise problem from exc
        self._writer = self.engine.execution_options(**{WRITE_OPTION: True})
        self._sessions = sessionmaker(self._writer, expire_on_commit=False)

    def backup_if_due(self) -> None:
        """The day's backup, for an app left open for days (slow: a background job)."""
        if not self.read_only and self.damaged is None:
            _daily_backup(self.path)

    def _error_seen(self, context: Any) -> None:
        """SQLAlchemy's handle_error hook: every statement's error passes here."""
        problem = explain(context.original_exception, self.path)
        if isinstance(problem, LibraryDamaged):
            self.found_damaged(problem)

    def found_damaged(self, problem: LibraryDamaged) -> None:
        """Damage seen by anyone using this library (a statement here, a raw cursor, the
        caption worker's own connection): nothing more is written, and it is told once."""
        if self.damaged is not None:
            return
        self.damaged = problem
        log.error("the library was found damaged while in use: %s", problem.detail)
        if self.on_damaged is not None:
            self.on_damaged(problem)

    def _refuse_if_damaged(self) -> None:
        if self.damaged is not None:
            raise LibraryDamaged(self.path, self.damaged.detail)

    def _lock_not_free(self, exc: DBAPIError, since: float) -> None:
        """The write lock stayed taken for the whole busy timeout: wait on if the
        owner says so, else give up with a sentence (never blaming a file)."""
        problem = explain(exc, self.path)
        if problem is None:
            raise exc
        if not isinstance(problem, LibraryBusy):
            raise problem from exc
        if self.on_lock_wait is None or not self.on_lock_wait(time.monotonic() - since):
            raise problem from exc

    @contextmanager
    def _explained(self) -> Iterator[None]:
        """A full disk, a read-only file… while writing: the user's sentence. Raw
        sqlite3 errors too: a hot path reading through the DBAPI cursor (the scanner)
        bypasses SQLAlchemy's error hook, and damage it meets must still stop writes."""
        try:
            yield
        except (DBAPIError, sqlite3.Error) as exc:
            problem = explain(exc, self.path)
            if problem is None:
                raise
            if isinstance(problem, LibraryDamaged):
                self.found_damaged(problem)
            raise problem from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM unit of work that may write: committed on success, else rolled back."""
        self._refuse_if_damaged()
        since = time.monotonic()
        while True:
            session = self._sessions()
            try:
                session.connection()  # BEGIN IMMEDIATE: the write lock, up front
                break
            except DBAPIError as exc:
                session.close()
                self._lock_not_free(exc, since)
        try:
            with self._explained():
                yield session
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """An ORM session for reading only: never takes the write lock, so screens that
        poll (the adapters list) cannot starve the caption worker's writes."""
        with self.read() as conn, Session(bind=conn) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A Core connection holding the write lock, for bulk statements on hot paths."""
        self._refuse_if_damaged()
        since = time.monotonic()
        while True:
            with ExitStack() as stack:
                try:
                    conn = stack.enter_context(self._writer.begin())
                except DBAPIError as exc:
                    self._lock_not_free(exc, since)
                    continue
                with self._explained():
                    yield conn
                return

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A Core connection for reading; never blocks on a writer."""
        with self._explained(), self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()


def now() -> float:
    return time.time()
