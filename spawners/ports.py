"""Ports that project servers listen on, chosen by the hub from a range an admin sets.

Out of the machine's ephemeral range (net.ipv4.ip_local_port_range, 32768 and up by
default): the kernel hands those to outgoing connections, which can take a port between
the hub's choice and the server's bind.
"""

import collections
import errno
import random
import socket
import struct

TCP_LISTEN = "0A"  # the state column of /proc/net/tcp for a listening socket


class NoFreePort(RuntimeError):
    """Every port of the range is taken."""


def check_port_range(value, setting):
    low, high = value
    if not 1024 <= low <= high <= 65535:
        raise ValueError(
            f"{setting} {value!r}: give (first, last) with 1024 <= first <= last <= 65535"
        )
    return value


def choose_port(port_range, taken, rng=random):
    """A port in [low, high] that no known project server on the machine uses."""
    low, high = port_range
    free = high - low + 1 - sum(1 for p in taken if low <= p <= high)
    if free <= 0:
        raise NoFreePort(f"every port from {low} to {high} is taken on this machine")
    while True:
        port = rng.randint(low, high)
        if port not in taken:
            return port


def bindable(address, port):
    """Whether nothing on this machine listens on (address, port) now."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # as the server will bind: a port whose last connections wait out TIME_WAIT is
        # free to it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _proc_net_address(address):
    """`address` as /proc/net/tcp spells it: the words of the address in host order."""
    if ":" in address:
        words = struct.unpack("=4I", socket.inet_pton(socket.AF_INET6, address))
    else:
        words = struct.unpack("=I", socket.inet_aton(address))
    return "".join(f"{word:08X}" for word in words)


def _listening():
    """(table, local address, port, uid) of each listening TCP socket of this machine's
    network namespace (/proc/net/tcp and tcp6 name each socket's owner)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except FileNotFoundError:  # no IPv6
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == TCP_LISTEN:
                local_address, local_port = fields[1].split(":")
                yield table, local_address, int(local_port, 16), int(fields[7])


def listeners(address, port):
    """The uids of the accounts listening where a TCP connection to (IPv4 `address`,
    `port`) arrives: on that address, on any address, or on IPv6's any address or
    `address` mapped."""
    wanted = {
        "/proc/net/tcp": {_proc_net_address(address), _proc_net_address("0.0.0.0")},
        "/proc/net/tcp6": {_proc_net_address("::"), _proc_net_address("::ffff:" + address)},
    }
    return {
        uid
        for table, local_address, local_port, uid in _listening()
        if local_port == port and local_address in wanted[table]
    }


def holders(port_range):
    """How many ports of the range each account listens on: {uid: count}."""
    low, high = port_range
    ports = {(port, uid) for _, _, port, uid in _listening() if low <= port <= high}
    return collections.Counter(uid for _, uid in ports)
