"""Where the hub reaches a Docker project's server: decided from the container's state."""

from smchub.spawners.docker import SERVER_PORT, DockerBackend, server_address

ATTRS = {
    "NetworkSettings": {
        "Networks": {"smchub-projects": {"IPAddress": "203.0.113.130"}},
        "Ports": {f"{SERVER_PORT}/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}]},
    }
}


def test_a_local_engine_s_server_is_reached_on_the_projects_network():
    assert server_address(ATTRS, "smchub-projects") == ("203.0.113.130", SERVER_PORT)


def test_a_remote_engine_s_server_is_reached_on_its_published_port():
    assert server_address(ATTRS, "smchub-projects", "node-b.example.org") == (
        "node-b.example.org",
        49153,
    )


def test_which_engines_are_remote_and_where_they_publish():
    local = DockerBackend(node_name="a", node_url="unix:///var/run/docker.sock")
    assert local.engine_is_local
    remote = DockerBackend(node_name="b", node_url="tcp://node-b.example.org:2376")
    assert not remote.engine_is_local
    assert remote.host_ip == "node-b.example.org"
    named = DockerBackend(
        node_name="c", node_url="tcp://c.example.org:2376", node_options={"host_ip": "198.51.100.7"}
    )
    assert named.host_ip == "198.51.100.7"
    # a socket forwarded from another machine: naming where its servers are published
    # says the engine is there, not here
    forwarded = DockerBackend(
        node_name="d",
        node_url="unix:///run/node-d.sock",
        node_options={"host_ip": "198.51.100.11"},
    )
    assert not forwarded.engine_is_local
    assert forwarded.host_ip == "198.51.100.11"
