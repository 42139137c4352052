# smchub with two Docker compute nodes.
#
# Each node is a machine running Docker Engine with smchub's project image loaded
# (docker/build-images.sh builds it; docker/load-image.sh copies it to other engines).
# Project servers run as containers on a bridge network of their node (no capabilities,
# no-new-privileges, a pids limit), each with a named volume holding its home; placement
# keeps a project on the node that holds its volume. Each project is its own origin:
# wildcard DNS (and a wildcard certificate) for *.hub.example.org.
# Run with:  smchub -f examples/docker_nodes_config.py

c = get_config()  # noqa: F821

c.JupyterHub.bind_url = "http://127.0.0.1:8000"
c.JupyterHub.subdomain_host = "https://hub.example.org"
# the projects' networks: pick subnets no other network of these machines uses
c.DockerBackend.network_subnet = "172.30.0.0/16"
c.JupyterHub.db_url = "sqlite:////srv/smchub/jupyterhub.sqlite"
c.SMCHub.data_dir = "/srv/smchub/data"
c.Authenticator.admin_users = {"instructor"}

IMAGE = "smchub/project:latest"  # or the tag build-images.sh printed

c.SMCHub.compute_nodes = [
    {
        # an engine on this machine, through its socket
        "name": "node-a",
        "backend": "docker",
        "url": "unix:///var/run/docker.sock",
        "cpu": 16,
        "memory_mb": 64000,
        "labels": {"zone": "a"},
        # its containers reach the hub through a relay on the network's gateway
        "options": {"image": IMAGE},
    },
    {
        # an engine on another machine, over TCP with mutual TLS (see docker/README.md);
        # its servers are published on ports of host_ip, where the hub reaches them
        "name": "node-b",
        "backend": "docker",
        "url": "tcp://node-b.example.org:2376",
        "cpu": 16,
        "memory_mb": 64000,
        "labels": {"zone": "b"},
        "options": {
            "image": IMAGE,
            "host_ip": "node-b.example.org",
            "tls_ca": "/srv/smchub/tls/ca.pem",
            "tls_cert": "/srv/smchub/tls/hub-cert.pem",
            "tls_key": "/srv/smchub/tls/hub-key.pem",
        },
    },
]
# containers on other machines reach the hub's API through its public address, the
# proxy, never the hub's own port
c.DockerBackend.hub_api_url = "https://hub.example.org/hub/api"

# each project gets this much unless an admin changes it; CPUs may be handed out
# four times over, memory once
c.SMCHub.default_quotas = {"memory_mb": 2000, "cpu": 1.0, "disk_mb": 5000, "idle_timeout_s": 3600}
c.SMCHub.overcommit = {"memory": 1.0, "cpu": 4.0}
c.ProjectSpawner.start_timeout = 120
