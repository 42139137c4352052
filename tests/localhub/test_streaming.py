"""Large transfers stream: the server's memory does not grow with what it sends or receives.

The server under test runs in this process, so this process's resident size is the
server's. The client side streams too (streaming_callback, body_producer), so that it does
not hold the transfers in memory either.
"""

import asyncio
import gc
import hashlib
import json
import os

import psutil
import pytest
from tornado.simple_httpclient import HTTPStreamClosedError

pytestmark = pytest.mark.asyncio(loop_scope="function")

MIB = 1024 * 1024
FILES = 50
# far less than the 140 MiB moved; a server that buffered any one transfer would pass it
MAX_GROWTH = 40 * MIB


class PeakMemory:
    """The largest resident size seen at any sample."""

    def __init__(self):
        self.process = psutil.Process()
        gc.collect()
        self.start = self.peak = self.process.memory_info().rss

    def sample(self):
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self):
        return self.peak - self.start


def digest(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


async def test_large_transfers_stream(api, home, tmp_path):
    (home / "big").mkdir()
    for i in range(FILES):
        (home / "big" / f"{i:02}.bin").write_bytes(os.urandom(MIB))
    (home / "single.bin").write_bytes(os.urandom(40 * MIB))
    memory = PeakMemory()

    # GET the folder as a tar stream, straight to disk
    download = tmp_path / "big.tar"
    with open(download, "wb") as out:

        def receive(chunk):
            out.write(chunk)
            memory.sample()

        r = await api("smc", "api", "archive", params={"path": "big"}, streaming_callback=receive)
    assert r.code == 200
    assert r.headers["X-SMC-Files"] == str(FILES)
    assert r.headers["X-SMC-Bytes"] == str(FILES * MIB)
    assert download.stat().st_size > FILES * MIB

    # PUT it back into another folder, read from disk as it is sent
    async def send(write):
        with open(download, "rb") as f:
            while chunk := f.read(256 * 1024):
                await write(chunk)
                memory.sample()

    r = await api(
        "smc",
        "api",
        "archive",
        params={"path": "copy"},
        method="PUT",
        headers={"Content-Length": str(download.stat().st_size)},
        body_producer=send,
    )
    assert r.code == 200, r.body
    assert json.loads(r.body) == {"path": "copy", "files": FILES, "bytes": FILES * MIB}
    memory.sample()

    # and a single large file through smc/raw
    received = hashlib.sha256()

    def receive_raw(chunk):
        received.update(chunk)
        memory.sample()

    r = await api("smc", "raw", "single.bin", streaming_callback=receive_raw)
    assert r.code == 200
    assert received.hexdigest() == digest(home / "single.bin")

    assert memory.growth < MAX_GROWTH, f"grew by {memory.growth / MIB:.1f} MiB"
    for i in range(FILES):
        name = f"{i:02}.bin"
        assert digest(home / "copy" / "big" / name) == digest(home / "big" / name)


def open_pipes():
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:")
        except OSError:
            pass
    return count


async def test_client_leaving_stops_the_packer(api, home):
    (home / "big").mkdir()
    for i in range(20):
        (home / "big" / f"{i}.bin").write_bytes(os.urandom(MIB))
    before = open_pipes()

    def receive(chunk):
        raise RuntimeError("the client gives up after one chunk")

    # tornado's client reports this as the connection closing under it
    with pytest.raises(HTTPStreamClosedError):
        await api("smc", "api", "archive", params={"path": "big"}, streaming_callback=receive)
    # the packing thread, blocked on a full pipe, ends and lets go of it
    for _ in range(100):
        if open_pipes() <= before:
            break
        await asyncio.sleep(0.02)
    assert open_pipes() <= before
    # and the server carries on
    assert (await api("smc", "api", "info")).code == 200
