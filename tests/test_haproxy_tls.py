"""HAProxy at the front over TLS (issue 20): a certificate the test makes, HTTP/2 to
browsers, websockets, plain HTTP redirected, and the hub's error page for a server that
is gone while its route is still there."""

import asyncio
import datetime
import json
import os
import socket
import ssl
import struct
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from . import hubfixture
from .hubfixture import running_hub
from .ports import unused_port
from .test_haproxy import NOTE, reachable

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/sbin/haproxy"), reason="HAProxy is not installed"
)


def make_certificate(folder):
    """A self-signed certificate for hub.localhost and its projects' hosts, and its key,
    in two files as an admin has them (JupyterHub's ssl_cert and ssl_key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub.localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("hub.localhost"), x509.DNSName("*.hub.localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    os.makedirs(folder, exist_ok=True)
    cert_file, key_file = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_file, key_file


def trust(cert_file):
    """Make the test clients trust a certificate: httpx and kernels' websockets use the
    fixture's shared context."""
    hubfixture.TLS.load_verify_locations(cert_file)


@pytest.fixture(scope="module")
async def tls_hub(hub_root):
    root = os.path.join(hub_root, "haproxy-tls")
    cert_file, key_file = make_certificate(os.path.join(root, "tls"))
    trust(cert_file)
    async with running_hub(
        root,
        JupyterHub__proxy_class="haproxy",
        JupyterHub__ssl_cert=cert_file,
        JupyterHub__ssl_key=key_file,
        HAProxyProxy__state_dir=os.path.join(root, "haproxy"),
        HAProxyProxy__http_redirect_port=unused_port(),
        HAProxyProxy__check_running_interval=1,
        # the error page test needs the route of a killed server to stay a while
        Spawner__poll_interval=3600,
    ) as hub:
        hub.url = hub.url.replace("http://", "https://", 1)
        hub.cert_file, hub.key_file = cert_file, key_file
        yield hub


async def running_project(hub, title):
    person = await hub.person()
    pid = (await person.create_project(title))["id"]
    await person.start_project(pid)
    r = await person.client.put(hub.project_url(pid, "api/contents/note.txt"), json=NOTE)
    assert r.status_code == 201, r.text
    return person, pid


