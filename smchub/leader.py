"""One active hub per database, the others standing by.

JupyterHub keeps state in memory and cannot share its database with a second hub
(jupyterhub#1932). Two smchub hubs configured alike on one PostgreSQL database elect the
active one with a session-level advisory lock, as jupyterhub#5521 proposes: a hub takes
the lock before it touches the database, and holds it for as long as its lock connection
lives. A hub that does not get it is the standby: it binds only the hub's port, answers
``/hub/health`` with 503 (so that a balancer's health check sends nobody there), and takes
the lock as soon as it is free.

The lock must not outlive a hub that can no longer act for it, and a hub must never act
once it may have lost it. Both follow from one lease of `lease` seconds:

- PostgreSQL ends a session idle for `lease` seconds (``idle_session_timeout``), which
  releases its lock. The active hub's keeper thread queries every second, so a frozen
  hub, one cut from the network and one whose database went away all lose the lock
  within `lease` seconds of their last query, and the standby takes it. The server's
  own check of a dead peer (TCP keepalives) is held to the same lease, so that it
  never frees the lock sooner.
- The active hub notes when its last successful query was *sent*. The server saw it no
  earlier, so it cannot end the session before `lease` seconds after that moment. The hub
  stops acting FENCE_MARGIN seconds sooner: it exits (os._exit: JupyterHub's clean-up
  would stop servers the next hub now owns) from its watchdog thread, before any of its
  own database statements (a SQLAlchemy hook), and when it is continued after SIGSTOP.

SQLite databases are one machine's: no election there.
"""

import json
import logging
import os
import signal
import threading
import time

from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

# pg_advisory_lock(classid, objid): "SMC", 1 = the active hub
LOCK_KEY = (0x534D43, 1)
# how often the standby tries the lock and the active hub proves it is alive
TRY_EVERY = 0.5
KEEP_EVERY = 1.0
# the active hub stops acting this long before the server can end its session
FENCE_MARGIN = 3.0

log = logging.getLogger("smchub.leader")


def elects(db_url):
    """Whether hubs on `db_url` elect an active one (PostgreSQL) or not (SQLite)."""
    return db_url.startswith("postgres")


def _connect_args(lease):
    """libpq settings of the lock connection: the server ends it when idle for the
    lease, and both ends notice a dead peer, the hub well within the time it has to act,
    the server no sooner than the lease."""
    # the fence does not wait for these: they only make a lost connection an error
    # soon on the hub's end, rather than a query that hangs
    dead_peer_ms = int((lease - FENCE_MARGIN) * 1000 / 2)
    # The server's end must not give the lock up sooner than `lease` after the hub's last
    # packet, which the hub's fence counts on: its keepalives find a dead peer, and with
    # TCP_USER_TIMEOUT set Linux ends the connection only once nothing came from the
    # peer for that long (and unacknowledged data waited that long). Faster keepalives
    # alone freed the lock about 2 s after a link went dead, while the hub cut off from
    # its database still had a second to act on its containers.
    server_dead_peer_ms = int(lease * 1000)
    return {
        "connect_timeout": 3,
        "keepalives": 1,
        "keepalives_idle": 1,
        "keepalives_interval": 1,
        "keepalives_count": 2,
        "tcp_user_timeout": dead_peer_ms,
        "options": " ".join(
            [
                f"-c idle_session_timeout={int(lease * 1000)}",
                f"-c statement_timeout={dead_peer_ms}",
                "-c tcp_keepalives_idle=1",
                "-c tcp_keepalives_interval=1",
                f"-c tcp_keepalives_count={max(2, int(lease))}",
                f"-c tcp_user_timeout={server_dead_peer_ms}",
            ]
        ),
    }


class LostLeadership(RuntimeError):
    pass


