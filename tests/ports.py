"""Ports for the servers the tests start (hubs, proxies, mail and identity servers).

jupyterhub.utils.random_port asks the kernel for a free port, which comes from the
ephemeral range (net.ipv4.ip_local_port_range, 32768–60999): between that answer and the
server's bind, any outgoing connection on the machine (and the suite makes thousands) may
be given the same port, and the bind fails with "Address already in use" (it did, once, in
CI). Ports below that range are never handed out to outgoing connections or to
random_port, so a port found free there stays free for the server that asks for it.
"""

import itertools
import os

from smchub.spawners.ports import bindable

# below the ephemeral range, and above c.SwarmBackend.port_range's default (20000–29999),
# where swarm machines publish project servers
FIRST, LAST = 30000, 32700

# each process walks the range from its own place, so that a hub process and the tests
# that started it do not try the same ports in the same order
_next = itertools.count(FIRST + (os.getpid() * 97) % (LAST - FIRST))


def unused_port():
    """A loopback TCP port nobody listens on and this process has not handed out yet."""
    for _ in range(LAST - FIRST):
        port = FIRST + (next(_next) - FIRST) % (LAST - FIRST)
        # the tests' servers listen on IPv4 loopback
        if bindable("127.0.0.1", port):
            return port
    raise RuntimeError(f"no free port between {FIRST} and {LAST}")