async def curl(*args):
    """curl's `-w` output for a request (the test's certificate trusted, no -k)."""
    proc = await asyncio.create_subprocess_exec(
        "curl", "-s", "-o", "/dev/null", *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, f"curl {args} exited {proc.returncode}"
    return out.decode()


class H2Websocket:
    """A websocket over HTTP/2 (RFC 8441), as Chrome and Firefox open them when the
    server allows it: just enough HTTP/2 (no HPACK table, no flow control past the first
    64 KB) for a kernel's few messages. Blocking: run it in a thread."""

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
    END_HEADERS, ACK = 0x4, 0x1
    SETTINGS_ENABLE_CONNECT_PROTOCOL = 0x8
    STREAM = 1

    def __init__(self, port, authority, path, headers, cafile):
        context = ssl.create_default_context(cafile=cafile)
        context.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.tls = context.wrap_socket(raw, server_hostname=authority.partition(":")[0])
        assert self.tls.selected_alpn_protocol() == "h2"
        self.tls.sendall(self.PREFACE + self.frame(self.SETTINGS, 0, 0, b""))
        kind, _, _, payload = self.read_frame()
        assert kind == self.SETTINGS, kind
        settings = dict(struct.unpack(">HI", payload[i : i + 6]) for i in range(0, len(payload), 6))
        # the server's consent to websockets over HTTP/2, without which browsers use 1.1
        assert settings.get(self.SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1, settings
        self.tls.sendall(self.frame(self.SETTINGS, self.ACK, 0, b""))
        request = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
                   (":authority", authority), (":path", path),
                   ("sec-websocket-version", "13"), *headers]  # fmt: skip
        block = b"".join(b"\0" + self.hpack_string(n) + self.hpack_string(v) for n, v in request)
        self.tls.sendall(self.frame(self.HEADERS, self.END_HEADERS, self.STREAM, block))
        self.status_block = self.read_stream_frame(self.HEADERS)
        self.received = b""

    @staticmethod
    def frame(kind, flags, stream, payload):
        return (
            len(payload).to_bytes(3, "big")
            + bytes([kind, flags])
            + struct.pack(">I", stream)
            + payload
        )

    @staticmethod
    def hpack_string(text):
        # a literal, not Huffman-coded; the length as HPACK's 7-bit prefixed integer
        data = text.encode()
        length = len(data)
        if length < 127:
            return bytes([length]) + data
        head, length = bytes([127]), length - 127
        while length >= 128:
            head, length = head + bytes([length % 128 + 128]), length // 128
        return head + bytes([length]) + data

    def read_exactly(self, n):
        data = b""
        while len(data) < n:
            chunk = self.tls.recv(n - len(data))
            assert chunk, "HAProxy closed the HTTP/2 connection"
            data += chunk
        return data

    def read_frame(self):
        head = self.read_exactly(9)
        length = int.from_bytes(head[:3], "big")
        stream = struct.unpack(">I", head[5:9])[0] & 0x7FFFFFFF
        return head[3], head[4], stream, self.read_exactly(length)

    def read_stream_frame(self, wanted):
        while True:
            kind, flags, stream, payload = self.read_frame()
            if kind == self.PING and not flags & self.ACK:
                self.tls.sendall(self.frame(self.PING, self.ACK, 0, payload))
            assert kind not in (self.GOAWAY, self.RST_STREAM), (kind, payload)
            if stream == self.STREAM and kind == wanted:
                return payload

    @property
    def status_ok(self):
        # HAProxy sends ":status 200" as entry 8 of HPACK's static table
        return self.status_block[:1] == b"\x88"

    def send_text(self, text):
        data, mask = text.encode(), os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        if len(data) < 126:
            head = bytes([0x81, 0x80 | len(data)])
        else:
            head = bytes([0x81, 0x80 | 126]) + struct.pack(">H", len(data))
        self.tls.sendall(self.frame(self.DATA, 0, self.STREAM, head + mask + masked))

    def receive_text(self):
        """The next websocket text message (unfragmented, as the server sends them)."""
        while True:
            if len(self.received) >= 2:
                length, offset = self.received[1] & 0x7F, 2
                if length == 126:
                    length, offset = struct.unpack(">H", self.received[2:4])[0], 4
                elif length == 127:
                    length, offset = struct.unpack(">Q", self.received[2:10])[0], 10
                if len(self.received) >= offset + length:
                    opcode = self.received[0] & 0x0F
                    message = self.received[offset : offset + length]
                    self.received = self.received[offset + length :]
                    if opcode == 0x1:
                        return message.decode()
                    continue
            self.received += self.read_stream_frame(self.DATA)

    def close(self):
        self.tls.close()


def execute_over_h2(port, authority, path, token, cafile, code):
    """Run code in a kernel through a websocket over HTTP/2; its stdout."""
    ws = H2Websocket(port, authority, path, [("authorization", f"token {token}")], cafile)
    try:
        assert ws.status_ok, ws.status_block
        msg_id = os.urandom(8).hex()
        ws.send_text(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "",
                       "session": os.urandom(8).hex(), "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False}, "buffers": [],
        }))  # fmt: skip
        out = []
        while True:
            message = json.loads(ws.receive_text())
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()


async def test_projects_over_https_with_http2_and_websockets(tls_hub):
    hub = tls_hub
    assert hub.app.proxy.public_url.startswith("https://")
    alice, pid = await running_project(hub, "Over TLS")
    # HTTP/1.1 (httpx), checking the test's certificate
    assert await reachable(alice, pid) == "through HAProxy"
    r = await alice.client.get("/hub/login")
    assert r.status_code == 200 and r.http_version == "HTTP/1.1"
    # a kernel's websocket over wss://, both ways
    assert (await alice.execute(pid, "print(6 * 7)")).strip() == "42"
    # browsers get HTTP/2
    url = hub.project_url(pid, "api/contents/note.txt")
    out = await curl(
        "--http2", "--cacert", hub.cert_file, "-H", f"Authorization: token {alice.token}",
        "-w", "%{http_version} %{http_code}", url,
    )  # fmt: skip
    assert out == "2 200", out
    # and open their websockets on it (RFC 8441), which HAProxy turns into an HTTP/1.1
    # upgrade towards the kernel
    r = await alice.client.post(hub.project_url(pid, "api/kernels"), json={"name": "python3"})
    assert r.status_code == 201, r.text
    parts = urlsplit(hub.project_url(pid, f"api/kernels/{r.json()['id']}/channels"))
    out = await asyncio.wait_for(
        asyncio.to_thread(
            execute_over_h2, parts.port, parts.netloc, parts.path, alice.token,
            hub.cert_file, "print(6 * 9)",
        ),
        60,
    )  # fmt: skip
    assert out.strip() == "54"
    await alice.stop_project(pid)


