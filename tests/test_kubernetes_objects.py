"""The kubernetes backend's objects (pod, PVC, Secret) and its calls to the API server.

No cluster here. The specs are checked in the JSON form kubernetes_asyncio would send.
The last tests drive KubernetesBackend against scripted API answers: they check which
requests it makes, in what order, and how it reads the answers it is given (404, 409,
a pending or failed pod). They say nothing about what a real cluster would do with
those requests.
"""

import json
import re
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

import pytest

pytest.importorskip("kubespawner", reason="the kubernetes extra is not installed")

from jupyterhub.objects import Hub
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException
from traitlets.config import PyFileConfigLoader

from smchub.nodes import NODE_NAME_RE, check_node_spec, new_node
from smchub.restic import Restic
from smchub.spawners import ProjectSpawner
from smchub.spawners.backend import SnapshotFailed
from smchub.spawners.docker_snapshots import backup_command, restore_command
from smchub.spawners.kubernetes import (
    KubernetesBackend,
    ProjectPodFailed,
    api_error_message,
)
from smchub.spawners.kubernetes_objects import (
    HOME,
    PROJECT_LABEL,
    InvalidNodeOptions,
    Resources,
    Scheduling,
    cpu_quantity,
    home_size,
    make_home_pvc,
    make_project_network_policy,
    make_project_pod,
    make_token_secret,
    memory_quantity,
    node_scheduling,
    pod_state,
    project_environment,
    project_labels,
    project_names,
    project_resources,
    quantity_mib,
    split_secret_env,
)

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

PID = "6f1c1a6e-0000-4000-8000-00000000abcd"
QUOTAS = {"memory_mb": 2000, "cpu": 1.0, "disk_mb": 3000, "idle_timeout_s": 3600}
TOKEN = "server-token-0123456789abcdef"
# what a hub pod's own environment holds under Zero to JupyterHub, and more
HUB_SECRETS = {
    "CONFIGPROXY_AUTH_TOKEN": "proxy-secret-9f8e7d",
    "JPY_COOKIE_SECRET": "cookie-secret-6c5b4a",
    "JUPYTERHUB_CRYPT_KEY": "crypt-key-3a2b1c",
    "PGPASSWORD": "db-password-0d0e0f",
}


@pytest.fixture
async def api():
    async with ApiClient(Configuration(host="https://kubernetes.invalid")) as client:
        yield client


@pytest.fixture
def to_json(api):
    """A model as the JSON body kubernetes_asyncio would send."""
    return api.sanitize_for_serialization


def from_json(api, data, kind):
    """A model as kubernetes_asyncio reads it from an API answer."""
    return api.deserialize(SimpleNamespace(data=json.dumps(data)), kind)


def project_spawner(project_id=PID):
    """A real ProjectSpawner for a project, enough for get_env() and get_args()."""
    user = SimpleNamespace(
        name=project_id, escaped_name=project_id, url=f"/user/{project_id}/", settings={}, id=1
    )
    return ProjectSpawner(
        user=user,
        hub=Hub(base_url="/hub/", connect_url="http://hub:8081"),
        api_token=TOKEN,
        oauth_client_id=f"jupyterhub-user-{project_id}",
        start_timeout=30,
    )


def backend(options=None, overcommit=None, **traits):
    # the scripted starts below leave the NetworkPolicy out unless a test asks for it
    traits.setdefault("network_policy", False)
    return KubernetesBackend(
        node_name="pool-cpu",
        node_options=options if options is not None else {"namespace": "smchub"},
        hub=SimpleNamespace(overcommit=overcommit or {"memory": 1.0, "cpu": 4.0}),
        **traits,
    )


def container(pod_json):
    (server,) = pod_json["spec"]["containers"]
    return server


def env_of(pod_json):
    return {e["name"]: e for e in container(pod_json)["env"]}


# --- names and labels -----------------------------------------------------------


def test_names_are_dns_labels_for_any_project_id():
    ids = [str(uuid.uuid4()) for _ in range(200)] + [str(uuid.uuid4()).upper()]
    seen = set()
    for project_id in ids:
        names = project_names(project_id)
        for name in (names.pod, names.pvc, names.secret):
            assert len(name) <= 63
            assert DNS_1123_LABEL.match(name), name
            # RFC 1035 too (Services and some tools want a letter first)
            assert name[0].isalpha()
        assert len({names.pod, names.pvc, names.secret}) == 3
        seen.add(names.pod)
    assert len(seen) == len(ids)
    assert project_names(PID.upper()) == project_names(PID)


def test_a_name_that_is_no_project_id_is_refused():
    with pytest.raises(ValueError, match="project ids are UUIDs"):
        project_names("../../etc")
    with pytest.raises(ValueError):
        project_names("x" * 60)


def test_labels_are_valid_for_every_node_name():
    for node in ("pool-cpu", "a", "node-", "gpu.", "x_", "n" * 63, "a--b"):
        assert NODE_NAME_RE.match(node)
        labels = project_labels(PID, node)
        for value in labels.values():
            assert len(value) <= 63 and LABEL_VALUE.match(value), (node, value)
        assert labels["smchub.io/project"] == PID
    assert project_labels(PID, "pool-cpu")["smchub.io/node"] == "pool-cpu"


def test_extra_labels_are_added_but_never_replace_the_project_labels():
    labels = project_labels(
        PID,
        "pool-cpu",
        {"hub.jupyter.org/network-access-hub": "true", "smchub.io/project": "someone-else"},
    )
    assert labels["hub.jupyter.org/network-access-hub"] == "true"
    assert labels["smchub.io/project"] == PID
    assert "smchub.io/node" not in project_labels(PID)


# --- quotas to requests and limits ----------------------------------------------


def test_quantities():
    assert cpu_quantity(1) == "1"
    assert cpu_quantity(2.0) == "2"
    assert cpu_quantity(0.25) == "250m"
    assert cpu_quantity(1.5) == "1500m"
    assert cpu_quantity(0.0001) == "1m"
    assert cpu_quantity(0.1 * 3) == "300m"
    assert cpu_quantity(0.0125) == "13m"
    assert memory_quantity(2000) == "2000Mi"
    assert memory_quantity(0.2) == "1Mi"
    assert quantity_mib("10Gi") == 10240
    assert quantity_mib("3000Mi") == 3000
    assert quantity_mib("5G") == 4768
    assert quantity_mib(str(2**30)) == 1024
    assert quantity_mib("1Ti") == 1024 * 1024
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity_mib("lots")


