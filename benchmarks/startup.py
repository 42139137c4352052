"""(a) Cold start of one server, one after another; (b) many started at once.

"Ready" is the moment the server answers GET /user/<name>/api/status through the proxy
with 200, timed from the start request. Between the request and that check, the client
follows JupyterHub's progress event stream (server-sent events) instead of polling, so
the measurement itself adds no load while servers start.
"""

import asyncio
import statistics
import time

from .memory import idle_pss


async def cold_starts(hub, client, runs):
    """Start `runs` new servers one at a time, stopping each before the next."""
    # one start first, untimed: it reads the files both hubs need from disk into the
    # page cache, and lets smchub's fork server finish importing after the hub started
    warmup_name = await hub.create_server(client)
    first = await hub.start_until_ready(client, warmup_name)
    await hub.stop_servers(client, [warmup_name])
    seconds, errors = [], []
    for _ in range(runs):
        name = await hub.create_server(client)
        ok, elapsed, error = await hub.start_until_ready(client, name)
        if ok:
            seconds.append(elapsed)
        else:
            errors.append(error)
        await hub.stop_servers(client, [name])
    return {
        "runs": runs,
        "seconds": [round(s, 3) for s in seconds],
        "median_seconds": round(statistics.median(seconds), 3) if seconds else None,
        "failures": len(errors),
        "errors": errors[:5],
        "first_after_hub_start_seconds": round(first[1], 3) if first[0] else None,
    }


async def starts_at_once(hub, client, count, measure_memory=False):
    """Start `count` new servers at the same moment; wall time until all are ready."""
    names = [await hub.create_server(client) for _ in range(count)]
    tic = time.perf_counter()
    results = await asyncio.gather(*(hub.start_until_ready(client, name) for name in names))
    wall = time.perf_counter() - tic
    ready = [name for name, (ok, _, _) in zip(names, results, strict=True) if ok]
    errors = [error for ok, _, error in results if not ok]
    outcome = {
        "servers": count,
        "wall_seconds": round(wall, 3),
        "slowest_ready_seconds": round(max((s for ok, s, _ in results if ok), default=0), 3),
        "failures": len(errors),
        "errors": sorted(set(errors))[:5],
    }
    if measure_memory and ready:
        outcome["memory"] = await idle_pss(hub, client, ready)
    await hub.stop_servers(client, names)
    return outcome
