# Two hubs, one active (smchub/leader.py): the same file on both hub machines,
# hub1.example.org (192.0.2.11) and hub2.example.org (192.0.2.12), with
# examples/two_hubs_haproxy.cfg on the front machine (192.0.2.10), which also runs
# configurable-http-proxy. Both hubs use one PostgreSQL database: the first to start is
# active, the other stands by (its /hub/health answers 503, so HAProxy sends it nothing)
# and takes over within active_hub_lease seconds of the active hub's death, freeze, or
# loss of its network or database.
#
# What outlives the active hub: the proxy (it runs on the front machine and keeps
# routing running projects while no hub is active), projects on Docker, Swarm and
# Kubernetes nodes (the next hub finds them running and keeps them), course jobs and
# deadlines (in the database; the next hub resumes them). Projects on a hub's local node
# run on that hub's machine: they are lost with it, so a two-hub site uses container
# nodes.
# Run on each hub machine with:  smchub -f examples/two_hubs_config.py

import os

c = get_config()  # noqa: F821

c.JupyterHub.db_url = "postgresql://smchub@db.example.org/smchub"
# seconds within which a frozen or cut-off active hub gives up (the standby then takes
# over): shorter fails over sooner, longer rides out longer stalls
c.SMCHub.active_hub_lease = 10

# the hub's own port, where HAProxy checks /hub/health and sends the hub's traffic
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
# projects, the proxy and services reach whichever hub is active through HAProxy (with
# this set, JupyterHub would bind it too unless hub_bind_url says otherwise)
c.JupyterHub.hub_connect_url = "http://192.0.2.10:8082"

# configurable-http-proxy runs on the front machine, started by systemd, not by a hub:
#   CONFIGPROXY_AUTH_TOKEN=... configurable-http-proxy --ip 127.0.0.1 --port 8000 \
#       --api-ip 192.0.2.10 --api-port 8001 --default-target http://192.0.2.10:8082 \
#       --host-routing     (each project is its own origin, on a subdomain)
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "http://192.0.2.10:8001"
c.ConfigurableHTTPProxy.auth_token = os.environ["CONFIGPROXY_AUTH_TOKEN"]
c.JupyterHub.bind_url = "https://hub.example.org"
c.JupyterHub.subdomain_host = "https://hub.example.org"

# the same secrets on both machines: a session signed by one hub is valid on the other
c.JupyterHub.cookie_secret_file = "/etc/smchub/cookie_secret"
# a hub stopped for maintenance leaves projects running for the other to keep
c.JupyterHub.cleanup_servers = False

# container nodes, whose projects outlive either hub machine
c.SMCHub.compute_nodes = [
    {
        # over TCP with mutual TLS (docker/README.md), reached from either hub machine
        "name": "node-c",
        "backend": "docker",
        "url": "tcp://192.0.2.21:2376",
        "cpu": 16,
        "memory_mb": 64000,
        "options": {
            "host_ip": "192.0.2.21",
            "tls_ca": "/srv/smchub/tls/ca.pem",
            "tls_cert": "/srv/smchub/tls/hub-cert.pem",
            "tls_key": "/srv/smchub/tls/hub-key.pem",
        },
    },
]
# containers reach the active hub's API through the proxy, never one hub's own port
c.DockerBackend.hub_api_url = "https://hub.example.org/hub/api"
c.SMCHub.data_dir = "/srv/smchub/data"
