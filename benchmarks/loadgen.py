"""A small HTTP/1.1 load generator on asyncio: keep-alive connections, no HTTP library.

Two ways to load a server:

- closed loop (throughput): N clients, each sending its next request as soon as the last
  one is answered;
- open loop (latency): requests sent on a fixed schedule whatever the answers do, and each
  latency counted from the moment the request was due, so a server that stalls is charged
  for the requests that queued behind the stall (no coordinated omission, as wrk2).

It is light enough to leave the hub most of a 2-core machine: its own CPU time is
measured and reported next to the hub's, so a reader can check it kept up.
"""

import asyncio
import time


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host, port, host_header=None):
        self.host = host
        self.port = port
        # a server on its own origin is reached by name (<id>.localhost) at this address
        self.host_header = host_header or host
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def get(self, path, headers=b""):
        """GET `path`; returns the status code (the body is read and dropped)."""
        if self.writer is None:
            await self.open()
        self.writer.write(
            b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + self.host_header.encode() + b"\r\n"
            + headers + b"\r\n"
        )  # fmt: skip
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status


async def sweep(host, port, requests, clients):
    """Send each (path, headers) of `requests` once, over `clients` connections."""
    pending = list(reversed(requests))
    statuses = []

    async def client():
        connection = await Connection(host, port).open()
        try:
            while pending:
                path, headers = pending.pop()
                statuses.append(await connection.get(path, headers))
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return statuses


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def closed_loop(host, port, next_request, clients, seconds, host_header=None):
    """Throughput with `clients` concurrent clients for `seconds`.

    next_request(client_index) -> (path, header bytes).
    """
    connections = [await Connection(host, port, host_header).open() for _ in range(clients)]
    done = errors = 0
    stop_at = time.perf_counter() + seconds

    async def client(index):
        nonlocal done, errors
        connection = connections[index]
        while time.perf_counter() < stop_at:
            path, headers = next_request(index)
            try:
                status = await connection.get(path, headers)
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                connection.close()
                continue
            if status == 200:
                done += 1
            else:
                errors += 1

    tic = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - tic
    for connection in connections:
        connection.close()
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": done,
        "errors": errors,
        "requests_per_second": round(done / elapsed, 1),
    }


async def open_loop(host, port, next_request, rate, seconds, pool_size=20, host_header=None):
    """Latency percentiles with `rate` requests per second offered for `seconds`."""
    idle = asyncio.Queue()
    for _ in range(pool_size):
        idle.put_nowait(await Connection(host, port, host_header).open())
    latencies, errors = [], 0
    # how late this generator sent each request: on a busy machine it is starved too, and
    # what it loses is charged to the server (latency counts from when a request was due)
    send_lateness = []
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05

    async def one(index, due):
        nonlocal errors
        connection = idle.get_nowait() if not idle.empty() else Connection(host, port, host_header)
        path, headers = next_request(index)
        send_lateness.append(time.perf_counter() - due)
        try:
            status = await connection.get(path, headers)
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            connection.close()
            return
        latencies.append(time.perf_counter() - due)
        if status != 200:
            errors += 1
        idle.put_nowait(connection)

    tasks = []
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(index, due)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait().close()
    ms = [1000 * value for value in latencies]
    return {
        "offered_per_second": rate,
        "requests": total,
        "errors": errors,
        "p50_ms": round(percentile(ms, 0.50), 2) if ms else None,
        "p95_ms": round(percentile(ms, 0.95), 2) if ms else None,
        "p99_ms": round(percentile(ms, 0.99), 2) if ms else None,
        "max_ms": round(max(ms), 2) if ms else None,
        "sent_late_p99_ms": round(1000 * percentile(send_lateness, 0.99), 2),
        "sent_late_max_ms": round(1000 * max(send_lateness), 2),
    }
