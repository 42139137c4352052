"""A relay from a projects' network to the proxy's public port, inside the hub.

Project containers have their own network namespace: the host's loopback, where the
hub's own port, the proxy's API and (on an embedded hub) the proxy's public port listen,
is out of their reach. Their servers still need the hub's API (OAuth, activity). The
relay listens at the network's gateway address (the host's side of the bridge) and
passes bytes to the proxy's public port and nowhere else: a container reaches the hub
exactly as anyone out there does, through the proxy.
"""

import asyncio
import contextlib

CHUNK = 64 * 1024


class HubRelay:
    """Listens at (host, port); every connection is piped to (target_host, target_port)."""

    def __init__(self, host, port, target_host, target_port, log):
        self.host, self.port = host, port
        self.target = (target_host, target_port)
        self.log = log
        self._server = None

    @property
    def running(self):
        return self._server is not None and self._server.is_serving()

    async def start(self):
        if self.running:
            return
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.log.info("Relaying %s:%s to the proxy at %s:%s", self.host, self.port, *self.target)

    async def close(self):
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader, writer):
        try:
            target_reader, target_writer = await asyncio.open_connection(*self.target)
        except OSError as e:
            self.log.warning("The relay cannot reach the proxy at %s:%s: %s", *self.target, e)
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, target_writer), _pipe(target_reader, writer), return_exceptions=True
        )


async def _pipe(reader, writer):
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError):
            writer.close()
