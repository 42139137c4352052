"""Watching the hub's event loop: how long it was held, and by what.

JupyterHub's `event_loop_interval_seconds` histogram says that the loop was late, in 50 ms
steps; it cannot say what held it. The watcher here is a thread that asks the loop to run
a trivial callback every `interval` and times the answer: the wait is exactly how long
the loop was busy with other work. When a wait passes `stall_threshold`, the thread takes
the loop thread's Python stack there and then (while the culprit is still running) and
logs it with what the loop thread did meanwhile, from the kernel's scheduler statistics
and gc.callbacks: ran Python (its own work, or garbage collection, which no stack shows
as it runs inside whatever allocation triggered it), waited for a CPU (other processes
had the cores), or neither (blocked in a system call: disk I/O such as SQLite's fsync,
a lock, a synchronous network call).

Cost: one cross-thread callback per interval (10 a second by default: 3 to 5 ms of CPU a
second, thread switches included) and a timestamp at each garbage collection, so it is on
by default; a stall_threshold of 0 turns it off.

The longest stall since start and a histogram of all of them are Prometheus metrics, at
JupyterHub's /hub/metrics (admins): `smchub_event_loop_longest_stall_seconds`,
`smchub_event_loop_stall_seconds`.
"""

import gc
import os
import sys
import threading
import time
import traceback

from prometheus_client import Gauge, Histogram
from traitlets import Float
from traitlets.config import LoggingConfigurable

LONGEST_STALL_SECONDS = Gauge(
    "smchub_event_loop_longest_stall_seconds",
    "Longest time the hub's event loop took to run a callback, since the hub started",
)
STALL_SECONDS = Histogram(
    "smchub_event_loop_stall_seconds",
    "Time the hub's event loop took to run a callback, measured every interval",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf")),
)


class GCTimer:
    """Total seconds spent in garbage collection, kept up to date by gc.callbacks.

    `on_own_collection(seconds)` is called for collections that `thread` (the watcher)
    started with its own allocations: they hold the loop like any other, but the watcher
    cannot time them with a ping while it is the one collecting.
    """

    def __init__(self, thread, on_own_collection):
        self.seconds = 0.0
        self._started = 0.0
        self._thread = thread
        self._on_own_collection = on_own_collection

    def __call__(self, phase, info):
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        self.seconds += took
        if threading.get_ident() == self._thread.ident:
            self._on_own_collection(took)

    def install(self):
        gc.callbacks.append(self)

    def remove(self):
        if self in gc.callbacks:
            gc.callbacks.remove(self)


class SchedulerStats:
    """(seconds on a CPU, seconds waiting for one) of one thread of this process, from
    the kernel's scheduler statistics; None where the kernel keeps none."""

    def __init__(self, native_thread_id):
        try:
            self._fd = os.open(f"/proc/self/task/{native_thread_id}/schedstat", os.O_RDONLY)
        except OSError:
            self._fd = None

    def read(self):
        if self._fd is None:
            return None
        # the kernel writes the figures afresh at each read from the start
        ran, waited, _ = os.pread(self._fd, 128, 0).split()
        return int(ran) / 1e9, int(waited) / 1e9

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class LoopWatch(LoggingConfigurable):
    """Times the event loop from a thread; logs what held it past a threshold."""

    interval = Float(
        0.1,
        help="""Seconds between two measurements of the event loop's responsiveness.""",
    ).tag(config=True)

    stall_threshold = Float(
        0.25,
        help="""Log a warning, with the Python stack that held the loop, whenever the hub's
        event loop is held this many seconds or more (0: do not watch the loop).

        Every request, timer and health check of the hub waits while the loop is held, so
        a stall here shows up as latency everywhere. The longest stall is also exported as
        the smchub_event_loop_longest_stall_seconds metric.
        """,
    ).tag(config=True)

    longest = 0.0
    _thread = None

    def start(self, loop):
        """Watch `loop`, which runs in the calling thread."""
        if self.stall_threshold <= 0:
            return
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._schedstat = SchedulerStats(threading.get_native_id())
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="smchub-loopwatch", daemon=True)
        self._gc = GCTimer(self._thread, self._own_collection)
        self._gc.install()
        self._thread.start()

    def stop(self):
        if self._thread is None:
            return
        self._stopping.set()
        self._gc.remove()
        self._thread.join(timeout=5)
        self._schedstat.close()

    def _watch(self):
        while not self._stopping.wait(self.interval):
            answered = threading.Event()
            gc_before = self._gc.seconds
            sched_before = self._schedstat.read()
            asked = time.perf_counter()
            try:
                self._loop.call_soon_threadsafe(answered.set)
            except RuntimeError:  # the loop is closed: the hub is gone
                return
            stack = None
            if not answered.wait(self.stall_threshold):
                # still held: this is the code holding it (unless it is the collector)
                frame = sys._current_frames().get(self._loop_thread)
                stack = "".join(traceback.format_stack(frame)) if frame else ""
                while not answered.wait(self.interval):
                    if self._stopping.is_set():
                        return
            stall = time.perf_counter() - asked
            self.record(stall)
            if stack is not None:
                self.log_stall(stall, self._gc.seconds - gc_before, sched_before, stack)

    def _own_collection(self, seconds):
        self.record(seconds)
        if seconds >= self.stall_threshold:
            self.log.warning(
                "The event loop was held for %.0f ms by a garbage collection", 1e3 * seconds
            )

    def record(self, stall):
        STALL_SECONDS.observe(stall)
        if stall > self.longest:
            self.longest = stall
            LONGEST_STALL_SECONDS.set(stall)

    def log_stall(self, stall, gc_seconds, sched_before, stack):
        sched_after = self._schedstat.read()
        if sched_before is None or sched_after is None:
            where = f"garbage collection: {1e3 * gc_seconds:.0f} ms"
        else:
            ran = sched_after[0] - sched_before[0]
            waited = sched_after[1] - sched_before[1]
            # a collection already under way when the watcher asked counts only in part
            collecting = min(gc_seconds, ran)
            where = (
                f"{1e3 * ran:.0f} ms running (garbage collection: {1e3 * collecting:.0f} ms), "
                f"{1e3 * waited:.0f} ms waiting for a CPU, "
                f"{1e3 * max(0.0, stall - ran - waited):.0f} ms blocked"
            )
        self.log.warning(
            "The event loop was held for %.0f ms (%s); %.0f ms in, it was at:\n%s",
            1e3 * stall,
            where,
            1e3 * self.stall_threshold,
            stack,
        )
