"""POST smc/api/exec."""

import asyncio
import json
import os
import time

import psutil
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="function")


def run(api, body, **kwargs):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return api("smc", "api", "exec", method="POST", body=body, **kwargs)


async def ok(api, body):
    r = await run(api, body)
    assert r.code == 200, r.body
    return json.loads(r.body)


async def refused(api, body, code=400):
    r = await run(api, body)
    assert r.code == code, r.body
    return json.loads(r.body)["message"]


async def test_program_with_arguments(api):
    result = await ok(api, {"command": "printf", "args": ["%s|%s", "a b", "$HOME"]})
    assert result == {
        "stdout": "a b|$HOME",
        "stderr": "",
        "exit_code": 0,
        "timed_out": False,
        "truncated": False,
    }


async def test_bash_script_gets_args_as_positional_parameters(api):
    result = await ok(
        api,
        {
            "command": 'echo "one:$1 two:$2"; echo oops >&2; exit 3',
            "args": ["x y", "z"],
            "bash": True,
        },
    )
    assert result["stdout"] == "one:x y two:z\n"
    assert result["stderr"] == "oops\n"
    assert result["exit_code"] == 3


async def test_runs_in_the_home_or_a_folder_of_it(api, home):
    (home / "sub" / "deeper").mkdir(parents=True)
    assert (await ok(api, {"command": "pwd"}))["stdout"] == f"{os.path.realpath(home)}\n"
    result = await ok(api, {"command": "pwd", "cwd": "sub/deeper"})
    assert result["stdout"] == f"{os.path.realpath(home / 'sub' / 'deeper')}\n"


async def test_timeout_kills_the_whole_process_group(api):
    started = time.monotonic()
    result = await ok(
        api,
        {"command": "sleep 60 & echo $!; wait", "bash": True, "timeout": 0.5},
    )
    assert time.monotonic() - started < 5
    assert result["timed_out"] is True
    assert result["exit_code"] == -9
    background = int(result["stdout"])
    # the background sleep went with its shell, not only the shell itself
    for _ in range(50):
        try:
            if psutil.Process(background).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"background process {background} survived the timeout")


async def test_output_is_capped_while_the_command_runs_on(api):
    # 5 MB is far more than a pipe holds: the command would hang if output were not drained
    result = await ok(
        api,
        {
            "command": "head -c 5000000 /dev/zero | tr '\\0' x; echo done >&2",
            "bash": True,
            "max_output": 1000,
            "timeout": 20,
        },
    )
    assert result["stdout"] == "x" * 1000
    assert result["stderr"] == "done\n"
    assert result["truncated"] is True
    assert result["timed_out"] is False
    assert result["exit_code"] == 0


async def test_default_limits_come_from_config(api, localhub):
    localhub.exec_max_output = 10
    localhub.exec_timeout = 0.3
    result = await ok(api, {"command": "echo 0123456789abcdef; sleep 10", "bash": True})
    assert result["stdout"] == "0123456789"
    assert result["truncated"] is True
    assert result["timed_out"] is True


async def test_limits_above_the_maximum_are_refused(api, localhub):
    message = await refused(api, {"command": "true", "timeout": 601})
    assert "limit of 600 seconds" in message
    message = await refused(api, {"command": "true", "max_output": 16 * 1024 * 1024 + 1})
    assert "limit of 16777216 bytes" in message
    localhub.exec_timeout_max = 5
    message = await refused(api, {"command": "true", "timeout": 5.5})
    assert "limit of 5 seconds" in message
    assert (await ok(api, {"command": "true", "timeout": 5}))["exit_code"] == 0


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        ({}, "command is required"),
        ({"command": ""}, "command is required"),
        ({"command": 5}, "command is required"),
        ({"command": "ls", "args": "-l"}, "args must be a list of strings"),
        ({"command": "ls", "args": [1]}, "args must be a list of strings"),
        ({"command": "ls", "bash": "yes"}, "bash must be true or false"),
        ({"command": "ls", "timeout": "10"}, "timeout must be a positive number"),
        ({"command": "ls", "timeout": 0}, "timeout must be a positive number"),
        ({"command": "ls", "timeout": True}, "timeout must be a positive number"),
        (b'{"command": "ls", "timeout": NaN}', "timeout must be a positive number"),
        ({"command": "ls", "max_output": -1}, "max_output must be a whole number"),
        ({"command": "ls", "max_output": 1.5}, "max_output must be a whole number"),
        ({"command": "ls", "cwd": 3}, "cwd must be a string"),
        ({"command": "ls", "colour": "red"}, "Unknown field(s) colour"),
        ({"command": "ls", "args": ["a\0b"]}, "must not contain NUL bytes"),
        ({"command": "no-such-program-here"}, "no such program: 'no-such-program-here'"),
    ],
)
async def test_bad_requests(api, body, message):
    assert message in await refused(api, body)


async def test_body_size_is_limited(api, localhub):
    localhub.exec_max_body = 100
    message = await refused(api, {"command": "echo", "args": ["x" * 200]}, code=413)
    assert "the limit is 100 bytes" in message


async def test_cwd_is_confined(api, home, outside):
    (home / "file").write_text("x")
    os.symlink(outside, home / "out")
    for cwd, message in [
        ("..", "cwd escapes the project home"),
        ("/tmp", "cwd must be relative to the project home"),
        ("out", "cwd escapes the project home through a symbolic link"),
        ("file", "cwd is not a folder"),
        ("missing", "cwd is not a folder"),
    ]:
        assert message in await refused(api, {"command": "pwd", "cwd": cwd})


async def test_does_not_block_the_server(api):
    command = asyncio.ensure_future(ok(api, {"command": "sleep", "args": ["1"]}))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    r = await api("api", "status")
    assert r.code == 200
    assert time.monotonic() - started < 0.5
    assert not command.done()
    assert (await command)["exit_code"] == 0


async def test_exec_needs_authentication(api, home):
    r = await run(
        api, {"command": "touch", "args": ["pwned"]}, headers={"Authorization": "token wrong"}
    )
    assert r.code == 403
    assert not (home / "pwned").exists()
