"""`smchub` with no config, in an empty folder, as `make run` starts it."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

import httpx
import pytest

SMCHUB = os.path.join(os.path.dirname(sys.executable), "smchub")
URL = "http://hub.localhost:8000"


def port_free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
async def embedded_hub():
    if not port_free(8000):
        pytest.skip("something else listens on 127.0.0.1:8000")
    folder = tempfile.mkdtemp(prefix="smchub-embedded-")
    os.chmod(folder, 0o711)
    log = open(os.path.join(folder, "hub.log"), "wb")
    proc = subprocess.Popen(
        [SMCHUB], cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        async with httpx.AsyncClient(base_url=URL, timeout=30) as client:
            for _ in range(300):
                try:
                    if (await client.get("/hub/api")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, open(os.path.join(folder, "hub.log")).read()
                await asyncio.sleep(0.1)
        yield folder
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        from .hubfixture import remove_project_accounts

        projects = os.path.join(folder, "smchub-data", "projects")
        remove_project_accounts(os.listdir(projects) if os.path.isdir(projects) else [])
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.timeout(180)
async def test_sign_up_create_start_and_land_in_jupyterlab(embedded_hub):
    folder = embedded_hub
    # SQLite and the data folder beside it
    assert os.path.exists(os.path.join(folder, "jupyterhub.sqlite"))
    assert os.path.isdir(os.path.join(folder, "smchub-data", "projects"))
    async with httpx.AsyncClient(base_url=URL, timeout=60, follow_redirects=True) as browser:
        r = await browser.get("/")
        assert r.url.path == "/hub/login"
        assert "/hub/signup" in r.text
        r = await browser.get("/hub/signup")
        r = await browser.post(
            "/hub/signup",
            data={
                "username": "ada",
                "email": "ada@example.org",
                "password": "analytical engine",
                "password_confirm": "analytical engine",
                "_xsrf": browser.cookies.get("_xsrf"),
            },
        )
        assert r.status_code == 200
        assert r.url.path == "/hub/projects"
        headers = {"X-XSRFToken": browser.cookies.get("_xsrf", path="/hub/")}
        r = await browser.post("/hub/api/projects", json={"title": "Notes"}, headers=headers)
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        # each project on its own origin, which browsers resolve to this machine
        lab = r.json()["url"] + "lab"
        assert lab == f"http://{pid}.hub.localhost:8000/user/{pid}/lab"
        # the "Open" button: JupyterHub's spawn page, then JupyterLab
        r = await browser.get(f"/hub/spawn/{pid}", params={"next": lab})
        for _ in range(120):
            if str(r.url) == lab:
                break
            await asyncio.sleep(0.5)
            r = await browser.get(lab)
        assert r.status_code == 200
        assert str(r.url) == lab
        assert "JupyterLab" in r.text
        r = await browser.get("/hub/api/projects/" + pid)
        assert r.json()["state"] == "running"
        assert r.json()["node"] == "local"
        if os.geteuid() == 0:
            home = os.path.join(folder, "smchub-data", "projects", pid)
            assert os.stat(home).st_uid != 0
