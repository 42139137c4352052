"""The event-loop watcher: it times what holds the loop and names the code doing it."""

import asyncio
import logging
import time

from smchub.loopwatch import LoopWatch


def hold_the_loop(seconds):
    time.sleep(seconds)


async def watched(watch, work):
    watch.start(asyncio.get_running_loop())
    try:
        await asyncio.sleep(0.2)
        work()
        await asyncio.sleep(0.2)
    finally:
        watch.stop()


def test_a_stall_is_timed_and_its_code_logged(caplog):
    watch = LoopWatch(interval=0.02, stall_threshold=0.1, log=logging.getLogger("loopwatch-test"))
    with caplog.at_level(logging.WARNING, logger="loopwatch-test"):
        asyncio.run(watched(watch, lambda: hold_the_loop(0.4)))
    assert 0.35 <= watch.longest < 1.5
    [record] = [r for r in caplog.records if "event loop was held" in r.getMessage()]
    message = record.getMessage()
    # the stack taken mid-stall names the function holding the loop
    assert "hold_the_loop" in message
    # a thread asleep in a system call is blocked, not running
    blocked_ms = int(message.split(" ms blocked")[0].rsplit(" ", 1)[1])
    assert blocked_ms >= 250


def test_off_when_the_threshold_is_zero():
    watch = LoopWatch(stall_threshold=0)
    asyncio.run(watched(watch, lambda: hold_the_loop(0.2)))
    assert watch.longest == 0
