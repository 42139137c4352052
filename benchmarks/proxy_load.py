"""(e, continued) The proxy under load: 200 clients at once, and 5,000 idle websockets.

Measured on smchub's two hubs, behind configurable-http-proxy and behind HAProxy (stock
JupyterHub runs the same configurable-http-proxy as the first), on one running server
with the 1 KiB file of the overhead rows:

- **Throughput**: 200 clients on keep-alive connections, each sending its next contents
  GET as soon as the last is answered, 2 s through the proxy, then 2 s straight to the
  server's port, three times (6 s each way). One project server (one Python process)
  is the limit either way: the straight figure shows how near it the proxy gets. The
  CPU time of the proxy's processes per 1,000 requests through it is what the proxy
  itself costs, whatever limits the rate.
- **Idle websockets**: 5,000 websockets opened through the proxy (100 handshakes in
  flight) and left open with nothing on them. The proxy's memory (RSS and PSS of its
  processes, `/proc/<pid>/smaps`) is read before they are opened and 2 s after the last
  one is; the p95 of a contents GET through the proxy (50 requests per second offered
  for 6 s on an open loop, as the API rows) before and while they are open, with the
  bench's own garbage collector kept out of the windows. Then a message is echoed on
  every one of them, so that a socket the proxy dropped counts as a failure, and all
  are closed.

Where the websockets go: a tornado echo server (`benchmarks/echo.py`) the bench starts
on loopback as a process of its own, routed by the hub itself: both smchub hubs have
`c.Proxy.extra_routes = {"bench-echo.hub.localhost/": <echo server>}` in their config,
so each proxy holds it as a route JupyterHub manages, added through the proxy's own
API. Not a project server's websockets: those are kernels' (each a set of ZeroMQ
sockets to a kernel) or terminals' (each a shell on a pty), and 5,000 of them would
measure the project server and fill the 2-core machine, not the proxy, whose work per
websocket is the same whatever is behind it. The client end is raw asyncio streams
(an HTTP/1.1 upgrade by hand, masked frames for the echo), a few KiB per socket.

Each websocket takes a file descriptor in the bench and in the echo server, and two in
the proxy: `raise_open_files_limit` is called before the hubs start, so that they and
their proxies inherit the higher limit.
"""

import asyncio
import base64
import gc
import os
import resource
import subprocess
import sys
import time
from collections import Counter

import psutil

from .loadgen import closed_loop, open_loop

MIB = 2**20
WEBSOCKETS = 5000
CLIENTS = 200
THROUGHPUT_ROUNDS = 3
HERE = os.path.dirname(os.path.abspath(__file__))


def raise_open_files_limit(wanted=65536):
    """Raise this process's RLIMIT_NOFILE (inherited by the hubs and their proxies)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    try:
        # root may raise the hard limit too (with CAP_SYS_RESOURCE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def proxy_under_load(hub, name, target_port):
    """Throughput with 200 clients and 5,000 idle websockets, on `name`'s running server."""
    path = f"/user/{name}/api/contents/bench.txt"
    headers = f"Authorization: token {hub.admin_token}\r\n".encode()
    through_host = hub.server_host(name)

    def request(_index):
        return path, headers

    results = {"limits": await _proxy_limits(hub)}
    ways = {"through": (hub.port, through_host),
            "straight": (target_port, f"127.0.0.1:{target_port}")}  # fmt: skip
    totals = {way: Counter() for way in ways}
    # each way in turn, 2 s at a time: the machine's other work then weighs on both alike
    for _round in range(THROUGHPUT_ROUNDS):
        for way, (port, host) in ways.items():
            cpu, tic = _cpu_seconds(hub.proxy_processes()), time.process_time()
            run = await closed_loop("127.0.0.1", port, request, CLIENTS, 2, host_header=host)
            totals[way].update({
                "seconds": run["seconds"], "requests": run["requests"], "errors": run["errors"],
                "generator_cpu": time.process_time() - tic,
                "proxy_cpu": _cpu_seconds(hub.proxy_processes()) - cpu,
            })  # fmt: skip
    results["throughput"] = {way: _rate(total) for way, total in totals.items()}
    # the proxy carried none of the straight requests
    del results["throughput"]["straight"]["proxy_cpu_ms_per_1000"]

    async def latency():
        # a full collection in the bench would walk the 5,000 sockets' objects, and a
        # late sender is charged to the proxy: collect before the window, and leave what
        # exists now out of collections in it (bench_full_collections counts any)
        gc.collect()
        gc.freeze()
        # the 2 cores are shared: how busy the machine and the proxy were in the window
        # tells a slow proxy from a machine others kept busy
        machine, proxy = psutil.cpu_times(), _cpu_seconds(hub.proxy_processes())
        load, tic = os.getloadavg()[0], time.perf_counter()
        full_collections = gc.get_stats()[2]["collections"]
        try:
            window = await open_loop("127.0.0.1", hub.port, request, rate=50, seconds=6,
                                     host_header=through_host)  # fmt: skip
        finally:
            gc.unfreeze()
        elapsed = time.perf_counter() - tic
        window["bench_full_collections"] = gc.get_stats()[2]["collections"] - full_collections
        window["machine_busy_percent"] = _busy_percent(machine, psutil.cpu_times())
        window["proxy_cpu_percent"] = round(
            100 * (_cpu_seconds(hub.proxy_processes()) - proxy) / elapsed, 1
        )
        window["load_average_1min"] = round(load, 2)
        return window

    echo = await _start_echo_server(hub)
    try:
        await asyncio.sleep(1)
        results["memory_before"] = _memory(hub.proxy_processes())
        results["latency_before"] = await latency()
        tic = time.perf_counter()
        sockets, errors = await _open_websockets(hub.port, hub.echo_host, WEBSOCKETS)
        results["websockets"] = {
            "wanted": WEBSOCKETS,
            "opened": len(sockets),
            "open_seconds": round(time.perf_counter() - tic, 2),
            "errors": dict(errors.most_common(5)),
        }
        try:
            await asyncio.sleep(2)
            results["memory_with"] = _memory(hub.proxy_processes())
            results["latency_with"] = await latency()
            results["websockets"]["echoed_after"] = await _echo_all(sockets)
        finally:
            for _reader, writer in sockets:
                writer.close()
    finally:
        await _stop(echo)
    return results