class Leadership:
    """The advisory lock of the active hub, taken by wait() and kept by keep()."""

    def __init__(self, db_url, lease):
        if lease <= FENCE_MARGIN + KEEP_EVERY:
            raise ValueError(f"the lease must be longer than {FENCE_MARGIN + KEEP_EVERY} s")
        self.lease = lease
        self.engine = create_engine(
            db_url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
            connect_args=_connect_args(lease),
        )  # fmt: skip
        self.connection = None
        # time.monotonic() when the last successful keeper query was sent
        self.alive_at = None
        self._halt = threading.Event()
        self._threads = []

    # --- standing by --------------------------------------------------------------

    def _try(self):
        """Try the lock once on a connection of our own; True when taken."""
        if self.connection is None:
            self.connection = self.engine.connect()
        sent = time.monotonic()
        got = self.connection.execute(
            text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": LOCK_KEY[0], "b": LOCK_KEY[1]}
        ).scalar()
        if got:
            self.alive_at = sent
        return bool(got)

    def wait(self, on_standby=None):
        """Block until this hub holds the lock. The first time it is found taken,
        on_standby() is called (the hub starts its standby health answer)."""
        standing_by = False
        while True:
            try:
                if self._try():
                    return
            except Exception as e:
                # the database is away, or it ended our idle connection: try again
                log.warning("Waiting for the database to elect the active hub: %s", e)
                self._drop_connection()
            if not standing_by:
                standing_by = True
                log.info("Another hub is active on this database: this hub stands by")
                if on_standby is not None:
                    on_standby()
            time.sleep(TRY_EVERY)

    def _drop_connection(self):
        if self.connection is not None:
            try:
                self.connection.invalidate()
                self.connection.close()
            except Exception:
                pass
            self.connection = None

    # --- being active -------------------------------------------------------------

    def keep(self):
        """Keep the lock alive from threads of its own, and exit as soon as it may have
        been lost (also when the hub is continued after being stopped)."""
        signal.signal(signal.SIGCONT, lambda *_: self.check())
        for name, target in (("keeper", self._keep), ("watchdog", self._watch)):
            thread = threading.Thread(target=target, name=f"smchub-leader-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def fence(self, engine):
        """No statement on `engine` (the hub's database) once the lock may be lost."""
        event.listen(engine, "before_cursor_execute", self._before_statement)

    def stale(self):
        """Whether the server may have ended our session (or soon may)."""
        return time.monotonic() - self.alive_at > self.lease - FENCE_MARGIN

    def check(self):
        if not self._halt.is_set() and self.stale():
            self._give_up(
                f"no answer from the lock's session for over {self.lease - FENCE_MARGIN:g} s"
            )

    def _before_statement(self, *_):
        self.check()

    def _keep(self):
        query = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid = pg_backend_pid() AND classid = :a AND objid = :b"
        )
        while not self._halt.wait(KEEP_EVERY):
            sent = time.monotonic()
            try:
                held = self.connection.execute(query, {"a": LOCK_KEY[0], "b": LOCK_KEY[1]}).scalar()
            except Exception as e:
                if self._halt.is_set():
                    return
                if isinstance(e, DBAPIError) and not e.connection_invalidated:
                    # a slow or cancelled query on a live session: the lock is still
                    # held; the watchdog acts if the session stays silent too long
                    log.warning("The active hub's lock session did not answer: %s", e)
                    continue
                self._give_up(f"the lock's session failed: {e}")
            if not held:
                self._give_up("the lock's session no longer holds it")
            self.alive_at = sent

    def _watch(self):
        while not self._halt.wait(0.2):
            self.check()

    def _give_up(self, why):
        log.critical("This hub may have lost the active hub's lock (%s): it exits now, "
                     "without stopping anything, for the standby to take over", why)  # fmt: skip
        for handler in logging.getLogger().handlers + log.handlers:
            try:
                handler.flush()
            except Exception:
                pass
        os._exit(3)

    def release(self):
        """The hub stops: let the standby take over at once."""
        self._halt.set()
        if self.connection is not None:
            try:
                self.connection.execute(
                    text("SELECT pg_advisory_unlock(:a, :b)"), {"a": LOCK_KEY[0], "b": LOCK_KEY[1]}
                )
            except Exception:
                pass
            self._drop_connection()
        self.engine.dispose()


def standby_answer(address, port, base_url):
    """Serve 503 at the hub's address from a thread until stopped: the standby's whole
    surface. Returns a function that stops it and frees the port."""
    import asyncio

    from tornado import web
    from tornado.httpserver import HTTPServer

    class Standby(web.RequestHandler):
        def get(self, *_):
            self.set_status(503)
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", "no-store")
            message = "This hub is the standby; another is active."
            self.finish(json.dumps({"status": "standby", "message": message}))

        head = get

    ready = threading.Event()
    state = {}

    def serve():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = web.Application([(r"/.*", Standby)])
        server = HTTPServer(app)
        try:
            server.listen(port, address)
        except OSError as e:
            state["error"] = e
            ready.set()
            return
        state.update(loop=loop, server=server)
        ready.set()
        loop.run_forever()
        server.stop()
        loop.run_until_complete(server.close_all_connections())
        loop.close()

    thread = threading.Thread(target=serve, name="smchub-standby", daemon=True)
    thread.start()
    ready.wait()
    if "error" in state:
        log.warning("The standby cannot answer at %s:%s: %s", address, port, state["error"])
        return lambda: None
    log.info("Standby: answering 503 at http://%s:%s%shub/health", address, port, base_url)

    def stop():
        state["loop"].call_soon_threadsafe(state["loop"].stop)
        thread.join(10)

    return stop
