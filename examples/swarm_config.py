# smchub on a Docker Swarm: every machine of the swarm is a compute node.
#
# The hub talks to one Swarm manager. Its machines become smchub nodes by themselves
# (named swarm-<hostname>, with the CPUs, memory and labels Swarm reports; checked every
# node_check_interval seconds, and marked down while Swarm has them down). Each running
# project is a Swarm service of one replica pinned to the machine placement chose, in a
# network namespace of its own on the swarm's bridge network smchub-projects (no overlay,
# no routing mesh), its server published in host mode on a port of the machine, with its
# home in a volume on that machine. Its container has no capabilities, cannot gain
# privileges, has a pids limit and does not reach other projects' containers
# (enable_icc=false). It still reaches what listens on the machine's own addresses: keep
# other services off these machines (see the README's security model). The admin makes
# the network once, on engines that manage iptables:
#   on every machine:  docker network create --config-only --subnet <a free subnet> \
#                        -o com.docker.network.bridge.enable_icc=false smchub-projects-config
#   on a manager:      docker network create -d bridge --scope swarm \
#                        --config-from smchub-projects-config smchub-projects
# The hub refuses to start a project until that network exists. Draining a machine in
# smchub pauses it in Swarm.
#
# Every machine needs smchub's project image (docker/build-images.sh builds it,
# docker/load-image.sh copies it; see docker/README.md), and each dockerd should run with
# DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 in its environment, or Swarm asks a registry for
# the image at every project start.
# Run with:  smchub -f examples/swarm_config.py

c = get_config()  # noqa: F821

c.JupyterHub.bind_url = "http://127.0.0.1:8000"
# every project on its own origin: wildcard DNS and certificate for *.hub.example.org
c.JupyterHub.subdomain_host = "https://hub.example.org"
c.JupyterHub.db_url = "sqlite:////srv/smchub/jupyterhub.sqlite"
c.SMCHub.data_dir = "/srv/smchub/data"
c.Authenticator.admin_users = {"instructor"}

IMAGE = "smchub/project:latest"  # or the tag build-images.sh printed

c.SMCHub.compute_nodes = [
    {
        # the swarm's own entry: a manager's Docker API. On a manager, its socket; from
        # elsewhere, tcp with mutual TLS (tls_ca, tls_cert, tls_key, as for docker nodes).
        "name": "swarm",
        "backend": "swarm",
        "url": "unix:///var/run/docker.sock",
        # "url": "tcp://manager.example.org:2376",
        "options": {
            "cluster": True,
            "image": IMAGE,
            # "tls_ca": "/srv/smchub/tls/ca.pem",
            # "tls_cert": "/srv/smchub/tls/hub-cert.pem",
            # "tls_key": "/srv/smchub/tls/hub-key.pem",
            # Homes on shared storage instead of each machine's local disk: any Docker
            # volume driver and its options (here the local driver mounting NFS).
            # "volume_driver": "local",
            # "volume_options": {"type": "nfs", "o": "addr=nfs.example.org,rw",
            #                    "device": ":/export/smchub"},
        },
    },
]

# The hub reaches each project server at its machine's swarm address (a machine labelled
# smchub.host_ip=<address> is reached there instead), and the servers call the hub's API:
# listen where the machines can connect, and tell them that address.
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = "http://hub.example.org:8081"

# Servers listen on the machine's own network: ports from this range, which nothing else
# on the machines should use.
c.SwarmBackend.port_range = (20000, 29999)

c.SMCHub.node_check_interval = 10
# each project gets this much unless an admin changes it; Swarm enforces memory and CPU
c.SMCHub.default_quotas = {"memory_mb": 2000, "cpu": 1.0, "disk_mb": 5000, "idle_timeout_s": 3600}
c.SMCHub.overcommit = {"memory": 1.0, "cpu": 4.0}
c.ProjectSpawner.start_timeout = 120