def test_quotas_become_limits_and_requests():
    resources = project_resources(QUOTAS, cpu_fraction=0.25, memory_fraction=1.0)
    assert resources == Resources(
        cpu_limit="1", cpu_request="250m", memory_limit="2000Mi", memory_request="2000Mi"
    )
    small = project_resources({"memory_mb": 64, "cpu": 0.05}, 0.25, 0.5)
    assert (small.cpu_limit, small.cpu_request) == ("50m", "13m")
    assert (small.memory_limit, small.memory_request) == ("64Mi", "32Mi")
    for bad in (0, -0.5, 1.5):
        with pytest.raises(ValueError, match=r"in \(0, 1\]"):
            project_resources(QUOTAS, bad, 1.0)


def test_requests_follow_the_hubs_overcommit_unless_configured():
    assert backend().cpu_fraction == 0.25
    assert backend().memory_fraction == 1.0
    assert backend(overcommit={"cpu": 2.0, "memory": 2.0}).cpu_fraction == 0.5
    assert backend(overcommit={"cpu": 2.0, "memory": 2.0}).memory_fraction == 0.5
    # overcommit below 1 (a reserve) never asks for more than the quota
    assert backend(overcommit={"cpu": 0.5, "memory": 0.8}).cpu_fraction == 1.0
    assert backend(overcommit={"cpu": 0, "memory": 0}).memory_fraction == 1.0
    assert backend(cpu_guarantee_fraction=0.1).cpu_fraction == 0.1
    with pytest.raises(Exception, match=r"cpu_guarantee_fraction must be in \(0, 1\]"):
        backend(cpu_guarantee_fraction=2.0)


def test_a_quota_change_shows_in_the_next_pod(to_json):
    b = backend()
    _, before = b.server_objects(PID, {}, [], QUOTAS, "3000Mi")
    bigger = {**QUOTAS, "memory_mb": 8000, "cpu": 4.0}
    _, after = b.server_objects(PID, {}, [], bigger, "3000Mi")
    assert container(to_json(before))["resources"] == {
        "limits": {"cpu": "1", "memory": "2000Mi"},
        "requests": {"cpu": "250m", "memory": "2000Mi"},
    }
    assert container(to_json(after))["resources"] == {
        "limits": {"cpu": "4", "memory": "8000Mi"},
        "requests": {"cpu": "1", "memory": "8000Mi"},
    }
    assert env_of(to_json(after))["SMCHUB_MEMORY_LIMIT_MB"]["value"] == "8000"
    assert env_of(to_json(after))["SMCHUB_CPU_LIMIT"]["value"] == "4.0"


# --- placement to scheduling ------------------------------------------------------


def test_the_node_rows_options_become_the_pods_constraints(to_json):
    options = {
        "namespace": "smchub",
        "node_selector": {"kubernetes.io/hostname": "node-a"},
        "node_affinity": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
        ],
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "smchub", "effect": "NoSchedule"}
        ],
    }
    _, pod = backend(options).server_objects(PID, {}, [], QUOTAS, "3000Mi")
    spec = to_json(pod)["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/hostname": "node-a"}
    assert spec["affinity"] == {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": options["node_affinity"]
            }
        }
    }
    assert spec["tolerations"] == options["tolerations"]
    assert to_json(pod)["metadata"]["labels"]["smchub.io/node"] == "pool-cpu"


def test_a_pool_row_and_a_whole_cluster_row():
    assert node_scheduling("cpu", {"node_selector": {"pool": "cpu"}}) == Scheduling(
        node_selector={"pool": "cpu"}
    )
    # a row with no constraints stands for the whole cluster
    assert node_scheduling("cluster", {"namespace": "smchub"}) == Scheduling()
    assert node_scheduling("cluster", None) == Scheduling()


def test_a_pod_of_an_unconstrained_row_has_no_selector_or_affinity(to_json):
    _, pod = backend({}).server_objects(PID, {}, [], QUOTAS, "3000Mi")
    spec = to_json(pod)["spec"]
    assert "nodeSelector" not in spec and "affinity" not in spec and "tolerations" not in spec


@pytest.mark.parametrize(
    "options, fix",
    [
        ({"node_selector": "node-a"}, "options.node_selector must map"),
        ({"node_selector": {"zone": 1}}, "options.node_selector must map"),
        ({"node_affinity": {"zone": "a"}}, "options.node_affinity must be a list"),
        ({"node_affinity": [{"key": "zone"}]}, "options.node_affinity must be a list"),
        ({"tolerations": "dedicated"}, "options.tolerations must be a list"),
    ],
)
def test_bad_node_options_say_what_to_fix(options, fix):
    with pytest.raises(InvalidNodeOptions, match=fix) as refused:
        node_scheduling("pool-cpu", options)
    assert "node 'pool-cpu'" in str(refused.value)


# --- the home volume --------------------------------------------------------------


def test_the_home_pvc(to_json):
    pvc = to_json(backend({"namespace": "smchub"}).home_pvc(PID, QUOTAS))
    assert pvc["kind"] == "PersistentVolumeClaim"
    assert pvc["metadata"]["name"] == f"smchub-home-{PID}"
    assert pvc["metadata"]["labels"]["smchub.io/project"] == PID
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["spec"]["resources"] == {"requests": {"storage": "3000Mi"}}
    # no class named: the cluster's default StorageClass decides
    assert "storageClassName" not in pvc["spec"]


def test_the_storage_class_comes_from_the_node_or_the_config(to_json):
    configured = backend({}, storage_class="network-ssd")
    assert to_json(configured.home_pvc(PID, QUOTAS))["spec"]["storageClassName"] == "network-ssd"
    local = backend({"storage_class": "local-path"}, storage_class="network-ssd")
    assert to_json(local.home_pvc(PID, QUOTAS))["spec"]["storageClassName"] == "local-path"