def _rate(total):
    return {
        "clients": CLIENTS,
        "seconds": round(total["seconds"], 2),
        "requests": total["requests"],
        "errors": total["errors"],
        "requests_per_second": round(total["requests"] / total["seconds"], 1),
        "generator_cpu_percent": round(100 * total["generator_cpu"] / total["seconds"]),
        "proxy_cpu_ms_per_1000": round(1e6 * total["proxy_cpu"] / max(total["requests"], 1), 1),
    }


# --- the proxy's processes ---------------------------------------------------------------


def _memory(processes):
    rss = pss = 0
    for process in processes:
        try:
            info = process.memory_full_info()
        except psutil.Error:
            continue
        rss, pss = rss + info.rss, pss + info.pss
    return {"processes": len(processes), "rss_mib": round(rss / MIB, 1),
            "pss_mib": round(pss / MIB, 1)}  # fmt: skip


async def _proxy_limits(hub):
    """The open files each proxy process may have, and HAProxy's maxconn if it is one."""
    limits = {"bench_open_files": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}
    for process in hub.proxy_processes():
        try:
            limits[f"{process.name()}_open_files"] = process.rlimit(resource.RLIMIT_NOFILE)[0]
        except psutil.Error:
            pass
    info = await hub.proxy_info()
    for field in ("Maxconn", "Hard_maxconn", "Ulimit-n", "Maxsock"):
        if field in info:
            limits[f"haproxy_{field.lower()}"] = int(info[field])
    return limits


def _busy_percent(before, after):
    """Share of all cores' time not idle between two psutil.cpu_times()."""
    total = sum(after) - sum(before)
    idle = (after.idle + after.iowait) - (before.idle + before.iowait)
    return round(100 * (total - idle) / total, 1) if total > 0 else None


def _cpu_seconds(processes):
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


# --- the echo server ---------------------------------------------------------------------


async def _start_echo_server(hub, timeout=20):
    with open(os.path.join(hub.root, "echo.log"), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.echo", str(hub.echo_port)],
            cwd=os.path.dirname(HERE),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the echo server exited ({proc.returncode}); see echo.log")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", hub.echo_port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return proc
    await _stop(proc)
    raise RuntimeError(f"the echo server did not listen on {hub.echo_port} in {timeout}s")


async def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)


# --- websockets by hand ------------------------------------------------------------------


class HandshakeRefused(RuntimeError):
    pass


async def _handshake(port, host_header, path):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if status_line.split(" ")[1:2] != ["101"]:
            raise HandshakeRefused(status_line)
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def _open_websockets(port, host_header, count, in_flight=100, timeout=15, give_up=200):
    """Open `count` websockets; ([(reader, writer)], Counter of error messages).

    Past `give_up` failures it stops trying: a proxy at its connection limit leaves
    handshakes waiting in its listen queue, each until `timeout`.
    """
    sockets, errors = [], Counter()
    slots = asyncio.Semaphore(in_flight)

    async def one(index):
        async with slots:
            if sum(errors.values()) >= give_up:
                errors["not tried: too many failures before"] += 1
                return
            try:
                sockets.append(await asyncio.wait_for(
                    _handshake(port, host_header, f"/idle/{index}"), timeout
                ))  # fmt: skip
            except asyncio.TimeoutError:
                errors[f"no answer to the upgrade within {timeout} s"] += 1
            except (OSError, asyncio.IncompleteReadError, HandshakeRefused) as e:
                errors[f"{type(e).__name__}: {e}"] += 1

    await asyncio.gather(*(one(index) for index in range(count)))
    return sockets, errors


async def _echo(reader, writer, payload=b"ping"):
    # a client's frames are masked (RFC 6455 5.3); the server's come back plain
    mask = os.urandom(4)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    header = await reader.readexactly(2)
    return await reader.readexactly(header[1] & 0x7F) == payload


async def _echo_all(sockets, in_flight=200, timeout=15):
    """How many of the open websockets still echo a message."""
    slots = asyncio.Semaphore(in_flight)

    async def one(reader, writer):
        async with slots:
            try:
                return await asyncio.wait_for(_echo(reader, writer), timeout)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                return False

    return sum(await asyncio.gather(*(one(r, w) for r, w in sockets)))
