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

TLS and HTTP/2: with a certificate the public ``bind`` gets ``ssl crt`` (one PEM, the
certificate then its key) and ``alpn h2,http/1.1``. HAProxy 2.6 speaks HTTP/2 to
browsers and HTTP/1.1 to the targets; it announces RFC 8441 (websockets over HTTP/2,
``SETTINGS_ENABLE_CONNECT_PROTOCOL``) and turns such a stream into an HTTP/1.1
``Upgrade`` towards the kernel, and a browser that does not use RFC 8441 opens its
websockets on an HTTP/1.1 connection, which ALPN also offers. An optional plain-HTTP
frontend only redirects to the https URL.

The hub's error page for a route whose server is gone (configurable-http-proxy asks the
hub's ``/hub/error/503?url=...`` and sends that page with a 503): HAProxy 2.6 cannot
make a second request of its own from ``http-error`` (static text only) and ``errorloc``
would answer a 302 to an HTML page, which API clients would follow to a 200 (and
Lua's HTTP client cannot be reached from an error). So the routes backend has a second
server, ``error_page``, that takes no load-balanced traffic but gets the request when
connecting to the route's target has failed twice, a second apart (``option
redispatch`` on the last retry: the request was never sent, so nothing is done twice;
the first retry stays on the target, for a kept-alive connection it had just closed).
That server is a small frontend of the same HAProxy on an abstract socket (HAProxy
dropped to its own account cannot enter the 0700 state folder); it rewrites the request into
``GET <hub>/error/503?url=<the request's URL>`` without the person's cookies and sends it
to the hub (the address of the default route ``/``), then gives the hub's page the status
503, as CHP does. Requests other than GET and HEAD, and websocket upgrades, get a short
plain 503 there instead of the hub's page: nothing of their body reaches the hub.
"""

import base64
import hashlib
import ipaddress
import json
import re
from urllib.parse import urlsplit

ROUTES_MAP = "routes.map"
DATA_MAP = "routes-data.map"
CONFIG_FILE = "haproxy.cfg"
ADMIN_SOCKET = "admin.sock"
PID_FILE = "haproxy.pid"
TLS_PEM = "tls.pem"

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


def bind_address(public_url, tls=False):
    """HAProxy's `bind` address for the hub's public URL (https only with a certificate)."""
    parts = urlsplit(public_url)
    if parts.scheme == "https" and not tls:
        raise ValueError(
            f"HAProxyProxy serves {public_url!r} over TLS only with a certificate: set "
            "c.JupyterHub.ssl_cert (and ssl_key), or an http:// URL behind your own TLS"
        )
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"HAProxyProxy serves http:// or https:// URLs, not {public_url!r}")
    # HAProxy takes the last ':' as the port's, IPv6 included; no host is every
    # IPv4 interface, as for JupyterHub's ip = ''
    return f"{parts.hostname or ''}:{parts.port or default_port(parts.scheme)}"


def default_port(scheme):
    return 443 if scheme == "https" else 80


def tls_pem(cert_text, key_text=""):
    """The one PEM HAProxy's `crt` takes: the certificate (and its chain), then the key.

    JupyterHub has them in two files (ssl_cert, ssl_key); an ssl_cert that already holds
    its key needs no ssl_key.
    """
    if "CERTIFICATE-----" not in cert_text:
        raise ValueError("c.JupyterHub.ssl_cert holds no PEM certificate")
    if key_text and "PRIVATE KEY-----" not in key_text:
        raise ValueError("c.JupyterHub.ssl_key holds no PEM private key")
    if not key_text and "PRIVATE KEY-----" not in cert_text:
        raise ValueError(
            "c.JupyterHub.ssl_key is not set and c.JupyterHub.ssl_cert holds no private "
            "key: HAProxy needs both"
        )
    parts = [cert_text if cert_text.endswith("\n") else cert_text + "\n"]
    if key_text:
        parts.append(key_text if key_text.endswith("\n") else key_text + "\n")
    return "".join(parts)


def redirect_location(https_port, public_host):
    """The `redirect location` log-format that sends plain HTTP to the https URL: the
    host the client asked for (without its port), the https port, the same path and
    query. A client that sent no Host gets the public URL's host."""
    port = "" if https_port == 443 else f":{https_port}"
    return f"https://%[var(txn.redirect_host)]{port}%[capture.req.uri]"


# every connection HAProxy proxies takes two file descriptors (client and target), and it
# keeps some for its listeners, admin socket and pollers (about 30 in practice)
FD_RESERVE = 100
# enough for 10,000 open websockets through one HAProxy with room to spare; more is one
# setting away (c.HAProxyProxy.maxconn)
DEFAULT_MAXCONN = 25_000


def fds_needed(maxconn):
    """File descriptors HAProxy needs for `maxconn` connections (it sets its own limit)."""
    return 2 * maxconn + FD_RESERVE


