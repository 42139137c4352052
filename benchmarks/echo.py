"""A websocket echo server on loopback, the far end of the proxy's idle-websocket figure.

`python -m benchmarks.echo PORT`: every path is a websocket that sends back what it
gets. The bench starts it as a process of its own (so that its 5,000 sockets and its
event loop are not the bench's) and routes a host to it through the hub's config
(`c.Proxy.extra_routes`), see `benchmarks.proxy_load`.
"""

import asyncio
import sys

from tornado.web import Application
from tornado.websocket import WebSocketHandler


class Echo(WebSocketHandler):
    def check_origin(self, origin):
        return True  # loopback only, no cookies: nothing to protect

    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


async def serve(port):
    # a backlog above the bench's 100 handshakes in flight, so none waits on a full queue
    Application([(r"/.*", Echo)]).listen(port, address="127.0.0.1", backlog=1024)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
