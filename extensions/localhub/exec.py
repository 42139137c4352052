"""POST smc/api/exec: run a command in the project and return its output."""

import asyncio
import math
import os
import signal
from dataclasses import dataclass

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import LocalHubHandler

FIELDS = {"command", "args", "bash", "cwd", "timeout", "max_output"}

READ_CHUNK = 64 * 1024

# after the process group is killed, its pipes close at once, unless a process that
# left the group still holds them: do not wait for that one
KILL_GRACE_SECONDS = 2


@dataclass
class Command:
    """A validated exec request."""

    argv: list[str]
    cwd: str
    timeout: float
    max_output: int

    @property
    def program(self) -> str:
        return self.argv[0]


def parse_command(
    data: dict, default_timeout: float, max_timeout: float, default_output: int, max_output: int
) -> Command:
    """The Command a request body asks for; ValueError with the reason when it is wrong."""
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise ValueError(
            f"Unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(FIELDS))}"
        )
    command = data.get("command")
    if not isinstance(command, str) or not command:
        raise ValueError("command is required and must be a non-empty string")
    args = data.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ValueError("args must be a list of strings")
    if any("\0" in a for a in [command, *args]):
        raise ValueError("command and args must not contain NUL bytes")
    bash = data.get("bash", False)
    if not isinstance(bash, bool):
        raise ValueError("bash must be true or false")
    cwd = data.get("cwd", "")
    if not isinstance(cwd, str):
        raise ValueError("cwd must be a string, relative to the project home")
    timeout = data.get("timeout", default_timeout)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ValueError("timeout must be a positive number of seconds")
    if timeout > max_timeout:
        raise ValueError(f"timeout {timeout} is above the limit of {max_timeout:g} seconds")
    output = data.get("max_output", default_output)
    if isinstance(output, bool) or not isinstance(output, int) or output < 0:
        raise ValueError("max_output must be a whole number of bytes, 0 or more")
    if output > max_output:
        raise ValueError(f"max_output {output} is above the limit of {max_output} bytes")
    # with bash, args become $1, $2, ... of the script; "bash" is its $0
    argv = ["bash", "-c", command, "bash", *args] if bash else [command, *args]
    return Command(argv=argv, cwd=cwd, timeout=timeout, max_output=output)


class CappedOutput:
    """One output stream, kept up to a number of bytes.

    Output past the cap is read and dropped rather than left in the pipe, so a chatty
    command is not blocked on a full pipe and still ends by itself (or at its timeout).
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    async def read_from(self, stream: asyncio.StreamReader):
        while chunk := await stream.read(READ_CHUNK):
            room = self.limit - len(self.data)
            if len(chunk) > room:
                self.truncated = True
            if room > 0:
                self.data += chunk[:room]

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


async def run_command(command: Command, cwd: str) -> dict:
    """Run `command` in `cwd`, in a process group of its own, and collect its output.

    The command has no stdin. On timeout the whole process group is killed. Processes the
    command leaves running in the background with their output redirected are not waited
    for, and not killed, as with a terminal.
    """
    process = await asyncio.create_subprocess_exec(
        *command.argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    stdout, stderr = CappedOutput(command.max_output), CappedOutput(command.max_output)
    finished = asyncio.gather(
        stdout.read_from(process.stdout), stderr.read_from(process.stderr), process.wait()
    )
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(finished), command.timeout)
    except TimeoutError:
        timed_out = True
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            await asyncio.wait_for(finished, KILL_GRACE_SECONDS)
        except TimeoutError:
            pass
    return {
        "stdout": stdout.text(),
        "stderr": stderr.text(),
        "exit_code": process.returncode,
        "timed_out": timed_out,
        "truncated": stdout.truncated or stderr.truncated,
    }


class ExecHandler(LocalHubHandler):
    """Run a program (or a bash script) as the project's user, bounded in time and output.

    Authorized as executing on the "terminals" resource: running a command is what a
    terminal does.
    """

    @web.authenticated
    @authorized(action="execute", resource="terminals")
    async def post(self):
        localhub = self.localhub
        data = self.read_json_object(localhub.exec_max_body)
        try:
            command = parse_command(
                data,
                default_timeout=localhub.exec_timeout,
                max_timeout=localhub.exec_timeout_max,
                default_output=localhub.exec_max_output,
                max_output=localhub.exec_max_output_max,
            )
        except ValueError as e:
            raise web.HTTPError(400, str(e)) from None
        cwd = self.resolve(command.cwd, "cwd")
        if not os.path.isdir(cwd):
            raise web.HTTPError(400, f"cwd is not a folder in the project home: {command.cwd!r}")
        try:
            result = await run_command(command, cwd)
        except FileNotFoundError:
            raise web.HTTPError(400, f"no such program: {command.program!r}") from None
        except PermissionError:
            raise web.HTTPError(400, f"program is not executable: {command.program!r}") from None
        self.finish(result)
