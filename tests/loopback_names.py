"""Every *.localhost name resolves to this machine in the test process, as in browsers.

Browsers (and systemd's resolver) map localhost and all its subdomains to loopback
(RFC 6761), which is what gives each project of the embedded default its own origin,
http://<project-id>.localhost:<port>/. glibc without nss-myhostname does not, so tests
and benchmarks install this before they talk to a hub: a request to a project's origin
goes to 127.0.0.1 with the project's name in its Host header, exactly what a browser sends.
"""

import socket

_system_getaddrinfo = socket.getaddrinfo


def is_localhost_name(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    host = host.rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


def _getaddrinfo(host, port, *args, **kwargs):
    if is_localhost_name(host):
        host = "127.0.0.1"
    return _system_getaddrinfo(host, port, *args, **kwargs)


def install():
    socket.getaddrinfo = _getaddrinfo
