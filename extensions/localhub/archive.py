"""GET/PUT smc/api/archive: a file or folder of the home as a tar stream, and back.

This is how files travel between projects (copies, course assignments): the hub GETs
from one project server and PUTs into another. Neither direction holds the archive in
memory: GET packs in a thread into a pipe that the handler drains, PUT spools the body to
an unnamed temporary file in the home and unpacks it from there once it is complete.
"""

import asyncio
import errno
import fcntl
import os
import posixpath
import tempfile
from urllib.parse import quote

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.iostream import PipeIOStream, StreamClosedError

from .base import LocalHubHandler
from .limits import MIB, project_limits
from .paths import clean_relative
from .tarextract import ArchiveRefused, ArchiveTooBig, unpack
from .tarpack import ArchiveTooLarge, scan_tree, write_tar

CHUNK = 256 * 1024
PIPE_SIZE = 1024 * 1024

COMPRESSIONS = {"": None, "none": None, "gz": "gz", "gzip": "gz"}


def content_disposition(filename: str) -> str:
    """An attachment header for any file name: ASCII for old clients, UTF-8 (RFC 6266)."""
    fallback = "".join(
        c if c.isascii() and c not in '"\\' and c.isprintable() else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def _widen_pipe(fd: int) -> None:
    # fewer, larger reads on the event loop; the kernel may refuse, which is fine
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (AttributeError, OSError):
        pass


def _pack_into(fd: int, entries, compression) -> None:
    with open(fd, "wb", buffering=CHUNK) as out:
        write_tar(entries, out, compression)


# archives unpack one at a time in a project server (see put)
_UNPACKING = asyncio.Lock()


@web.stream_request_body
class ArchiveHandler(LocalHubHandler):
    """Download a path as a tar stream (GET), or unpack an uploaded tar under a folder (PUT).

    Authorized on the "contents" resource: reading for GET, writing for PUT. A PUT is
    authorized before its body is accepted.
    """

    auth_resource = "contents"

    _spool = None

    def _path_argument(self) -> str:
        path = self.get_query_argument("path", None)
        if path is None:
            raise web.HTTPError(400, "missing query argument: path (use path=. for the home)")
        return path

    # --- GET -------------------------------------------------------------------

    @web.authenticated
    @authorized
    async def get(self):
        path = self._path_argument()
        compression_argument = self.get_query_argument("compression", "")
        if compression_argument not in COMPRESSIONS:
            raise web.HTTPError(
                400,
                f"unknown compression {compression_argument!r}; use compression=gz "
                "or leave it out for a plain tar",
            )
        compression = COMPRESSIONS[compression_argument]
        real = self.resolve(path)
        if not os.path.lexists(real):
            raise web.HTTPError(404, f"no such file or folder in the project home: {path!r}")
        name = posixpath.basename(clean_relative(path))
        renamed = self.get_query_argument("name", None)
        if renamed is not None:
            # the archive's entry called otherwise (how the hub copies a.txt as b.txt)
            if not renamed or "/" in renamed or renamed in (".", "..") or "\0" in renamed:
                raise web.HTTPError(400, "name must be a single file or folder name")
            name = renamed
        if self.get_query_argument("contents", "") in ("1", "true"):
            if renamed is not None:
                raise web.HTTPError(400, "contents=1 and name do not go together")
            # what is inside the folder, without the folder itself (how the hub copies
            # one folder onto another of a different name)
            if not os.path.isdir(real):
                raise web.HTTPError(400, f"contents=1 needs a folder, and {path!r} is not one")
            name = ""
        limit = self.localhub.archive_max_bytes
        try:
            packing = await asyncio.to_thread(scan_tree, real, name, limit)
        except ArchiveTooLarge as e:
            raise web.HTTPError(413, f"{path!r} is too large to archive: {e}") from None

        filename = (name or "home") + (".tar.gz" if compression else ".tar")
        self.set_header("Content-Type", "application/gzip" if compression else "application/x-tar")
        self.set_header("Content-Disposition", content_disposition(filename))
        self.set_header("X-SMC-Files", str(packing.files))
        self.set_header("X-SMC-Bytes", str(packing.bytes))
        self.set_header("X-SMC-Skipped", str(packing.skipped))

        read_fd, write_fd = os.pipe()
        _widen_pipe(write_fd)
        pipe = PipeIOStream(read_fd)
        packer = asyncio.ensure_future(
            asyncio.to_thread(_pack_into, write_fd, packing.entries, compression)
        )
        client_gone = False
        try:
            while True:
                try:
                    chunk = await pipe.read_bytes(CHUNK, partial=True)
                except StreamClosedError:
                    # the packer closed its end: all sent
                    break
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            client_gone = True
        finally:
            # a packer still writing stops with EPIPE
            pipe.close()
        try:
            await packer
        except Exception as e:
            if client_gone:
                return
            # the status line has gone out: cutting the connection is the only way left
            # to tell the client that the archive is incomplete
            self.log.error("archive of %r failed while streaming: %s", path, e)
            self.request.connection.close()
            return
        if not client_gone:
            self.finish()

    # --- PUT -------------------------------------------------------------------

    async def prepare(self):
        await super().prepare()
        if self.request.method != "PUT":
            return
        # the body is streamed to disk as it arrives, so refuse before accepting it
        # instead of in put(), which runs only once the whole body is in
        user = self.current_user
        if not user:
            raise web.HTTPError(403, "authentication required")
        if not await ensure_async(self.authorizer.is_authorized(self, user, "write", "contents")):
            raise web.HTTPError(403, "not authorized to write to the project's files")
        limit = self.localhub.archive_max_upload
        declared = self.request.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise web.HTTPError(413, f"the upload is {declared} bytes; the limit is {limit} bytes")
        path = self._path_argument()
        self._target = self.resolve(path)
        self._target_name = clean_relative(path)
        if os.path.exists(self._target) and not os.path.isdir(self._target):
            raise web.HTTPError(400, "path must name a folder to unpack into, not a file")
        if self.get_query_argument("check", "") in ("1", "true"):
            # a dry run, so a sender can learn that the target is refused before it
            # starts streaming (a refusal mid-upload can only cut the connection)
            self.finish({"path": self._target_name, "ok": True})
            return
        # the limit is enforced in data_received, with a 413 that names it; tornado's own
        # check would only send a bare 400
        self.request.connection.set_max_body_size(2**62)
        self._received = 0
        self._spool = tempfile.TemporaryFile(dir=self.home, prefix=".smc-upload-")

    async def data_received(self, chunk: bytes):
        if self._spool is None:
            return
        self._received += len(chunk)
        limit = self.localhub.archive_max_upload
        if self._received > limit:
            self._close_spool()
            error = web.HTTPError(413, f"the upload went past the limit of {limit} bytes")
            self.send_error(413, exc_info=(web.HTTPError, error, None))
            return
        await asyncio.to_thread(self._spool.write, chunk)

    async def _disk_room(self) -> tuple[int | None, int | None]:
        """(bytes the home may still take under the project's disk quota, the quota in MB).

        (None, None) when the hub set no quota. The home is measured afresh: an archive
        unpacked a moment ago counts.
        """
        quota_mb = project_limits(os.environ)["disk_mb"]
        if quota_mb is None:
            return None, None
        usage = await self.localhub.disk_usage.measure(
            self.home, 0, self.localhub.disk_usage_timeout
        )
        return max(0, quota_mb * MIB - usage["used"]), quota_mb

    @web.authenticated
    @authorized
    async def put(self):
        self._body_complete = True
        spool, self._spool = self._spool, None
        try:
            backup = self.get_query_argument("backup", "") in ("1", "true")
            # one archive at a time per server: two measured against the same free room
            # would each fit and together pass the quota
            async with _UNPACKING:
                room, quota_mb = await self._disk_room()
                counts = await asyncio.to_thread(unpack, spool, self._target, backup, room)
        except ArchiveTooBig as e:
            raise web.HTTPError(
                413,
                f"archive refused, nothing was written: its files add up to "
                f"{e.size / MIB:.1f} MB, and the project's disk quota of {quota_mb} MB "
                f"leaves room for {e.room / MIB:.1f} MB; free some space or ask an admin "
                "for a larger quota",
            ) from None
        except ArchiveRefused as e:
            raise web.HTTPError(400, f"archive refused, nothing was written: {e}") from None
        except OSError as e:
            full = e.errno in (errno.ENOSPC, errno.EDQUOT)
            raise web.HTTPError(
                507 if full else 500,
                f"unpacking stopped part way, some files were written: {e}",
            ) from None
        finally:
            spool.close()
        self.finish({"path": self._target_name, **counts})

    _body_complete = False

    def finish(self, chunk=None):
        if self.request.method == "PUT" and not self._body_complete and not self._headers_written:
            # answered before the body was read (refused, or a dry run): tornado then closes
            # the connection without saying so, and a proxy keeping its connections to the
            # server open (configurable-http-proxy does) would send its next request, someone
            # else's maybe, down the closed one and answer it 503
            self.set_header("Connection", "close")
        return super().finish(chunk)

    def _close_spool(self):
        spool, self._spool = self._spool, None
        if spool is not None:
            spool.close()

    def on_connection_close(self):
        self._close_spool()
        super().on_connection_close()

    def on_finish(self):
        self._close_spool()
