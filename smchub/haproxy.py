"""HAProxy at the front: a JupyterHub proxy that changes HAProxy's routes at run time.

SageMathCloud routed by URL with HAProxy. ``HAProxyProxy`` does the same for a
JupyterHub: it starts and watches an ``haproxy`` process (or talks to one an admin runs,
with ``should_start = False``) and adds and deletes routes through HAProxy's runtime API
on its admin socket (``add map``/``set map``/``del map``/``show map``), never reloading.
How a request is matched and forwarded is explained in ``smchub.haproxy_config``.

Routes outlive both processes:
- every change also rewrites the map files in ``state_dir``, which HAProxy loads when it
  starts: an HAProxy that died and is started again (by this class within
  ``check_running_interval``, or by an admin) routes as before at once;
- a hub that restarts starts a new HAProxy on the same files (or keeps talking to the
  admin's), and JupyterHub's ``check_routes`` then adds what is missing and deletes
  what is stale, as with configurable-http-proxy.

The admin socket can change every route: ``state_dir`` is 0700 and its files 0600, owned
by the hub's account, so project accounts reach none of it. HAProxy faces the network:
started by a root hub, it reads its config, maps and certificate as root, then runs as
``user``.

TLS, as JupyterHub gives it to configurable-http-proxy: with ``c.JupyterHub.ssl_cert``
and ``ssl_key`` the hub's public URL is https, and HAProxy serves it with a copy of the
certificate and key in one 0600 PEM in ``state_dir`` (HAProxy's ``crt`` wants one file);
a renewed certificate is noticed within ``check_running_interval`` and handed to the
HAProxy the hub runs through its runtime API, without a restart. Browsers get HTTP/2
(``http2``), websockets included; ``http_redirect_port`` adds a plain-HTTP port that
redirects to https. A target that does not answer gets the hub's error page, as with
CHP (see ``smchub.haproxy_config``).
"""

import asyncio
import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import time
from urllib.parse import urlsplit

from jupyterhub.proxy import Proxy
from jupyterhub.traitlets import Command
from jupyterhub.utils import url_path_join
from tornado.ioloop import PeriodicCallback
from traitlets import Any, Bool, Integer, TraitError, Unicode, default, validate

from . import haproxy_config as cfg


def _may_raise_file_limit():
    """Whether a process started by the hub may raise its hard limit on open files
    (CAP_SYS_RESOURCE, which root has outside of most containers)."""
    try:
        with open("/proc/self/status") as f:
            caps = next(line for line in f if line.startswith("CapEff:"))
    except (OSError, StopIteration):
        return False
    cap_sys_resource = 24
    return bool(int(caps.split()[1], 16) >> cap_sys_resource & 1)


class HAProxyAPIError(RuntimeError):
    """HAProxy's runtime API refused a command or could not be reached."""


