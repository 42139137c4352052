# smchub on Kubernetes: every project server is a pod, every project home a
# PersistentVolumeClaim.
#
# Needs the kubernetes extra (pip install "smchub[kubernetes]": jupyterhub-kubespawner,
# which brings kubernetes_asyncio). This file is for a hub that runs in the cluster as a
# plain Deployment of the smchub hub image (docker/Dockerfile.hub), with its own
# configurable-http-proxy, under a service account allowed to manage pods, PVCs and
# Secrets in the "smchub" namespace (the Role is in examples/zero-to-jupyterhub.md). To
# run smchub as the hub of the Zero to JupyterHub Helm chart instead, read that file.
# Run with:  smchub -f /srv/smchub/jupyterhub_config.py

c = get_config()  # noqa: F821

# --- where people and project pods reach the hub --------------------------------------
# A Service "smchub" (ports 8000 and 8081) in front of the hub pod; project pods call the
# hub's API through it, and the proxy reaches each project pod at its pod IP.
c.JupyterHub.bind_url = "http://0.0.0.0:8000"
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_url = "http://smchub.smchub.svc.cluster.local:8081"
# project pods outlive a restart of the hub pod; the restarted hub finds them again
c.JupyterHub.cleanup_servers = False

# --- state: on the hub pod's own volume (or PostgreSQL) --------------------------------
c.JupyterHub.db_url = "sqlite:////srv/smchub/jupyterhub.sqlite"
# c.JupyterHub.db_url = "postgresql+psycopg://smchub@postgres.smchub.svc/smchub"
c.JupyterHub.cookie_secret_file = "/srv/smchub/jupyterhub_cookie_secret"
c.SMCHub.data_dir = "/srv/smchub/data"

c.Authenticator.admin_users = {"instructor"}

# --- what every project pod gets -------------------------------------------------------
# Built by docker/build-images.sh and pushed to a registry the cluster pulls from.
c.KubernetesBackend.image = "registry.example.org/smchub/project:0123abcd"
c.KubernetesBackend.image_pull_policy = "IfNotPresent"
# c.KubernetesBackend.image_pull_secrets = ["registry-credentials"]
# where pods, PVCs and the token Secrets live (default: the hub pod's own namespace).
# Keep one namespace for all nodes of a cluster: a project's home is a PVC, and a PVC
# lives in one namespace.
c.KubernetesBackend.namespace = "smchub"
# homes on network storage follow their project to any node; None: the default class
c.KubernetesBackend.storage_class = "standard-rwo"
# size of homes of projects whose disk_mb quota is 0 (a claim needs a size)
c.KubernetesBackend.home_size_without_quota = "10Gi"
# Requests: by default a pod requests 1/overcommit of its quotas (all of its memory, a
# quarter of its CPUs with the overcommit below), so the Kubernetes scheduler counts
# what smchub's placement counts. Set these to request something else:
# c.KubernetesBackend.cpu_guarantee_fraction = 0.5
# c.KubernetesBackend.memory_guarantee_fraction = 1.0

# Quotas become each pod's limits; disk_mb the size of its home PVC (enforced as far as
# the storage driver enforces sizes). Changes apply at a project's next start, except
# that an existing home does not grow (kubectl edit pvc, with a StorageClass that allows
# expansion).
c.SMCHub.default_quotas = {"memory_mb": 2000, "cpu": 1.0, "disk_mb": 5000, "idle_timeout_s": 3600}
c.SMCHub.overcommit = {"memory": 1.0, "cpu": 4.0}
# pulling an image and attaching a volume take a while the first time on a node
c.ProjectSpawner.start_timeout = 300

# --- compute nodes: what placement chooses among ---------------------------------------
# Each entry is a Kubernetes node or a pool of them. Placement picks an entry (sticky: a
# project goes back to the entry that holds its files, new projects spread by free room)
# and the pod is constrained to the machines the entry names, with options.node_selector
# (node labels), options.node_affinity (NodeSelectorTerms) and options.tolerations. The
# capacity (cpu, memory_mb) is what placement may hand out there: at most the nodes'
# allocatable resources. Kubernetes' scheduler still has the last word; a pod it cannot
# place fails to start with its reason ("0/3 nodes are available: ...").
c.SMCHub.compute_nodes = [
    {
        # a pool of general-purpose machines (three with 16 CPUs and 64 GB each)
        "name": "pool-cpu",
        "backend": "kubernetes",
        "cpu": 48,
        "memory_mb": 3 * 60000,
        "options": {"node_selector": {"smchub.io/pool": "cpu"}},
    },
    {
        # a tainted GPU pool, only for projects an admin labels {"gpu": "yes"}
        # (project node_labels are matched against these smchub labels)
        "name": "pool-gpu",
        "backend": "kubernetes",
        "cpu": 32,
        "memory_mb": 120000,
        "labels": {"gpu": "yes"},
        "options": {
            "node_selector": {"smchub.io/pool": "gpu"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
            "image": "registry.example.org/smchub/project-gpu:0123abcd",
        },
    },
    {
        # one machine whose homes are on its own disk, as SageMathCloud's compute
        # servers were: a local-volume class (WaitForFirstConsumer) makes each home on
        # the machine where the project first runs, and the project stays there
        "name": "node-big",
        "backend": "kubernetes",
        "cpu": 64,
        "memory_mb": 500000,
        "labels": {"disk": "local"},
        "options": {
            "node_selector": {"kubernetes.io/hostname": "big-1"},
            "storage_class": "local-path",
        },
    },
]

# --- from outside the cluster ------------------------------------------------------------
# A hub outside the cluster uses a kubeconfig (options.kubeconfig, options.context; the
# node's url, if set, overrides the API server address) and must be reachable from the
# pods (hub_connect_url), and the pods from it (pod IPs are routed only inside most
# clusters): running the hub inside, as above, is simpler.
# {"name": "pool-cpu", "backend": "kubernetes", "cpu": 48, "memory_mb": 180000,
#  "options": {"kubeconfig": "/srv/smchub/kubeconfig", "context": "prod",
#              "node_selector": {"smchub.io/pool": "cpu"}}},