def test_a_project_without_disk_quota_gets_the_configured_size(to_json):
    assert home_size(0, "10Gi") == "10Gi"
    assert home_size(5000, "10Gi") == "5000Mi"
    pvc = backend(home_size_without_quota="20Gi").home_pvc(PID, {**QUOTAS, "disk_mb": 0})
    assert to_json(pvc)["spec"]["resources"]["requests"]["storage"] == "20Gi"


def test_make_home_pvc_takes_plain_values(to_json):
    pvc = to_json(make_home_pvc(f"smchub-home-{PID}", "1Gi", "fast", ["ReadWriteMany"], {"a": "b"}))
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["storageClassName"] == "fast"
    assert pvc["metadata"]["labels"] == {"a": "b"}


# --- the pod ------------------------------------------------------------------------


def test_the_pod_runs_the_image_and_command_with_the_home_mounted(to_json):
    b = backend({"namespace": "smchub", "image": "registry.example.org/smchub/project:abc"})
    _, pod = b.server_objects(PID, {}, ["--debug", "--x=1"], QUOTAS, "3000Mi")
    pod = to_json(pod)
    server = container(pod)
    assert pod["metadata"]["name"] == f"smchub-project-{PID}"
    assert server["image"] == "registry.example.org/smchub/project:abc"
    # args, not command: the image's entrypoint (tini) stays PID 1
    assert server["args"] == ["jupyterhub-singleuser", "--debug", "--x=1"]
    assert "command" not in server
    assert server["ports"] == [{"containerPort": 8888, "name": "notebook-port"}]
    assert server["workingDir"] == HOME
    assert server["volumeMounts"] == [{"mountPath": HOME, "name": "home"}]
    assert pod["spec"]["volumes"] == [
        {"name": "home", "persistentVolumeClaim": {"claimName": f"smchub-home-{PID}"}}
    ]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 10


def test_the_image_comes_from_config_unless_the_node_names_one(to_json):
    _, pod = backend({}, image="smchub/project:tag1").server_objects(PID, {}, [], QUOTAS, "1Gi")
    assert container(to_json(pod))["image"] == "smchub/project:tag1"