class HAProxyProxy(Proxy):
    """JupyterHub's routes in HAProxy (Debian's haproxy 2.6 or later).

    Configure with ``c.JupyterHub.proxy_class = "haproxy"``; TLS with JupyterHub's own
    ``ssl_cert`` and ``ssl_key``, as for configurable-http-proxy.
    """

    command = Command(
        help="""The haproxy executable (and any extra arguments before the hub's own).

        By default `haproxy` on the PATH, or Debian's /usr/sbin/haproxy.""",
    ).tag(config=True)

    @default("command")
    def _command_default(self):
        return [shutil.which("haproxy") or "/usr/sbin/haproxy"]

    state_dir = Unicode(
        "jupyterhub-haproxy",
        help="""Folder of HAProxy's config, route maps, pid file and admin socket.

        Made 0700 (files 0600): whoever reaches the admin socket can change every route.
        An HAProxy that an admin runs (should_start = False) must use the config this
        class writes here, or at least its frontend and backend, maps and socket.""",
    ).tag(config=True)

    @validate("state_dir")
    def _state_dir_valid(self, proposal):
        # the path goes into haproxy.cfg and into runtime API commands, both split on spaces
        if any(c.isspace() or c in ";#\\\"'" for c in proposal.value):
            raise TraitError(
                f"HAProxyProxy.state_dir {proposal.value!r} has a space, quote, ';', '#' or "
                "backslash, which HAProxy's config and runtime API cannot take: choose "
                "another folder"
            )
        return proposal.value

    api_socket = Unicode(
        help="""Path of HAProxy's admin socket (runtime API). Default: admin.sock in
        state_dir.""",
    ).tag(config=True)

    @default("api_socket")
    def _api_socket_default(self):
        return os.path.join(self.abs_state_dir, cfg.ADMIN_SOCKET)

    check_running_interval = Integer(
        5,
        help="Seconds between checks that HAProxy still runs (it is started again if not).",
    ).tag(config=True)

    connect_timeout = Integer(5, help="Seconds to connect to a target.").tag(config=True)
    client_timeout = Integer(
        3600, help="Seconds a client may stay silent in the middle of a request or response."
    ).tag(config=True)
    server_timeout = Integer(
        3600,
        help="""Seconds a target may take to answer or stay silent in a response (a long
        computation behind a request, a slow download).""",
    ).tag(config=True)
    tunnel_timeout = Integer(
        86400,
        help="""Seconds an open websocket (kernel, terminal) may carry nothing before
        HAProxy closes it. Dead peers are noticed sooner by TCP keep-alive.""",
    ).tag(config=True)
    maxconn = Integer(
        0,
        help=f"""HAProxy's maximum number of concurrent client connections (global
        maxconn; an open websocket is one). Each takes two file descriptors (client and
        target), which HAProxy sets its own limit for, up to the hard limit on open files
        it inherits from the hub (`ulimit -Hn`, systemd's LimitNOFILE=) unless it starts
        as root with CAP_SYS_RESOURCE. 0: {cfg.DEFAULT_MAXCONN:,}, or as many as that hard
        limit allows. A value the limit cannot hold is refused at start.""",
    ).tag(config=True)

    http2 = Bool(
        True,
        help="""Offer HTTP/2 to browsers (ALPN h2) when serving TLS. Websockets keep
        working: HAProxy carries them over HTTP/2 (RFC 8441) or the browser opens them on
        HTTP/1.1, and targets always get HTTP/1.1.""",
    ).tag(config=True)

    http_redirect_port = Integer(
        0,
        help="""A plain-HTTP port that only redirects to the hub's https URL (same host
        and path; 301 for GET and HEAD, 308 for the rest), usually 80. 0: none. Needs
        c.JupyterHub.ssl_cert: without TLS the hub is already on plain HTTP.""",
    ).tag(config=True)

    @validate("http_redirect_port")
    def _http_redirect_port_valid(self, proposal):
        if not 0 <= proposal.value <= 65535:
            raise TraitError(
                f"HAProxyProxy.http_redirect_port {proposal.value} is not a port: 1-65535, "
                "or 0 for no redirect"
            )
        return proposal.value

    user = Unicode(
        help="""Unix account HAProxy switches to once its port and admin socket are open,
        when the hub runs as root. Default: `haproxy` (made by Debian's package) if it
        exists. Empty: HAProxy keeps the hub's account.""",
    ).tag(config=True)

    @default("user")
    def _user_default(self):
        # HAProxy faces the network: it should not keep root's rights to do it
        if os.geteuid() != 0:
            return ""
        try:
            pwd.getpwnam("haproxy")
        except KeyError:
            return ""
        return "haproxy"

    process = Any(help="The haproxy process this hub started (subprocess.Popen)")
    _check_running_callback = Any()
    # the routes as written to the map files: {key: (address, encoded data)}
    _routes = Any(None)
    _lock = Any()
    # (mtime, size) of ssl_cert and ssl_key when the PEM in state_dir was written
    _tls_source_stamp = Any(None)

    @default("_lock")
    def _lock_default(self):
        return asyncio.Lock()

    @property
    def abs_state_dir(self):
        return os.path.abspath(self.state_dir)

    def _path(self, name):
        return os.path.join(self.abs_state_dir, name)

    # --- the process ---------------------------------------------------------------------

    def config_text(self):
        """haproxy.cfg for this hub (also what an admin's HAProxy must contain)."""
        timeouts = {
            "connect": self.connect_timeout,
            "client": self.client_timeout,
            "server": self.server_timeout,
            "tunnel": self.tunnel_timeout,
            "http_request": 30,
        }
        parts = urlsplit(self.public_url)
        redirect = None
        if self.http_redirect_port:
            if not self.ssl_cert:
                raise ValueError(
                    "c.HAProxyProxy.http_redirect_port redirects to https, but the hub "
                    "serves plain HTTP (no c.JupyterHub.ssl_cert): set a certificate, or "
                    "set http_redirect_port = 0"
                )
            https_port = parts.port or cfg.default_port(parts.scheme)
            if self.http_redirect_port == https_port:
                raise ValueError(
                    f"c.HAProxyProxy.http_redirect_port {https_port} is the hub's https "
                    "port: choose another one (usually 80)"
                )
            redirect_bind = f"{parts.hostname or ''}:{self.http_redirect_port}"
            redirect = (redirect_bind, https_port, parts.hostname)
        # JupyterHub gives CHP its error target as <hub>/error; without a hub (an admin
        # writing the config), JupyterHub's default base URL
        hub_prefix = self.hub.base_url if self.hub else "/hub/"
        return cfg.render_config(
            state_dir=self.abs_state_dir,
            bind=cfg.bind_address(self.public_url, tls=bool(self.ssl_cert)),
            host_routing=self.host_routing,
            timeouts=timeouts,
            maxconn=self.effective_maxconn(),
            user=self.user,
            tls_pem=self._path(cfg.TLS_PEM) if self.ssl_cert else "",
            http2=self.http2,
            redirect=redirect,
            error_path=url_path_join(hub_prefix, "error/503"),
        )

    def effective_maxconn(self):
        """HAProxy's maxconn: the admin's, or the default that the file limit allows."""
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard == resource.RLIM_INFINITY:
            hard = 1 << 30
        can_raise = _may_raise_file_limit()
        if not self.maxconn:
            return cfg.default_maxconn(hard, can_raise)
        if not can_raise and cfg.fds_needed(self.maxconn) > hard:
            raise ValueError(
                f"c.HAProxyProxy.maxconn = {self.maxconn} needs "
                f"{cfg.fds_needed(self.maxconn)} open files, and the hub's hard limit is "
                f"{hard}: raise it (LimitNOFILE= in the hub's systemd unit, ulimit -Hn) or "
                f"lower maxconn to {(hard - cfg.FD_RESERVE) // 2}"
            )
        return self.maxconn

    def write_state_dir(self):
        """Write state_dir: the config, and empty route maps where there are none yet.

        The hub does it before starting HAProxy; an admin who runs HAProxy themself
        (should_start = False) does it once, with the hub's config, and starts
        `haproxy -f <state_dir>/haproxy.cfg` as the hub's account.
        """
        os.makedirs(self.abs_state_dir, mode=0o700, exist_ok=True)
        os.chmod(self.abs_state_dir, 0o700)
        self._write_file(cfg.CONFIG_FILE, self.config_text())
        if self.ssl_cert:
            self._write_tls_pem()
        for name in (cfg.ROUTES_MAP, cfg.DATA_MAP):
            if not os.path.exists(self._path(name)):
                self._write_file(name, "")

    def _tls_stamp(self):
        stamp = []
        for path in (self.ssl_cert, self.ssl_key):
            if path:
                st = os.stat(path)
                stamp.append((st.st_mtime_ns, st.st_size))
        return tuple(stamp)

    def _read_tls_pem(self):
        """(stamp of the source files, the PEM HAProxy serves) from ssl_cert and ssl_key."""
        stamp = self._tls_stamp()
        with open(self.ssl_cert) as f:
            cert = f.read()
        key = ""
        if self.ssl_key:
            with open(self.ssl_key) as f:
                key = f.read()
        return stamp, cfg.tls_pem(cert, key)

    def _write_tls_pem(self):
        stamp, pem = self._read_tls_pem()
        self._write_file(cfg.TLS_PEM, pem)
        self._tls_source_stamp = stamp

    async def check_certificate(self):
        """Hand a renewed certificate (ssl_cert/ssl_key changed on disk) to HAProxy.

        Through the runtime API (`set ssl cert`, `commit ssl cert`): connections open
        stay, new ones get the new certificate. The PEM in state_dir is rewritten too,
        for HAProxy's next start.
        """
        if not self.ssl_cert or self._tls_source_stamp is None:
            return
        try:
            if await asyncio.to_thread(self._tls_stamp) == self._tls_source_stamp:
                return
            stamp, pem = await asyncio.to_thread(self._read_tls_pem)
        except (OSError, ValueError) as e:
            # a renewal half written: the next check reads it again
            self.log.warning("Not reloading HAProxy's certificate yet: %s", e)
            return
        # once per change of the files: a refused pair is not tried again until the
        # admin changes one of them (a key that did not match the new certificate yet)
        self._tls_source_stamp = stamp
        path = self._path(cfg.TLS_PEM)
        try:
            answer = await self._api(f"set ssl cert {path} <<\n{pem}\n")
            if "Transaction created" not in answer and "Transaction updated" not in answer:
                self.log.error("HAProxy refused the new certificate: %s", answer.strip())
                await self._api(f"abort ssl cert {path}")
                return
            answer = await self._api(f"commit ssl cert {path}")
        except HAProxyAPIError as e:
            self.log.error("Could not give HAProxy the new certificate: %s", e)
            return
        if "Success" not in answer:
            self.log.error("HAProxy did not take the new certificate: %s", answer.strip())
            return
        await asyncio.to_thread(self._write_file, cfg.TLS_PEM, pem)
        self.log.info("HAProxy serves the renewed certificate %s", self.ssl_cert)

    def _write_file(self, name, text):
        """Replace a file of state_dir at once (HAProxy may start and read it meanwhile)."""
        path = self._path(name)
        fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(path + ".new", path)

    def _stop_leftover(self):
        """Stop an HAProxy a previous hub started on this state_dir and left running."""
        try:
            with open(self._path(cfg.PID_FILE)) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
        except (OSError, ValueError):
            return
        if self._path(cfg.CONFIG_FILE).encode() not in cmdline:
            return  # the pid is someone else's by now
        self.log.warning("Stopping the HAProxy a previous hub left running (pid %s)", pid)
        os.kill(pid, signal.SIGTERM)
        # its port must be free before the new one binds it
        for _ in range(50):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rpartition(")")[2].split()[0] == "Z":
                        return
            except OSError:
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"the HAProxy at pid {pid} did not stop; stop it and start the hub again"
        )

    async def start(self):
        """Start HAProxy on the routes of the map files, and watch it."""
        await asyncio.to_thread(self.write_state_dir)
        await asyncio.to_thread(self._stop_leftover)
        command = [*self.command, "-db", "-f", self._path(cfg.CONFIG_FILE)]
        self.log.info(
            "Starting HAProxy @ %s (at most %s connections)",
            self.public_url,
            self.effective_maxconn(),
        )
        self.log.debug("HAProxy command: %s", command)
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, start_new_session=True
            )
        except FileNotFoundError:
            raise RuntimeError(
                f"HAProxy is not installed ({self.command[0]} not found): `apt-get install "
                "haproxy` on Debian, or set c.HAProxyProxy.command"
            ) from None
        self._write_file(cfg.PID_FILE, f"{self.process.pid}\n")
        await self._wait_up(timeout=10)
        if self._check_running_callback is None:
            self._check_running_callback = PeriodicCallback(
                self.check_running, 1000 * self.check_running_interval
            )
            self._check_running_callback.start()

    async def _wait_up(self, timeout):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"HAProxy exited with code {code} at start; its messages are above, "
                    f"its config is {self._path(cfg.CONFIG_FILE)}"
                )
            try:
                await self._api("show info")
                return
            except HAProxyAPIError:
                if loop.time() > deadline:
                    raise TimeoutError(f"HAProxy did not answer on {self.api_socket} in {timeout}s")
                await asyncio.sleep(0.05)

    async def stop(self):
        if self._check_running_callback is not None:
            self._check_running_callback.stop()
            self._check_running_callback = None
        if self.process is None:
            return
        self.log.info("Stopping HAProxy (pid %s)", self.process.pid)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)
        try:
            os.remove(self._path(cfg.PID_FILE))
        except FileNotFoundError:
            pass

    async def check_running(self):
        """Start HAProxy again if it died; the map files give it back its routes."""
        if self.process is None:
            return
        if self.process.poll() is None:
            await self.check_certificate()
            return
        self.log.error("HAProxy stopped with exit code %s; starting it again", self.process.poll())
        await self.start()
        # the files hold every route already; this also catches a change that failed to
        # reach them while HAProxy was down
        await self.check_routes(self.app.users, self.app._service_map)

    # --- the runtime API -------------------------------------------------------------------

    async def _api(self, command):
        """One command on HAProxy's admin socket; returns its answer."""
        try:
            reader, writer = await asyncio.open_unix_connection(self.api_socket)
        except OSError as e:
            raise HAProxyAPIError(f"cannot reach HAProxy at {self.api_socket}: {e}") from None
        try:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            return (await asyncio.wait_for(reader.read(), 30)).decode()
        except asyncio.TimeoutError:
            raise HAProxyAPIError(f"HAProxy did not answer {command.split()[0:2]} in 30s") from None
        finally:
            writer.close()

    async def _set_entry(self, map_name, key, value):
        path = self._path(map_name)
        answer = await self._api(f"set map {path} {key} {value}")
        if "not found" in answer:
            answer = await self._api(f"add map {path} {key} {value}")
        if answer.strip():
            raise HAProxyAPIError(f"HAProxy refused the route {key}: {answer.strip()}")

    async def _delete_entry(self, map_name, key):
        answer = await self._api(f"del map {self._path(map_name)} {key}")
        if answer.strip() and "not found" not in answer:
            raise HAProxyAPIError(f"HAProxy did not delete the route {key}: {answer.strip()}")

    async def _show(self, map_name):
        return cfg.parse_show_map(await self._api(f"show map {self._path(map_name)}"))

    def _load_routes(self):
        if self._routes is not None:
            return
        routes = {}
        try:
            with open(self._path(cfg.ROUTES_MAP)) as f:
                addresses = dict(line.split(" ", 1) for line in f.read().splitlines() if line)
            with open(self._path(cfg.DATA_MAP)) as f:
                data = dict(line.split(" ", 1) for line in f.read().splitlines() if line)
        except FileNotFoundError:
            addresses, data = {}, {}
        for key, address in addresses.items():
            if key in data:
                routes[key] = (address, data[key])
        self._routes = routes

    def _write_maps(self):
        os.makedirs(self.abs_state_dir, mode=0o700, exist_ok=True)
        self._write_file(
            cfg.DATA_MAP, cfg.map_file_text({k: v[1] for k, v in self._routes.items()})
        )
        self._write_file(
            cfg.ROUTES_MAP, cfg.map_file_text({k: v[0] for k, v in self._routes.items()})
        )

    async def _tell_haproxy(self, change):
        """Apply a change to the running HAProxy; if it is down, its restart reads the files."""
        try:
            await change
        except HAProxyAPIError as e:
            if self.should_start and self.process is not None and self.process.poll() is not None:
                self.log.warning("HAProxy is down (%s); it gets the route when it restarts", e)
                return
            raise

    # --- JupyterHub's Proxy API --------------------------------------------------------------

    async def add_route(self, routespec, target, data):
        routespec = self.validate_routespec(routespec)
        key = cfg.route_key(routespec)
        address = await self._resolve(target)
        encoded = cfg.encode_data(target, data)
        async with self._lock:
            await asyncio.to_thread(self._load_routes)
            self._routes[key] = (address, encoded)
            await asyncio.to_thread(self._write_maps)

            # data first: a route HAProxy serves always has its data
            async def change():
                await self._set_entry(cfg.DATA_MAP, key, encoded)
                await self._set_entry(cfg.ROUTES_MAP, key, address)

            await self._tell_haproxy(change())

    async def delete_route(self, routespec):
        routespec = self.validate_routespec(routespec)
        key = cfg.route_key(routespec)
        async with self._lock:
            await asyncio.to_thread(self._load_routes)
            if self._routes.pop(key, None) is not None:
                await asyncio.to_thread(self._write_maps)

            async def change():
                await self._delete_entry(cfg.ROUTES_MAP, key)
                await self._delete_entry(cfg.DATA_MAP, key)

            await self._tell_haproxy(change())

    async def _resolve(self, target):
        """The `ip:port` HAProxy connects to for a target URL.

        HAProxy's set-dst takes addresses only. A name (c.JupyterHub.hub_connect_ip =
        "hub", a container's name) is resolved here, when the route is added: a server
        that moves gets a new route from its spawner, as with any proxy.
        """
        host, port = cfg.target_host_port(target)
        if cfg.is_ip(host):
            return cfg.address(host, port)
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as e:
            raise ValueError(f"HAProxyProxy cannot resolve the target {target!r}: {e}") from None
        return cfg.address(infos[0][4][0], port)

    async def get_all_routes(self):
        """The routes HAProxy serves now (not the files): what check_routes must repair."""
        addresses = await self._show(cfg.ROUTES_MAP)
        data = await self._show(cfg.DATA_MAP)
        routes = {}
        for key in addresses:
            if key not in data:
                continue
            stored = cfg.decode_data(data[key])
            routespec = cfg.routespec_from_key(key, self.host_routing)
            routes[routespec] = {
                "routespec": routespec,
                "target": stored["target"],
                "data": stored["data"],
            }
        return routes
