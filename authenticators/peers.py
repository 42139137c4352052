"""Who is on the other end of a connection from this machine.

A request from loopback is the hub's own proxy, which writes the client's address into
X-Forwarded-For, unless it comes from another account on the machine: projects on a
local node run as their own Unix accounts and can connect to the hub's port directly
(their servers talk to the hub's API that way), and could write any X-Forwarded-For
they like. The kernel's socket tables say which account owns the other end.
"""

import os

TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def _port(endpoint):
    # "0100007F:1F90" (IPv4) or 32 hex digits ":1F90" (IPv6)
    return int(endpoint.rsplit(":", 1)[1], 16)


def loopback_peer_uid(peer_port, server_port):
    """The uid owning the client end (port `peer_port`) of a TCP connection made to this
    machine's `server_port`, or None if it is not found."""
    for table in TABLES:
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    fields = line.split()
                    if len(fields) < 8:
                        continue
                    if _port(fields[1]) == peer_port and _port(fields[2]) == server_port:
                        return int(fields[7])
        except OSError:
            continue
    return None


def is_own_account(peer_port, server_port):
    """Whether the client end of a loopback connection is the hub's own account (its
    proxy), not another account on this machine; unknown counts as not."""
    return loopback_peer_uid(peer_port, server_port) == os.geteuid()
