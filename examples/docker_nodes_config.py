# smchub with two Docker compute nodes.
#
# Each node is a machine running Docker Engine with smchub's project image loaded
# (docker/build-images.sh builds it; docker/load-image.sh copies it to other engines).
# Project servers run as containers on the node's host network, each with a named
# volume holding its home; placement keeps a project on the node that holds its volume.
# Run with:  smchub -f examples/docker_nodes_config.py

c = get_config()  # noqa: F821

c.JupyterHub.bind_url = "http://127.0.0.1:8000"
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
        "options": {"image": IMAGE, "host_ip": "127.0.0.1"},
    },
    {
        # an engine on another machine, over TCP with mutual TLS (see docker/README.md);
        # host_ip is where the hub reaches that machine's project servers
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
# remote containers must reach the hub's API: listen where they can connect
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = "http://hub.example.org:8081"

# each project gets this much unless an admin changes it; CPUs may be handed out
# four times over, memory once
c.SMCHub.default_quotas = {"memory_mb": 2000, "cpu": 1.0, "disk_mb": 5000, "idle_timeout_s": 3600}
c.SMCHub.overcommit = {"memory": 1.0, "cpu": 4.0}
c.ProjectSpawner.start_timeout = 120
