"""HAProxy's configuration and route tables for HAProxyProxy, as pure functions.

How a request finds its target, without a reload (HAProxy 2.6):

- The frontend builds a lookup key the way configurable-http-proxy does with host
  routing: ``/<host><path>/`` (the Host header lower-cased, without its port, then the
  path), or ``<path>/`` without host routing. The extra trailing slash lets ``/user/x``
  match the route ``/host/user/x/`` as it does in CHP, and never ``/user/xy``.
- ``map_beg`` looks the key up in the routes map. HAProxy indexes case-sensitive
  ``beg`` patterns in a prefix tree and returns the longest match, so the longest route
  wins whatever order routes were added in, like CHP's trie; JupyterHub's default
  route ``/`` (the hub) is a prefix of every key and catches what nothing else takes.
- The map's value is the target's address (``ip:port``; a name in a target URL is
  resolved by the hub when it adds the route). One backend turns it into the
  connection's destination with ``http-request set-dst``/``set-dst-port`` and a single
  ``server ... 0.0.0.0:0``. HAProxy 2.6 keys idle server connections by destination, so
  keep-alive to project servers works across clients (``http-reuse aggressive``).

Dynamic servers (``add server``) were the other way, but nothing sends a request to a
server named in a map (``use-server`` takes a fixed name; balance algorithms hash, they
do not choose), and backends cannot be added without a reload.

JupyterHub's per-route data (and the target URL as JupyterHub gave it) lives in a
second map keyed by the route, its value base64url-encoded JSON (map values cannot hold
spaces); a rule that never runs names it, so that HAProxy loads it. Both maps are
files in the state folder, rewritten on every change: an HAProxy that restarts
(killed, restarted by the hub or by an admin) loads every route at once.
"""

import base64
import ipaddress
import json
import re
from urllib.parse import urlsplit

ROUTES_MAP = "routes.map"
DATA_MAP = "routes-data.map"
CONFIG_FILE = "haproxy.cfg"
ADMIN_SOCKET = "admin.sock"
PID_FILE = "haproxy.pid"

# the runtime API splits commands on spaces and ';': a key holding either would be
# another command
_UNSAFE_KEY = re.compile(r"[\s;\\#]")


def route_key(routespec):
    """The routes map's key for a JupyterHub routespec ("host/path/" or "/path/").

    Host routes get a leading "/" as CHP stores them, so the default route "/" is a
    prefix of every key.
    """
    if _UNSAFE_KEY.search(routespec) or not routespec:
        raise ValueError(f"HAProxyProxy cannot route {routespec!r}: no spaces, ';', '#' or '\\'")
    if routespec.startswith("/"):
        return routespec
    host, _, path = routespec.partition("/")
    return f"/{host.lower()}/{path}"


def routespec_from_key(key, host_routing):
    """The routespec JupyterHub gave for a routes map key (the inverse of route_key)."""
    if host_routing and key != "/":
        return key[1:]
    return key


def target_host_port(target):
    """(host, port) of a route's target URL; http only."""
    parts = urlsplit(target)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(
            f"HAProxyProxy forwards to http://host:port targets only, not {target!r} "
            "(JupyterHub's internal_ssl is not supported with it yet)"
        )
    return parts.hostname, parts.port or 80


def is_ip(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def address(ip, port):
    """The routes map's value: `ip:port`, IPv6 without brackets (the frontend takes the
    last ':' as the port's)."""
    return f"{ipaddress.ip_address(ip)}:{port}"


def encode_data(target, data):
    """The data map's value for a route: its target URL and JupyterHub's data."""
    raw = json.dumps({"target": target, "data": data}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_data(value):
    return json.loads(base64.urlsafe_b64decode(value.encode()))


def parse_show_map(text):
    """{key: value} from the runtime API's `show map` answer ("<ref> <key> <value>")."""
    entries = {}
    for line in text.splitlines():
        fields = line.split(" ", 2)
        if len(fields) == 3:
            entries[fields[1]] = fields[2]
    return entries


def map_file_text(entries):
    """A map file holding `entries` ({key: value}), one per line."""
    return "".join(f"{key} {value}\n" for key, value in sorted(entries.items()))


def bind_address(public_url):
    """HAProxy's `bind` address for the hub's public URL (http only, for now)."""
    parts = urlsplit(public_url)
    if parts.scheme != "http":
        raise ValueError(
            f"HAProxyProxy serves http:// only for now, not {public_url!r}; put TLS in "
            "front of it or use configurable-http-proxy"
        )
    # HAProxy takes the last ':' as the port's, IPv6 included; no host is every
    # IPv4 interface, as for JupyterHub's ip = ''
    return f"{parts.hostname or ''}:{parts.port or 80}"


# before the hub has added its own route (HAProxy's own 503 page would say less)
NO_ROUTE = "No route here: the hub is starting or not running"


# a route whose server does not answer (stopped or crashed, its route not yet gone)
TARGET_DOWN = (
    "The server at this address is not answering: it may be stopping or starting. "
    "Try again in a moment, or start it again from the hub."
)


def render_config(*, state_dir, bind, host_routing, timeouts, maxconn, user=""):
    """The whole haproxy.cfg for HAProxyProxy.

    Timeouts (seconds): `connect`, `client`, `server`, `tunnel` (an open websocket
    with nothing on it), `http_request` (to send the request head). `user`: the account
    HAProxy drops to after opening its sockets (as root it reads the maps first).
    """
    routes_map = f"{state_dir}/{ROUTES_MAP}"
    data_map = f"{state_dir}/{DATA_MAP}"
    unrouted = "if !{ var(txn.route_dst) -m found }"
    if host_routing:
        key = "str(/),concat(,txn.route_host,),concat(,txn.route_path,/)"
    else:
        key = "path,concat(/)"
    return f"""\
# written by smchub's HAProxyProxy: edits are lost when the hub starts it again
global
    stats socket {state_dir}/{ADMIN_SOCKET} mode 600 level admin
{f"    maxconn {maxconn}" if maxconn else ""}
{f"    user {user}" if user else ""}

defaults
    mode http
    option forwardfor
    timeout connect {timeouts["connect"]}s
    timeout client {timeouts["client"]}s
    timeout server {timeouts["server"]}s
    timeout tunnel {timeouts["tunnel"]}s
    timeout http-request {timeouts["http_request"]}s
    timeout http-keep-alive 60s
    timeout client-fin 30s

frontend public
    bind {bind}
    option clitcpka
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-request set-var(txn.route_host) req.hdr(host),lower,regsub(:[0-9]+$,)
    http-request set-var(txn.route_path) path
    http-request set-var(txn.route_key) {key}
    http-request set-var(txn.route_dst) var(txn.route_key),map_beg({routes_map})
    http-request return status 503 content-type text/plain string "{NO_ROUTE}" {unrouted}
    # never evaluated: names the data map so that HAProxy loads it and its runtime API
    # keeps JupyterHub's route data next to the routes
    http-request set-var(txn.route_data) var(txn.route_key),map_str({data_map}) if FALSE
    default_backend routes

backend routes
    option srvtcpka
    # one retry (a kept-alive connection the server had just closed); each waits a
    # second, so a server that is gone gets its 503 after one
    retries 1
    http-error status 503 content-type text/plain string "{TARGET_DOWN}"
    http-reuse aggressive
    http-request set-dst var(txn.route_dst),regsub(:[0-9]+$,)
    http-request set-dst-port var(txn.route_dst),field(-1,:)
    server route 0.0.0.0:0
"""
