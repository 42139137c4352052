"""The hub's project-server service (app.servers), used with no request at all: what a
timer, a course job or a move does. Real hub, proxy and project servers."""

import httpx
import pytest

from smchub import orm
from smchub.servers import ServerError

pytestmark = pytest.mark.timeout(300)


async def test_the_hub_starts_and_stops_a_project_without_a_request(hub):
    owner = await hub.person()
    project_id = (await owner.create_project("Background"))["id"]
    servers = hub.app.servers
    user = servers.user_for(hub.db.get(orm.Project, project_id))

    await servers.ensure_running(user)
    # the person sees it running, and the hub reaches it with the server's own token
    assert (await owner.api("GET", f"projects/{project_id}")).json()["state"] == "running"
    async with httpx.AsyncClient() as client:
        r = await client.get(servers.url(user, "api/status"), headers=servers.headers(user))
    assert r.status_code == 200, r.text
    # and it is routed through the proxy, as a start from a page is
    routes = await hub.app.proxy.get_all_routes()
    assert user.proxy_spec in routes

    await servers.stop(user, wait=True)
    assert (await owner.api("GET", f"projects/{project_id}")).json()["state"] == "stopped"
    assert user.proxy_spec not in await hub.app.proxy.get_all_routes()
    # a second stop of a stopped server does nothing
    await servers.stop(user, wait=True)


async def test_the_active_server_limit_holds_for_the_api_and_for_background_work(hub):
    owner = await hub.person()
    running = (await owner.create_project("Running"))["id"]
    other = (await owner.create_project("Refused"))["id"]
    await owner.start_project(running)
    app = hub.app
    app.active_server_limit = app.users.count_active_users()["active"]
    try:
        r = await owner.api("POST", f"projects/{other}/start")
        assert r.status_code == 429, r.text
        assert r.json()["message"] == "Active user limit exceeded. Try again in a few minutes."
        user = app.servers.user_for(hub.db.get(orm.Project, other))
        with pytest.raises(ServerError) as refused:
            await app.servers.ensure_running(user)
        assert refused.value.status == 429
        assert not user.spawner.active
    finally:
        app.active_server_limit = 0
    await owner.start_project(other)
    await owner.stop_project(other)
    await owner.stop_project(running)