def default_maxconn(fd_hard_limit, can_raise_limit):
    """HAProxy's maxconn when the admin set none.

    HAProxy raises its own soft limit on open files to what maxconn needs, but only up to
    the hard limit unless it may raise that too (root with CAP_SYS_RESOURCE): past it,
    HAProxy 2.6 refuses to start. So: DEFAULT_MAXCONN where it fits, else what the hard
    limit allows.
    """
    if can_raise_limit or fd_hard_limit >= fds_needed(DEFAULT_MAXCONN):
        return DEFAULT_MAXCONN
    return max(1, (fd_hard_limit - FD_RESERVE) // 2)


def error_socket(state_dir):
    """The abstract socket of the error page's frontend, unique to a state_dir.

    Abstract (no file): HAProxy started by root connects to it after dropping to its own
    account, which cannot enter the hub's 0700 state_dir.
    """
    digest = hashlib.sha256(state_dir.encode()).hexdigest()[:16]
    return f"abns@smchub-haproxy-{digest}-errors"


# before the hub has added its own route (HAProxy's own 503 page would say less)
NO_ROUTE = "No route here: the hub is starting or not running"


# a route whose server does not answer (stopped or crashed, its route not yet gone)
TARGET_DOWN = (
    "The server at this address is not answering: it may be stopping or starting. "
    "Try again in a moment, or start it again from the hub."
)


# the hub's error page could not be had (the hub is down too)
HUB_DOWN = "The server at this address is not answering, and neither is the hub."

# what a websocket or an API call that would send a body gets when its target is down
TARGET_DOWN_SHORT = "The server at this address is not answering (503)."


def render_config(
    *,
    state_dir,
    bind,
    host_routing,
    timeouts,
    maxconn,
    user="",
    tls_pem="",
    http2=True,
    redirect=None,
    error_path="",
):
    """The whole haproxy.cfg for HAProxyProxy.

    Timeouts (seconds): `connect`, `client`, `server`, `tunnel` (an open websocket
    with nothing on it), `http_request` (to send the request head). `user`: the account
    HAProxy drops to after opening its sockets (as root it reads the maps first).
    `tls_pem`: the certificate and key to serve TLS with (empty: plain HTTP); `http2`:
    offer HTTP/2 through ALPN. `redirect`: (bind, https_port, public_host) of a plain
    HTTP frontend that only redirects to https. `error_path`: the hub's error page for a
    target that does not answer (JupyterHub's `/hub/error/503`; empty: HAProxy's text).
    """
    routes_map = f"{state_dir}/{ROUTES_MAP}"
    data_map = f"{state_dir}/{DATA_MAP}"
    unrouted = "if !{ var(txn.route_dst) -m found }"
    if host_routing:
        key = "str(/),concat(,txn.route_host,),concat(,txn.route_path,/)"
    else:
        key = "path,concat(/)"
    bind_line = bind
    if tls_pem:
        alpn = "h2,http/1.1" if http2 else "http/1.1"
        bind_line = f"{bind} ssl crt {tls_pem} alpn {alpn} ssl-min-ver TLSv1.2"
    proto = "https" if tls_pem else "http"
    retries = 2 if error_path else 1
    lines = [
        "# written by smchub's HAProxyProxy: edits are lost when the hub starts it again",
        "global",
        f"    stats socket {state_dir}/{ADMIN_SOCKET} mode 600 level admin",
        # HAProxy sets its own limit on open files from this (two per connection)
        f"    maxconn {maxconn}" if maxconn else "",
        f"    user {user}" if user else "",
        f"""
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
    bind {bind_line}
    option clitcpka
    http-request set-header X-Forwarded-Proto {proto}
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
    # a request sent on a kept-alive connection that the target had just closed is
    # sent again on a new one (except POST and PATCH, which might then be done twice)
    retry-on conn-failure empty-response
    http-request disable-l7-retry if METH_POST or {{ method PATCH }}
    # a refused connection is tried again a second later: a target that is gone
    # gets its 503 after one second, or the hub's page after two (below)
    retries {retries}
    http-error status 503 content-type text/plain string "{TARGET_DOWN}"
    http-reuse aggressive
    http-request set-dst var(txn.route_dst),regsub(:[0-9]+$,)
    http-request set-dst-port var(txn.route_dst),field(-1,:)""",
    ]
    if error_path:
        socket = error_socket(state_dir)
        short = f'return status 503 content-type text/plain string "{TARGET_DOWN_SHORT}"'
        lines.append(f"""\
    # every request goes to the route's target; weight 0 keeps error_page out of load
    # balancing, and the last retry (never the first: that one may be the kept-alive
    # case above, the target alive) is redispatched to it
    option redispatch -1
    use-server route if TRUE
    server route 0.0.0.0:0 weight 0
    server error_page {socket}

# the hub's error page for a target that does not answer, as configurable-http-proxy
# shows it (see the module's docstring)
frontend error_page
    bind {socket}
    http-request {short} if !METH_GET !METH_HEAD
    http-request {short} if {{ req.hdr(upgrade) -m found }}
    http-request set-var(txn.hub) str(/),map_beg({routes_map})
    http-request set-var(txn.url) url
    # the hub sees CHP's error request: no cookies or token of the person, its own host
    # (not a project's, whose host the hub would redirect)
    http-request del-header cookie
    http-request del-header authorization
    http-request set-header host %[var(txn.hub)]
    http-request set-uri {error_path}?url=%[var(txn.url),url_enc]
    http-response set-status 503 if {{ status 200 }}
    http-response del-header set-cookie
    default_backend hub_error_page

backend hub_error_page
    retries 0
    http-error status 503 content-type text/plain string "{HUB_DOWN}"
    http-request set-dst var(txn.hub),regsub(:[0-9]+$,)
    http-request set-dst-port var(txn.hub),field(-1,:)
    server hub 0.0.0.0:0""")
    else:
        lines.append("    server route 0.0.0.0:0")
    if redirect:
        redirect_bind, https_port, public_host = redirect
        location = redirect_location(https_port, public_host)
        no_host = "if !{ var(txn.redirect_host) -m found }"
        public_host = public_host or "localhost"
        lines.append(f"""
# plain HTTP: only a redirect to https (308 keeps the method and body of the rest)
frontend http_redirect
    bind {redirect_bind}
    http-request set-var(txn.redirect_host) req.hdr(host),lower,regsub(:[0-9]+$,)
    http-request set-var(txn.redirect_host) str({public_host}) {no_host}
    http-request redirect location {location} code 301 if METH_GET or METH_HEAD
    http-request redirect location {location} code 308""")
    return "\n".join(line for line in lines if line) + "\n"