async def test_plain_http_is_redirected_to_https(tls_hub):
    hub = tls_hub
    proxy = hub.app.proxy
    https_port = int(hub.url.rpartition(":")[2])
    plain = f"http://hub.localhost:{proxy.http_redirect_port}"
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{plain}/hub/login?next=%2Fhub%2Fprojects")
        assert r.status_code == 301
        assert r.headers["location"] == (
            f"https://hub.localhost:{https_port}/hub/login?next=%2Fhub%2Fprojects"
        )
        # a project's host stays the project's; other methods keep theirs (308)
        r = await client.post(
            f"http://p1.hub.localhost:{proxy.http_redirect_port}/user/p1/api/kernels"
        )
        assert r.status_code == 308
        assert r.headers["location"] == f"https://p1.hub.localhost:{https_port}/user/p1/api/kernels"
    # nothing else answers on the plain port: https on the https port only
    async with httpx.AsyncClient(verify=hubfixture.TLS) as client:
        r = await client.get(f"https://hub.localhost:{https_port}/hub/login")
        assert r.status_code == 200


async def test_a_dead_target_gets_the_hubs_error_page(tls_hub):
    hub = tls_hub
    bob, pid = await running_project(hub, "Killed")
    spec = hub.app.users[pid].proxy_spec
    # the route's server gone before the hub noticed: a container that died is noticed
    # at the next poll (a local server's route goes at once: test_port_squatting), so
    # the route points where nothing listens
    route = (await hub.app.proxy.get_all_routes())[spec]
    await hub.app.proxy.add_route(spec, f"http://127.0.0.1:{unused_port()}", route["data"])
    try:
        # each waits for HAProxy's two tries, a second apart: all at once
        page, read, post = await asyncio.gather(
            # a browser opening the project
            bob.client.get(hub.project_url(pid, "lab"), headers={"Accept": "text/html"}),
            # an API client reading, and one that sends something
            bob.client.get(hub.project_url(pid, "api/contents/note.txt")),
            bob.client.post(hub.project_url(pid, "api/kernels"), json={"name": "python3"}),
        )
        # the hub's page, with CHP's status
        assert page.status_code == 503, (page.status_code, page.text[:300])
        assert page.headers["content-type"].startswith("text/html")
        assert "503 : Service Unavailable" in page.text and "appears to be down" in page.text
        # made without the person's cookies: it sets none
        assert "set-cookie" not in page.headers
        assert read.status_code == 503
        # a plain 503 for what sends a body: it does not go to the hub
        assert post.status_code == 503 and "not answering" in post.text, post.text
        # the route was there all along: these answers were the dead target's
        assert spec in await hub.app.proxy.get_all_routes()
    finally:
        await bob.stop_project(pid)
    # stopped, the project's host gets the hub's own answer again
    r = await bob.client.get(hub.project_url(pid, "api/contents/note.txt"))
    assert r.headers.get("server", "").startswith("TornadoServer"), (r.status_code, r.headers)


def served_certificate(port):
    """The certificate (DER) HAProxy presents on a new connection."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="hub.localhost") as tls:
            return tls.getpeercert(binary_form=True)


def der(cert_file):
    with open(cert_file, "rb") as f:
        return x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)


async def test_a_renewed_certificate_is_served_without_a_restart(tls_hub):
    hub = tls_hub
    proxy = hub.app.proxy
    port = int(hub.url.rpartition(":")[2])
    haproxy_pid = proxy.process.pid
    assert await asyncio.to_thread(served_certificate, port) == der(hub.cert_file)
    # the admin's renewal (certbot's, say): new files at the same paths
    cert_file, key_file = make_certificate(os.path.join(hub.root, "tls-renewed"))
    trust(cert_file)
    os.replace(key_file, hub.key_file)
    os.replace(cert_file, hub.cert_file)
    deadline = asyncio.get_running_loop().time() + 10
    while await asyncio.to_thread(served_certificate, port) != der(hub.cert_file):
        assert asyncio.get_running_loop().time() < deadline, "the renewed certificate is not served"
        await asyncio.sleep(0.2)
    # the same HAProxy, and the copy it starts with next time is the new one too
    assert proxy.process.pid == haproxy_pid
    with open(os.path.join(proxy.abs_state_dir, "tls.pem")) as f:
        assert der(f.name) == der(hub.cert_file)
