"""GET smc/raw/<path>: a file's bytes, as SageMathCloud's /raw/ served them."""

import asyncio
import mimetypes
import os
import stat
from email.utils import formatdate

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.iostream import StreamClosedError

from .base import LocalHubHandler

CHUNK = 256 * 1024


def content_type(name: str) -> str:
    """The Content-Type to send for a file name; octet-stream when unknown."""
    guessed, encoding = mimetypes.guess_type(name)
    # x.tar.gz is a gzip file for HTTP, not a tar file in a gzip transfer encoding
    if encoding == "gzip":
        return "application/gzip"
    if encoding is not None or guessed is None:
        return "application/octet-stream"
    return guessed


def open_regular_file(path: str) -> int:
    """A read-only descriptor on `path`, which must be a regular file.

    O_NONBLOCK keeps a FIFO from blocking the open; the fstat then refuses it.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        raise OSError("not a regular file")
    return fd


class RawHandler(LocalHubHandler):
    """Stream a file of the project home, with a Content-Type guessed from its name.

    Served under the API handlers' Content-Security-Policy (default-src 'none'), so an HTML
    file is shown, not run. Authorized as reading the "contents" resource.
    """

    auth_resource = "contents"

    @web.authenticated
    @authorized
    async def get(self, path):
        real = self.resolve(path)
        try:
            fd = await asyncio.to_thread(open_regular_file, real)
        except FileNotFoundError:
            raise web.HTTPError(404, f"no such file in the project home: {path!r}") from None
        except IsADirectoryError:
            raise web.HTTPError(
                400, f"{path!r} is a folder; download folders with smc/api/archive"
            ) from None
        except PermissionError:
            raise web.HTTPError(403, f"the project's user cannot read {path!r}") from None
        except OSError as e:
            raise web.HTTPError(400, f"cannot serve {path!r}: {e.strerror or e}") from None
        with os.fdopen(fd, "rb", buffering=0) as f:
            st = os.fstat(fd)
            self.set_header("Content-Type", content_type(os.path.basename(path)))
            self.set_header("Content-Length", str(st.st_size))
            self.set_header("Last-Modified", formatdate(st.st_mtime, usegmt=True))
            # a file that grows while it is sent is cut at the size announced above
            remaining = st.st_size
            while remaining > 0:
                chunk = await asyncio.to_thread(f.read, min(CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                self.write(chunk)
                try:
                    await self.flush()
                except StreamClosedError:
                    # the client went away; nothing left to do
                    return
        self.finish()
