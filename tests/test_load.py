"""A class arriving at once: 200 people create a project and list theirs, through the proxy."""

import asyncio

import httpx
import pytest

from smchub import orm

PEOPLE = 200


@pytest.mark.timeout(300)
async def test_200_people_at_once(hub):
    people = [await hub.person() for _ in range(PEOPLE)]
    # one connection each, as 200 browsers would have. A client must give up an idle
    # connection before the server does: configurable-http-proxy closes them after 5 s,
    # httpx's default is also 5 s, and a request sent down a connection as the proxy
    # closes it fails ("Server disconnected without sending a response")
    limits = httpx.Limits(max_connections=PEOPLE, keepalive_expiry=1)
    async with httpx.AsyncClient(base_url=hub.url, timeout=120, limits=limits) as client:

        async def arrive(person):
            headers = {"Authorization": f"token {person.token}"}
            r = await client.post(
                "/hub/api/projects", json={"title": f"{person.name}'s work"}, headers=headers
            )
            assert r.status_code == 201, r.text
            created = r.json()["id"]
            r = await client.get("/hub/api/projects", headers=headers)
            assert r.status_code == 200, r.text
            return person, created, [p["id"] for p in r.json()]

        results = await asyncio.gather(*(arrive(p) for p in people), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    for person, created, listed in results:
        # each sees exactly their own project, nobody else's
        assert listed == [created], person.name
    titles = {p.title for p in hub.db.query(orm.Project).filter(orm.Project.id.in_(
        [created for _, created, _ in results]))}  # fmt: skip
    assert len(titles) == PEOPLE