def test_the_pod_runs_unprivileged_without_api_access(to_json):
    _, pod = backend().server_objects(PID, {}, [], QUOTAS, "3000Mi")
    spec = to_json(pod)["spec"]
    assert spec["securityContext"] == {
        "fsGroup": 1000,
        "fsGroupChangePolicy": "OnRootMismatch",
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container(to_json(pod))["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsGroup": 1000,
        "runAsNonRoot": True,
        "runAsUser": 1000,
    }
    assert spec["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in spec
    assert spec["enableServiceLinks"] is False


def test_labels_on_the_pod(to_json):
    b = backend(extra_labels={"hub.jupyter.org/network-access-hub": "true"})
    _, pod = b.server_objects(PID, {}, [], QUOTAS, "3000Mi")
    labels = to_json(pod)["metadata"]["labels"]
    assert labels["smchub.io/project"] == PID
    assert labels["smchub.io/node"] == "pool-cpu"
    assert labels["app.kubernetes.io/managed-by"] == "smchub"
    assert labels["hub.jupyter.org/network-access-hub"] == "true"


def test_make_project_pod_takes_plain_values(to_json):
    names = project_names(PID)
    pod = to_json(
        make_project_pod(
            names=names,
            image="img",
            command=["start"],
            env={"A": "1"},
            resources=Resources("2", "500m", "1Gi", "512Mi"),
            scheduling=Scheduling(node_selector={"pool": "gpu"}),
            labels={"x": "y"},
            uid=2000,
            gid=3000,
            image_pull_policy="IfNotPresent",
            image_pull_secrets=["registry"],
            service_account="projects",
            grace_seconds=30,
        )
    )
    spec = pod["spec"]
    assert spec["nodeSelector"] == {"pool": "gpu"}
    assert spec["imagePullSecrets"] == [{"name": "registry"}]
    assert spec["serviceAccountName"] == "projects"
    assert "automountServiceAccountToken" not in spec
    assert spec["securityContext"]["fsGroup"] == 3000
    assert container(pod)["securityContext"]["runAsUser"] == 2000
    assert container(pod)["imagePullPolicy"] == "IfNotPresent"
    assert container(pod)["env"] == [{"name": "A", "value": "1"}]
    assert spec["terminationGracePeriodSeconds"] == 30


# --- environment and secrets ----------------------------------------------------------


def test_the_environment_has_the_hubs_variables_and_the_limits(to_json):
    spawner = project_spawner()
    spawner.ip, spawner.port = "0.0.0.0", 8888
    b = backend()
    _, pod = b.server_objects(PID, spawner.get_env(), spawner.get_args(), QUOTAS, "3000Mi")
    env = env_of(to_json(pod))
    assert env["JUPYTERHUB_API_URL"]["value"] == "http://hub:8081/hub/api"
    assert env["JUPYTERHUB_USER"]["value"] == PID
    assert env["JUPYTERHUB_CLIENT_ID"]["value"] == f"jupyterhub-user-{PID}"
    assert env["JUPYTERHUB_SERVICE_URL"]["value"] == "http://0.0.0.0:8888/"
    assert env["JUPYTERHUB_DEFAULT_URL"]["value"] == "/lab"
    assert env["JUPYTERHUB_ROOT_DIR"]["value"] == HOME
    assert env["HOME"]["value"] == HOME
    assert env["SMCHUB_PROJECT_ID"]["value"] == PID
    assert env["SMCHUB_MEMORY_LIMIT_MB"]["value"] == "2000"
    assert env["SMCHUB_CPU_LIMIT"]["value"] == "1.0"
    assert env["SMCHUB_DISK_QUOTA_MB"]["value"] == "3000"
    assert env["SMCHUB_LIMITS_ENFORCED"]["value"] == "1"
    assert env["SMCHUB_NODE"]["value"] == "pool-cpu"
    assert "Kubernetes limits" in env["SMCHUB_LIMITS_NOTE"]["value"]
    # the localhub extension is loaded explicitly, as on every backend
    args = container(to_json(pod))["args"]
    assert "--ServerApp.jpserver_extensions=smchub.extensions.localhub=True" in args


def test_the_token_is_in_a_secret_and_no_hub_secret_reaches_the_pod(monkeypatch, to_json):
    for key, value in HUB_SECRETS.items():
        monkeypatch.setenv(key, value)
    spawner = project_spawner()
    secret, pod = backend().server_objects(
        PID, spawner.get_env(), spawner.get_args(), QUOTAS, "3000Mi"
    )
    pod_text, secret_json = json.dumps(to_json(pod)), to_json(secret)
    assert TOKEN not in pod_text
    env = env_of(to_json(pod))
    for key in ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"):
        assert env[key] == {
            "name": key,
            "valueFrom": {"secretKeyRef": {"key": key, "name": f"smchub-token-{PID}"}},
        }
    assert secret_json["metadata"]["name"] == f"smchub-token-{PID}"
    assert secret_json["type"] == "Opaque"
    assert secret_json["stringData"] == {"JUPYTERHUB_API_TOKEN": TOKEN, "JPY_API_TOKEN": TOKEN}
    assert secret_json["metadata"]["labels"]["smchub.io/project"] == PID
    secret_text = json.dumps(secret_json)
    for key, value in HUB_SECRETS.items():
        assert key not in pod_text and value not in pod_text
        assert value not in secret_text


def test_admins_can_move_their_own_variables_into_the_secret(to_json):
    b = backend(secret_env=["JUPYTERHUB_API_TOKEN", "DATA_PASSWORD"])
    secret, pod = b.server_objects(
        PID, {"JUPYTERHUB_API_TOKEN": TOKEN, "DATA_PASSWORD": "pw", "JPY_API_TOKEN": TOKEN},
        [], QUOTAS, "1Gi",
    )  # fmt: skip
    assert set(to_json(secret)["stringData"]) == {"JUPYTERHUB_API_TOKEN", "DATA_PASSWORD"}
    assert "pw" not in json.dumps(env_of(to_json(pod))["DATA_PASSWORD"])


def test_split_and_compose_environment():
    env = project_environment({"A": "1", "HOME": "/root", "T": "secret"}, {"L": "2"}, PID)
    assert env["HOME"] == HOME and env["A"] == "1" and env["L"] == "2"
    pod_env, data = split_secret_env(env, {"T"}, "s")
    assert data == {"T": "secret"}
    assert pod_env["A"] == "1"
    assert pod_env["T"]["valueFrom"].secret_key_ref.name == "s"
    secret = make_token_secret("s", data, {"smchub.io/project": PID})
    assert secret.string_data == {"T": "secret"} and secret.metadata.name == "s"


def test_the_disk_quota_reported_is_the_volumes_size(to_json):
    # a home made when the quota was smaller keeps its size: the project is told so
    _, pod = backend().server_objects(PID, {}, [], {**QUOTAS, "disk_mb": 9000}, "1Gi")
    assert env_of(to_json(pod))["SMCHUB_DISK_QUOTA_MB"]["value"] == "1024"


# --- the example configuration ------------------------------------------------------


def test_the_example_config_gives_valid_nodes_and_pods(to_json):
    examples = Path(__file__).resolve().parent.parent / "examples"
    config = PyFileConfigLoader("kubernetes_config.py", str(examples)).load_config()
    hub = SimpleNamespace(overcommit=config.SMCHub.overcommit)
    for spec in config.SMCHub.compute_nodes:
        node = new_node(check_node_spec(spec))
        b = KubernetesBackend(
            config=config, hub=hub, node_name=node.name, node_options=node.options
        )
        assert b.pod_namespace == "smchub"
        _, pod = b.server_objects(PID, {}, [], config.SMCHub.default_quotas, "5000Mi")
        pod = to_json(pod)
        assert pod["spec"]["nodeSelector"] == spec["options"]["node_selector"]
        assert container(pod)["image"].startswith("registry.example.org/smchub/project")
        assert container(pod)["resources"]["requests"] == {"cpu": "250m", "memory": "2000Mi"}
        pvc = to_json(b.home_pvc(PID, config.SMCHub.default_quotas))
        assert pvc["spec"]["storageClassName"] in ("standard-rwo", "local-path")


# --- reading a pod's status -------------------------------------------------------------


def pod_answer(
    phase, ip=None, container_state=None, conditions=(), deleting=False, image_id="", **status
):
    data = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"smchub-project-{PID}", "namespace": "smchub"},
        "status": {"phase": phase, "conditions": list(conditions), **status},
    }
    if ip:
        data["status"]["podIP"] = ip
    if container_state:
        data["status"]["containerStatuses"] = [
            {"name": "notebook", "image": "img", "imageID": image_id, "ready": False,
             "restartCount": 0, "state": container_state}
        ]  # fmt: skip
    if deleting:
        data["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return data


def test_pod_states(api):
    def state(**kw):
        return pod_state(from_json(api, pod_answer(**kw), "V1Pod"))

    running = state(phase="Running", ip="10.1.2.3", container_state={"running": {}})
    assert running.running and running.ip == "10.1.2.3" and not running.finished
    assert running.image_digest is None

    # the image as its registry names it, however the node's runtime spells it
    digest = "registry.example.org/smchub/full@sha256:" + "ab" * 32
    for image_id in (f"docker-pullable://{digest}", digest):
        pulled = state(phase="Running", ip="10.1.2.3", container_state={"running": {}},
                       image_id=image_id)  # fmt: skip
        assert pulled.image_digest == digest
    # built on the node: an ID only, which names nothing on the other nodes
    built = state(phase="Running", ip="10.1.2.3", container_state={"running": {}},
                  image_id="docker://sha256:" + "cd" * 32)  # fmt: skip
    assert built.running and built.image_digest is None

    unschedulable = state(
        phase="Pending",
        conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": "0/3 nodes are available: 3 Insufficient memory."}],
    )  # fmt: skip
    assert not unschedulable.running and not unschedulable.finished
    assert unschedulable.reason == "not scheduled: 0/3 nodes are available: 3 Insufficient memory."

    pulling = state(
        phase="Pending",
        container_state={"waiting": {"reason": "ImagePullBackOff", "message": "Back-off"}},
    )
    assert pulling.reason == "ImagePullBackOff: Back-off" and not pulling.hopeless
    bad_image = state(phase="Pending", container_state={"waiting": {"reason": "InvalidImageName"}})
    assert bad_image.hopeless

    oom = state(
        phase="Failed",
        container_state={"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
    )
    assert oom.exit_code == 137 and "OOMKilled" in oom.reason
    done = state(phase="Succeeded", container_state={"terminated": {"exitCode": 0}})
    assert done.exit_code == 0 and done.finished
    evicted = state(phase="Failed", reason="Evicted", message="The node was low on memory.")
    assert evicted.exit_code == 1 and evicted.reason == "Evicted: The node was low on memory."

    assert state(phase="Running", ip="10.1.2.3", deleting=True).exit_code == 1
    unknown = state(phase="Unknown")
    assert not unknown.finished and "does not report" in unknown.reason


# --- the backend's calls to the API server, against scripted answers -----------------


class Answer:
    def __init__(self, status, body):
        self.status = status
        self.reason = {200: "OK", 201: "Created", 404: "Not Found", 409: "Conflict",
                       403: "Forbidden"}.get(status, "")  # fmt: skip
        self.data = json.dumps(body).encode()

    def getheaders(self):
        return {"content-type": "application/json"}

    def getheader(self, name, default=None):
        return self.getheaders().get(name.lower(), default)


class ScriptedAPI:
    """Stands in for kubernetes_asyncio's HTTP layer: answers each request with the next
    scripted answer after checking it is the request the script expects."""

    def __init__(self, script):
        self.script = list(script)
        self.sent = []

    async def request(self, method, url, query_params=None, body=None, **kwargs):
        path = urlparse(url).path
        self.sent.append((method, path, dict(query_params or []), body))
        assert self.script, f"unexpected request {method} {path}"
        want_method, want_path, status, answer = self.script.pop(0)
        assert (method, path) == (want_method, want_path)
        response = Answer(status, answer)
        if not 200 <= status <= 299:
            raise ApiException(http_resp=response)
        return response

    def __getattr__(self, method):
        if method not in ("GET", "POST", "DELETE", "PUT", "PATCH"):
            raise AttributeError(method)

        async def send(url, **kwargs):
            return await self.request(method, url, **kwargs)

        return send

    async def close(self):
        pass


NS = "/api/v1/namespaces/smchub"
POD = f"{NS}/pods/smchub-project-{PID}"
PVC = f"{NS}/persistentvolumeclaims/smchub-home-{PID}"
SECRET = f"{NS}/secrets/smchub-token-{PID}"
STATUS_404 = {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404}
STATUS_409 = {"kind": "Status", "status": "Failure", "reason": "AlreadyExists", "code": 409}


def pvc_answer(size):
    return {"kind": "PersistentVolumeClaim", "metadata": {"name": f"smchub-home-{PID}"},
            "spec": {"resources": {"requests": {"storage": size}}},
            "status": {"phase": "Bound", "capacity": {"storage": size}}}  # fmt: skip


@pytest.fixture
async def scripted():
    """A backend for node pool-cpu (namespace smchub) whose API calls follow a script."""
    made = []

    async def make(script, options=None, **traits):
        options = options or {"namespace": "smchub", "node_selector": {"pool": "cpu"}}
        b = backend(options, **traits)
        b.check_interval = 0
        client = ApiClient(Configuration(host="https://kubernetes.invalid"))
        await client.rest_client.close()
        client.rest_client = ScriptedAPI(script)
        b._api_client = client
        made.append(client.rest_client)
        return b, client.rest_client

    yield make
    for api in made:
        assert not api.script, f"requests not made: {api.script}"


RUNNING = pod_answer("Running", ip="10.1.2.3", container_state={"running": {}})
PENDING = pod_answer(
    "Pending",
    conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": "0/3 nodes are available"}],
)  # fmt: skip


async def test_start_makes_home_secret_and_pod_and_waits_for_it(scripted):
    b, api = await scripted(
        [
            ("GET", PVC, 404, STATUS_404),
            ("POST", f"{NS}/persistentvolumeclaims", 201, pvc_answer("3000Mi")),
            ("POST", f"{NS}/secrets", 201, {"kind": "Secret"}),
            ("POST", f"{NS}/pods", 201, PENDING),
            ("GET", POD, 200, PENDING),
            ("GET", POD, 200, RUNNING),
        ]
    )
    spawner = project_spawner()
    ip, port, handle = await b.start(spawner, SimpleNamespace(id=PID), QUOTAS)
    assert (ip, port) == ("10.1.2.3", 8888)
    assert handle == {"namespace": "smchub", "pod": f"smchub-project-{PID}",
                      "secret": f"smchub-token-{PID}"}  # fmt: skip
    # the kubelet named no registry digest: nothing to pin
    assert b.started_image(handle) is None
    (pvc,) = [body for m, p, _, body in api.sent if p.endswith("/persistentvolumeclaims")]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "3000Mi"
    (secret,) = [body for m, p, _, body in api.sent if p.endswith("/secrets")]
    assert secret["stringData"]["JUPYTERHUB_API_TOKEN"] == TOKEN
    (pod,) = [body for m, p, _, body in api.sent if p.endswith("/pods")]
    assert TOKEN not in json.dumps(pod)
    assert pod["spec"]["nodeSelector"] == {"pool": "cpu"}
    assert env_of(pod)["JUPYTERHUB_SERVICE_URL"]["value"] == "http://0.0.0.0:8888/"


async def test_an_environment_image_by_tag_is_pinned_to_what_the_first_pod_pulled(scripted):
    """The hub cannot ask a registry what a tag names: the first pod's kubelet says
    which digest it pulled (started_image, which the spawner pins), and a start with
    that pin runs the digest, whatever the tag names by then."""
    digest = "registry.example.org/smchub/full@sha256:" + "ab" * 32
    pulled = pod_answer("Running", ip="10.1.2.3", container_state={"running": {}},
                        image_id=f"docker-pullable://{digest}")  # fmt: skip
    existing_home = ("GET", PVC, 200, pvc_answer("1Gi"))
    start = [existing_home, ("POST", f"{NS}/secrets", 201, {"kind": "Secret"}),
             ("POST", f"{NS}/pods", 201, PENDING), ("GET", POD, 200, pulled)]  # fmt: skip
    b, api = await scripted(start + start)
    spawner = project_spawner()
    assert await b.resolve_image("registry.example.org/smchub/full:2026") is None
    spawner.environment_image = "registry.example.org/smchub/full:2026"
    _, _, handle = await b.start(spawner, SimpleNamespace(id=PID), QUOTAS)
    assert b.started_image(handle) == digest
    spawner.environment_image = digest
    await b.start(spawner, SimpleNamespace(id=PID), QUOTAS)
    first, second = [body for m, p, _, body in api.sent if p.endswith("/pods")]
    assert container(first)["image"] == "registry.example.org/smchub/full:2026"
    assert container(second)["image"] == digest


async def test_start_keeps_an_existing_home_and_reports_its_size(scripted, caplog):
    b, api = await scripted(
        [
            ("GET", PVC, 200, pvc_answer("1Gi")),
            ("POST", f"{NS}/secrets", 201, {"kind": "Secret"}),
            ("POST", f"{NS}/pods", 201, RUNNING),
            ("GET", POD, 200, RUNNING),
        ]
    )
    await b.start(project_spawner(), SimpleNamespace(id=PID), QUOTAS)
    (pod,) = [body for m, p, _, body in api.sent if p.endswith("/pods")]
    assert env_of(pod)["SMCHUB_DISK_QUOTA_MB"]["value"] == "1024"
    assert "does not grow volumes" in caplog.text


async def test_start_replaces_what_a_lost_run_left(scripted):
    b, api = await scripted(
        [
            ("GET", PVC, 200, pvc_answer("3000Mi")),
            ("POST", f"{NS}/secrets", 409, STATUS_409),
            ("DELETE", SECRET, 200, {"kind": "Status"}),
            ("POST", f"{NS}/secrets", 201, {"kind": "Secret"}),
            ("POST", f"{NS}/pods", 409, STATUS_409),
            ("DELETE", POD, 200, RUNNING),
            ("GET", POD, 404, STATUS_404),
            ("POST", f"{NS}/pods", 201, PENDING),
            ("GET", POD, 200, RUNNING),
        ]
    )
    ip, _, _ = await b.start(project_spawner(), SimpleNamespace(id=PID), QUOTAS)
    assert ip == "10.1.2.3"
    (stale_delete,) = [q for m, p, q, _ in api.sent if (m, p) == ("DELETE", POD)]
    assert stale_delete == {"gracePeriodSeconds": 0}


async def test_a_pod_that_cannot_start_is_removed_and_the_reason_shown(scripted):
    waiting = {"reason": "InvalidImageName", "message": 'couldn\'t parse image "a b"'}
    bad_image = pod_answer("Pending", container_state={"waiting": waiting})
    b, api = await scripted(
        [
            ("GET", PVC, 200, pvc_answer("3000Mi")),
            ("POST", f"{NS}/secrets", 201, {"kind": "Secret"}),
            ("POST", f"{NS}/pods", 201, PENDING),
            ("GET", POD, 200, bad_image),
            ("DELETE", POD, 200, bad_image),
            ("GET", POD, 404, STATUS_404),
            ("DELETE", SECRET, 200, {"kind": "Status"}),
        ]
    )
    with pytest.raises(ProjectPodFailed, match="InvalidImageName: couldn't parse image"):
        await b.start(project_spawner(), SimpleNamespace(id=PID), QUOTAS)
    assert not any(p == PVC and m == "DELETE" for m, p, _, _ in api.sent)


async def test_a_pod_that_stays_pending_times_out_with_the_reason(scripted):
    b, _ = await scripted(
        [
            ("GET", PVC, 200, pvc_answer("3000Mi")),
            ("POST", f"{NS}/secrets", 201, {"kind": "Secret"}),
            ("POST", f"{NS}/pods", 201, PENDING),
            ("GET", POD, 200, PENDING),
            ("DELETE", POD, 200, PENDING),
            ("GET", POD, 404, STATUS_404),
            ("DELETE", SECRET, 200, {"kind": "Status"}),
        ]
    )
    spawner = project_spawner()
    spawner.start_timeout = 0
    with pytest.raises(ProjectPodFailed, match="not scheduled: 0/3 nodes are available"):
        await b.start(spawner, SimpleNamespace(id=PID), QUOTAS)


async def test_a_refusal_from_the_api_server_is_told_as_it_was_said(scripted):
    forbidden = {"kind": "Status", "code": 403, "reason": "Forbidden",
                 "message": 'persistentvolumeclaims "smchub-home-x" is forbidden: User '
                            '"system:serviceaccount:smchub:hub" cannot get resource'}  # fmt: skip
    b, _ = await scripted([("GET", PVC, 403, forbidden)])
    with pytest.raises(ProjectPodFailed) as failed:
        await b.start(project_spawner(), SimpleNamespace(id=PID), QUOTAS)
    assert "on node pool-cpu: 403 Forbidden: persistentvolumeclaims" in str(failed.value)
    assert "cannot get resource" in api_error_message(failed.value.__cause__)


async def test_bad_node_options_are_refused_before_anything_is_made(scripted):
    b, api = await scripted([], options={"namespace": "smchub", "node_selector": "node-a"})
    with pytest.raises(InvalidNodeOptions, match="node_selector must map"):
        await b.start(project_spawner(), SimpleNamespace(id=PID), QUOTAS)
    assert api.sent == []


async def test_poll_reads_the_pods_phase(scripted):
    oom = pod_answer("Failed", container_state={"terminated": {"exitCode": 137,
                                                               "reason": "OOMKilled"}})  # fmt: skip
    b, _ = await scripted(
        [("GET", POD, 200, RUNNING), ("GET", POD, 200, oom), ("GET", POD, 404, STATUS_404)]
    )
    handle = {"namespace": "smchub", "pod": f"smchub-project-{PID}", "secret": "s"}
    assert await b.poll(None, handle) is None
    assert await b.poll(None, handle) == 137
    assert await b.poll(None, handle) == 1


async def test_stop_removes_pod_and_secret_and_keeps_the_home(scripted):
    b, api = await scripted(
        [
            ("DELETE", POD, 200, RUNNING),
            ("GET", POD, 200, RUNNING),
            ("GET", POD, 404, STATUS_404),
            ("DELETE", SECRET, 200, {"kind": "Status"}),
        ]
    )
    handle = {"namespace": "smchub", "pod": f"smchub-project-{PID}",
              "secret": f"smchub-token-{PID}"}  # fmt: skip
    await b.stop(None, handle)
    assert api.sent[0][2] == {"gracePeriodSeconds": 10}
    assert not any("persistentvolumeclaims" in p for _, p, _, _ in api.sent)


async def test_stop_of_a_pod_already_gone(scripted):
    b, _ = await scripted([("DELETE", POD, 404, STATUS_404), ("DELETE", SECRET, 404, STATUS_404)])
    handle = {"namespace": "smchub", "pod": f"smchub-project-{PID}",
              "secret": f"smchub-token-{PID}"}  # fmt: skip
    await b.stop(None, handle, now=True)


async def test_check_asks_the_api_servers_version(scripted):
    version = {"major": "1", "minor": "31", "gitVersion": "v1.31.0", "gitCommit": "a1b2",
               "gitTreeState": "clean", "buildDate": "2024-08-13T07:28:49Z",
               "goVersion": "go1.22.5", "compiler": "gc", "platform": "linux/amd64"}  # fmt: skip
    b, _ = await scripted([("GET", "/version/", 200, version)])
    assert await b.check() is True


# --- snapshots and restores: Jobs next to the home's claim ----------------------------------

REPOSITORY_URL = "s3:https://s3.example.org/smchub-snapshots"
JOBS = "/apis/batch/v1/namespaces/smchub/jobs"


@pytest.fixture
def restic(tmp_path):
    return Restic(REPOSITORY_URL, str(tmp_path / "password"), str(tmp_path / "cache"))


def job_pod(job_json):
    return job_json["spec"]["template"]["spec"]


def test_a_snapshot_job_reads_the_home_where_the_node_row_says(restic, to_json):
    b = backend({"namespace": "smchub", "node_selector": {"pool": "cpu"}})
    command = backup_command(restic, PID, "stop")
    secret, job = b.home_job_objects(PID, restic, "snapshot", command, None, "a1b2c3")
    job_json, secret_json = to_json(job), to_json(secret)
    assert job_json["kind"] == "Job"
    assert job_json["metadata"]["name"] == f"smchub-snapshot-{PID}-a1b2c3"
    assert job_json["metadata"]["labels"][PROJECT_LABEL] == PID
    assert job_json["metadata"]["labels"]["app.kubernetes.io/component"] == "snapshot"
    # once, never retried behind the hub's back, and cleaned up if the hub is gone
    assert job_json["spec"]["backoffLimit"] == 0
    assert job_json["spec"]["ttlSecondsAfterFinished"] > 0
    pod = job_pod(job_json)
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["nodeSelector"] == {"pool": "cpu"} and "nodeName" not in pod
    (container,) = pod["containers"]
    # restic backup of "." in the home, mounted read-only at a path of the project's own
    assert container["args"] == command
    assert "backup" in command[-1] and "--tag project:" + PID in command[-1]
    assert container["workingDir"] == f"/smchub-homes/{PID}"
    (volume,) = pod["volumes"]
    assert volume["persistentVolumeClaim"] == {"claimName": f"smchub-home-{PID}", "readOnly": True}
    assert container["volumeMounts"] == [
        {"name": "home", "mountPath": f"/smchub-homes/{PID}", "readOnly": True}
    ]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert set(security["capabilities"]["add"]) <= {"DAC_OVERRIDE", "CHOWN"}
    # the password is in the run's own Secret, never in the Job
    password = restic.password()
    assert password not in json.dumps(job_json)
    assert container["envFrom"] == [{"secretRef": {"name": f"smchub-restic-{PID}-a1b2c3"}}]
    assert secret_json["metadata"]["name"] == f"smchub-restic-{PID}-a1b2c3"
    assert secret_json["stringData"] == {
        "RESTIC_PASSWORD": password, "RESTIC_REPOSITORY": REPOSITORY_URL,
    }  # fmt: skip


def test_a_restore_job_runs_on_the_machine_of_the_running_project(restic, to_json):
    b = backend({"namespace": "smchub", "node_selector": {"pool": "cpu"}})
    command = restore_command(restic, "abcd1234", "notes", HOME, "", "1000:1000")
    _, job = b.home_job_objects(PID, restic, "restore", command, "node-7", "a1b2c3")
    pod = job_pod(to_json(job))
    # a ReadWriteOnce home is mounted where the project's pod has it
    assert pod["nodeName"] == "node-7" and "nodeSelector" not in pod
    (container,) = pod["containers"]
    assert container["workingDir"] == HOME
    assert container["volumeMounts"] == [{"name": "home", "mountPath": HOME, "readOnly": False}]
    # restic restores into a staging folder outside the home, the project's account
    # puts the files in place
    script = container["args"][-1]
    assert "restic restore abcd1234 --target /smchub-restore --include /notes" in script
    assert "setpriv --reuid=1000 --regid=1000 --clear-groups" in script
    assert "SETUID" in container["securityContext"]["capabilities"]["add"]


def test_a_folder_repository_needs_its_claim(tmp_path, to_json):
    folder = Restic(str(tmp_path / "repo"), str(tmp_path / "password"), str(tmp_path / "c"))
    command = backup_command(folder, PID, "stop")
    with pytest.raises(SnapshotFailed, match="set c.KubernetesBackend.snapshot_repository_claim"):
        backend().home_job_objects(PID, folder, "snapshot", command, None, "a1b2c3")
    b = backend({"namespace": "smchub", "snapshot_repository_claim": "smchub-snapshots"})
    secret, job = b.home_job_objects(PID, folder, "snapshot", command, None, "a1b2c3")
    pod = job_pod(to_json(job))
    assert pod["volumes"][1] == {
        "name": "repository", "persistentVolumeClaim": {"claimName": "smchub-snapshots"},
    }  # fmt: skip
    assert pod["containers"][0]["volumeMounts"][1] == {
        "name": "repository", "mountPath": "/smchub-snapshots",
    }  # fmt: skip
    assert to_json(secret)["stringData"]["RESTIC_REPOSITORY"] == "/smchub-snapshots"


def job_answer(**status):
    return {"kind": "Job", "metadata": {"name": f"smchub-snapshot-{PID}-a1b2c3"},
            "status": status}  # fmt: skip


def job_pods_answer(exit_code):
    return {"kind": "PodList", "items": [{
        "metadata": {"name": "snapshot-pod"},
        "status": {"phase": "Succeeded" if exit_code == 0 else "Failed",
                   "containerStatuses": [{
                       "name": "restic", "image": "img", "imageID": "", "ready": False,
                       "restartCount": 0, "state": {"terminated": {"exitCode": exit_code}}}]},
    }]}  # fmt: skip


SUMMARY = {"message_type": "summary", "files_new": 3, "files_changed": 0,
           "data_added": 1234, "snapshot_id": "d15fb7c2"}  # fmt: skip
RUNNING_ON_NODE_7 = {
    **RUNNING,
    "spec": {"nodeName": "node-7", "containers": [{"name": "notebook"}]},
}


def job_script(pod_answer_, job_done, exit_code, log):
    job = f"{JOBS}/smchub-snapshot-{PID}-a1b2c3"
    return [
        ("GET", POD, *pod_answer_),
        ("POST", f"{NS}/secrets", 201, {"kind": "Secret"}),
        ("POST", JOBS, 201, job_answer()),
        ("GET", job, 200, job_answer(active=1)),
        ("GET", job, 200, job_answer(**job_done)),
        ("GET", f"{NS}/pods", 200, job_pods_answer(exit_code)),
        ("GET", f"{NS}/pods/snapshot-pod/log", 200, log),
        ("DELETE", job, 200, {"kind": "Status"}),
        ("DELETE", f"{NS}/secrets/smchub-restic-{PID}-a1b2c3", 200, {"kind": "Status"}),
    ]


async def test_a_snapshot_runs_as_a_job_and_reads_restics_summary(scripted, restic):
    done = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
    log = "some restic warning\n" + json.dumps(SUMMARY) + "\n"
    b, api = await scripted(job_script((200, RUNNING_ON_NODE_7), done, 0, log))
    b.job_token = lambda: "a1b2c3"
    summary = await b.snapshot_home(PID, restic, "stop")
    assert summary["snapshot_id"] == "d15fb7c2" and summary["files_new"] == 3
    (job,) = [body for m, p, _, body in api.sent if (m, p) == ("POST", JOBS)]
    assert job_pod(job)["nodeName"] == "node-7"
    (pods,) = [q for m, p, q, _ in api.sent if (m, p) == ("GET", f"{NS}/pods")]
    assert pods == {"labelSelector": f"job-name=smchub-snapshot-{PID}-a1b2c3"}
    (delete,) = [q for m, p, q, _ in api.sent if m == "DELETE" and p.startswith(JOBS)]
    assert delete == {"propagationPolicy": "Background"}


async def test_a_failed_snapshot_job_says_what_restic_said_and_is_removed(scripted, restic):
    failed = {"failed": 1, "conditions": [{"type": "Failed", "status": "True",
                                           "reason": "BackoffLimitExceeded"}]}  # fmt: skip
    log = "Fatal: unable to open repository at s3:https://s3.example.org: Access Denied\n"
    b, api = await scripted(job_script((404, STATUS_404), failed, 1, log))
    b.job_token = lambda: "a1b2c3"
    with pytest.raises(SnapshotFailed, match="^unable to open repository at .*Access Denied$"):
        await b.snapshot_home(PID, restic, "stop")
    # the project does not run: the job goes where the node row says
    (job,) = [body for m, p, _, body in api.sent if (m, p) == ("POST", JOBS)]
    assert "nodeName" not in job_pod(job)


def test_project_pods_are_fenced_by_a_network_policy():
    policy = make_project_network_policy(
        name="smchub-projects",
        labels={"app.kubernetes.io/name": "smchub"},
        hub_peers=backend().network_policy_hub_peers,
    )
    spec = policy["spec"]
    # it selects every project pod, by the labels every project pod has
    pod_labels = project_labels(PID, "pool-cpu")
    assert spec["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    # in: the hub's and proxy's pods only, on the server's port: never another project
    (ingress,) = spec["ingress"]
    assert ingress["ports"] == [{"port": 8888, "protocol": "TCP"}]
    (peer,) = ingress["from"]
    selector = peer["podSelector"]
    assert selector["matchExpressions"][0]["values"] == ["hub", "proxy"]
    assert "project" not in json.dumps(ingress)
    # out: the hub and proxy, DNS, and the internet without private or link-local ranges
    hub, dns, internet = spec["egress"]
    assert hub["to"] == ingress["from"]
    assert {p["port"] for p in dns["ports"]} == {53}
    (block,) = internet["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert set(block["ipBlock"]["except"]) >= {"10.0.0.0/8", "172.16.0.0/12",
                                                "192.168.0.0/16", "169.254.0.0/16"}  # fmt: skip


async def test_the_first_start_makes_the_network_policy_once(scripted):
    policies = "/apis/networking.k8s.io/v1/namespaces/smchub/networkpolicies"
    start = [
        ("GET", PVC, 200, pvc_answer("3000Mi")),
        ("POST", f"{NS}/secrets", 201, {"kind": "Secret"}),
        ("POST", f"{NS}/pods", 201, RUNNING),
        ("GET", POD, 200, RUNNING),
    ]
    # an admin's own policy of that name is kept (409), and not asked for again
    b, api = await scripted(
        [("POST", policies, 409, STATUS_409), *start, *start], network_policy=True
    )
    await b.start(project_spawner(), SimpleNamespace(id=PID), QUOTAS)
    await b.start(project_spawner(), SimpleNamespace(id=PID), QUOTAS)
    (policy,) = [body for m, p, _, body in api.sent if p == policies]
    assert policy["metadata"]["name"] == "smchub-projects"
