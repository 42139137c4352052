"""A class arriving at once: 200 people create a project and list theirs, through the proxy."""

import asyncio

import httpx
import pytest

from smchub import orm

PEOPLE = 200


@pytest.mark.timeout(300)
async def test_200_people_at_once(hub):
    people = [await hub.person() for _ in range(PEOPLE)]
    # a new connection for every request: a kept-alive connection can be closed by
    # configurable-http-proxy (after 5 s idle) just as a request goes down it, which a
    # browser retries but a POST through httpx cannot; seen once in a loaded run even
    # with a 1 s client expiry
    limits = httpx.Limits(max_connections=PEOPLE, max_keepalive_connections=0)
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
