"""What a project is made of on Kubernetes: pure functions, no I/O.

KubernetesBackend decides nothing itself. These functions turn a project's id, its
quotas, the environment JupyterHub gives its server and the node row placement chose
into the objects the backend creates (a PersistentVolumeClaim for the home, a Secret for
the server's token, a Pod for the server), built with kubespawner's object builders as
kubernetes_asyncio models; and they read a Pod's status back into what the hub needs to
know. tests/test_kubernetes_objects.py checks them without a cluster.

How smchub's ideas map onto Kubernetes:
- placement chose a node row; the row's options (node_selector, node_affinity,
  tolerations) become the pod's nodeSelector, required node affinity and tolerations, so
  the pod runs where placement said;
- the home is a PVC that outlives the pod; a node-local storage class pins it (and so
  the project) to the machine where it was first used, network storage lets it follow;
- quotas become limits, and requests that match what placement counted (a share of
  each limit given by the overcommit, see KubernetesBackend);
- the server's API token lives in a Secret the pod reads it from, not in the Pod spec.
"""

import math
from dataclasses import astuple, dataclass, field
from decimal import Decimal, InvalidOperation

from kubernetes_asyncio.client import (
    V1EnvVarSource,
    V1Job,
    V1ObjectMeta,
    V1Secret,
    V1SecretKeySelector,
)
from kubespawner.objects import make_pod, make_pvc
from kubespawner.slugs import is_valid_label, is_valid_object_name, safe_slug

from ..restic import CONTAINER_REPOSITORY
from .backend import InvalidNodeOptions

# the project image gives this folder to uid 1000 (docker/Dockerfile.project)
HOME = "/home/user"
PORT = 8888
# the server's container, as kubespawner's make_pod names it
CONTAINER = "notebook"

# labels smchub finds its objects by; extra labels never replace them
PROJECT_LABEL = "smchub.io/project"
NODE_LABEL = "smchub.io/node"

# the server's own credentials (JupyterHub sets both to the same token)
TOKEN_ENV = ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")

# waiting reasons that no amount of waiting fixes
HOPELESS_WAITING = {"InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"}

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


@dataclass(frozen=True)
class ProjectNames:
    """Names of a project's objects (each a DNS-1123 label: at most 63 characters)."""

    pod: str
    pvc: str
    secret: str


def project_names(project_id):
    """The pod, PVC and Secret names of a project, from its id (a UUID)."""
    pid = project_id.lower()
    names = ProjectNames(
        pod=f"smchub-project-{pid}",
        pvc=f"smchub-home-{pid}",
        secret=f"smchub-token-{pid}",
    )
    for name in astuple(names):
        if not is_valid_object_name(name):
            raise ValueError(
                f"project id {project_id!r} does not make a valid Kubernetes name ({name!r}): "
                "project ids are UUIDs"
            )
    return names


def project_labels(project_id, node_name=None, extra=None):
    """Labels of a project's objects: smchub's own, the admin's extra ones, and the two
    that identify the project (and the node row its pod was placed on)."""
    labels = {
        "app.kubernetes.io/name": "smchub",
        "app.kubernetes.io/component": "project",
        "app.kubernetes.io/managed-by": "smchub",
    }
    labels.update(extra or {})
    labels[PROJECT_LABEL] = project_id.lower()
    if node_name is not None:
        # node row names may end in '.', '_' or '-', which label values may not
        labels[NODE_LABEL] = safe_slug(node_name, is_valid=is_valid_label)
    return labels


@dataclass(frozen=True)
class Resources:
    """A container's requests and limits, as Kubernetes quantities."""

    cpu_limit: str
    cpu_request: str
    memory_limit: str
    memory_request: str


def cpu_quantity(cores):
    """Kubernetes CPU quantity for a number of cores, rounded up to the millicore."""
    # round() first: 0.1 * 3 cores is 300.00000000000006 millicores
    millicores = max(1, math.ceil(round(float(cores) * 1000, 6)))
    if millicores % 1000 == 0:
        return str(millicores // 1000)
    return f"{millicores}m"


def memory_quantity(mb):
    """Kubernetes memory quantity for smchub's MB (MiB, as everywhere in smchub), rounded up."""
    return f"{max(1, math.ceil(round(float(mb), 6)))}Mi"


def project_resources(quotas, cpu_fraction, memory_fraction):
    """Limits are the quotas; requests are the fractions of them the scheduler reserves."""
    for name, fraction in (("cpu", cpu_fraction), ("memory", memory_fraction)):
        if not 0 < fraction <= 1:
            raise ValueError(f"the {name} guarantee fraction must be in (0, 1], not {fraction}")
    cpu, memory_mb = float(quotas["cpu"]), float(quotas["memory_mb"])
    return Resources(
        cpu_limit=cpu_quantity(cpu),
        cpu_request=cpu_quantity(cpu * cpu_fraction),
        memory_limit=memory_quantity(memory_mb),
        memory_request=memory_quantity(memory_mb * memory_fraction),
    )


@dataclass(frozen=True)
class Scheduling:
    """Where a pod may run: what a kubernetes node row stands for."""

    node_selector: dict = field(default_factory=dict)
    node_affinity_required: list = field(default_factory=list)
    tolerations: list = field(default_factory=list)


def node_scheduling(node_name, options):
    """The pod's scheduling constraints from a node row's options.

    options.node_selector: Kubernetes node labels the pod's node must have, e.g.
    {"kubernetes.io/hostname": "node-a"} (one machine) or {"pool": "cpu"} (a pool);
    options.node_affinity: NodeSelectorTerms (any one must match), for what a selector
    cannot say, e.g. [{"matchExpressions": [{"key": "zone", "operator": "In",
    "values": ["a", "b"]}]}]; options.tolerations: tolerations for tainted pools.
    A row with none of them stands for the whole cluster.
    """
    options = options or {}
    selector = options.get("node_selector") or {}
    if not isinstance(selector, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in selector.items()
    ):
        raise InvalidNodeOptions(
            f"node {node_name!r}: options.node_selector must map Kubernetes node labels to "
            'strings, e.g. {"kubernetes.io/hostname": "node-a"}'
        )
    affinity = options.get("node_affinity") or []
    if not isinstance(affinity, list) or not all(
        isinstance(term, dict) and term and set(term) <= {"matchExpressions", "matchFields"}
        for term in affinity
    ):
        raise InvalidNodeOptions(
            f"node {node_name!r}: options.node_affinity must be a list of NodeSelectorTerms, "
            'e.g. [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]'
        )
    tolerations = options.get("tolerations") or []
    if not isinstance(tolerations, list) or not all(isinstance(t, dict) for t in tolerations):
        raise InvalidNodeOptions(
            f"node {node_name!r}: options.tolerations must be a list of tolerations, e.g. "
            '[{"key": "dedicated", "operator": "Equal", "value": "smchub", '
            '"effect": "NoSchedule"}]'
        )
    return Scheduling(dict(selector), list(affinity), list(tolerations))


def project_environment(hub_env, limits, project_id):
    """The server's environment: JupyterHub's, the limits, and the image's account."""
    env = dict(hub_env)
    env.update(limits)
    env.update(
        HOME=HOME,
        SHELL="/bin/bash",
        USER="user",
        LANG="C.UTF-8",
        JUPYTERHUB_ROOT_DIR=HOME,
        SMCHUB_PROJECT_ID=project_id,
    )
    return env


def split_secret_env(env, secret_keys, secret_name):
    """(pod env, secret data): the secret keys' values move into the Secret, and the
    pod's variables of those names refer to it."""
    pod_env, secret_data = {}, {}
    for key, value in env.items():
        if key in secret_keys:
            secret_data[key] = value
            pod_env[key] = {
                "name": key,
                "valueFrom": V1EnvVarSource(
                    secret_key_ref=V1SecretKeySelector(name=secret_name, key=key)
                ),
            }
        else:
            pod_env[key] = value
    return pod_env, secret_data


def make_token_secret(name, data, labels):
    """The Secret holding the server's token (string_data: the API server encodes it)."""
    return V1Secret(
        api_version="v1",
        kind="Secret",
        type="Opaque",
        metadata=V1ObjectMeta(name=name, labels=dict(labels)),
        string_data=dict(data),
    )


def home_size(disk_mb, size_without_quota):
    """The home volume's size: the disk quota, or the configured size when it is 0."""
    if disk_mb and disk_mb > 0:
        return memory_quantity(disk_mb)
    return size_without_quota


def make_home_pvc(name, size, storage_class, access_modes, labels):
    """The project's home: a claim that outlives every pod of the project.

    storage_class None leaves the choice to the cluster's default StorageClass.
    """
    return make_pvc(
        name=name,
        storage_class=storage_class,
        access_modes=list(access_modes),
        selector=None,
        storage=size,
        labels=labels,
    )


def make_project_pod(
    *,
    names,
    image,
    command,
    env,
    resources,
    scheduling,
    labels,
    uid=1000,
    gid=1000,
    image_pull_policy=None,
    image_pull_secrets=None,
    service_account=None,
    grace_seconds=10,
):
    """The pod running the project's server, its home mounted at HOME.

    It runs as uid/gid (never root, no privilege escalation, no capabilities), which
    meets the "restricted" Pod Security Standard; it gets no Kubernetes API token
    unless service_account is set, and no variables about the namespace's Services.
    restartPolicy Never: a server that dies is reported stopped to the hub (as on the
    other backends) rather than restarted behind its back.
    """
    pod = make_pod(
        name=names.pod,
        image=image,
        cmd=list(command),
        port=PORT,
        env=env,
        working_dir=HOME,
        image_pull_policy=image_pull_policy,
        image_pull_secrets=image_pull_secrets or None,
        node_selector=scheduling.node_selector or None,
        node_affinity_required=scheduling.node_affinity_required or None,
        tolerations=scheduling.tolerations or None,
        uid=uid,
        gid=gid,
        fs_gid=gid,
        allow_privilege_escalation=False,
        pod_security_context={
            "runAsNonRoot": True,
            # chown the volume only when its top folder is not the project's yet, not
            # every file of a large home at every start
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        container_security_context={
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        volumes=[{"name": "home", "persistentVolumeClaim": {"claimName": names.pvc}}],
        volume_mounts=[{"name": "home", "mountPath": HOME}],
        labels=labels,
        cpu_limit=resources.cpu_limit,
        cpu_guarantee=resources.cpu_request,
        mem_limit=resources.memory_limit,
        mem_guarantee=resources.memory_request,
        service_account=service_account,
    )
    pod.spec.restart_policy = "Never"
    pod.spec.enable_service_links = False
    pod.spec.termination_grace_period_seconds = grace_seconds
    return pod


def quantity_mib(quantity):
    """MiB (rounded down) in a Kubernetes quantity such as "10Gi", "3000Mi" or "5G"."""
    text = str(quantity).strip()
    number, scale = text, 1
    # binary suffixes first: "Mi" ends in a letter that is not "M"
    for suffix, factor in (*_BINARY.items(), *_DECIMAL.items()):
        if text.endswith(suffix):
            number, scale = text[: -len(suffix)], factor
            break
    try:
        value = Decimal(number) * scale
    except InvalidOperation:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    return int(value // 2**20)


def pvc_size(pvc):
    """The size a claim has (its bound capacity, else what it asked for)."""
    capacity = (pvc.status.capacity or {}) if pvc.status else {}
    if capacity.get("storage"):
        return capacity["storage"]
    return pvc.spec.resources.requests["storage"]


@dataclass(frozen=True)
class PodState:
    """What the hub needs to know about a project's pod."""

    running: bool = False
    ip: str | None = None
    # set once the server is gone for good
    exit_code: int | None = None
    # why it is not running (yet), for a person
    reason: str = ""
    # not running and never will be without a change (a bad image name, say)
    hopeless: bool = False
    # the server's image as its registry names it (repository@sha256:…), once the
    # kubelet reports it; None for an image the node has only by ID (built there)
    image_digest: str | None = None

    @property
    def finished(self):
        return self.exit_code is not None


def _server_container(status):
    for container in status.container_statuses or []:
        if container.name == CONTAINER:
            return container
    return None


def registry_digest(image_id):
    """repository@sha256:… from a container status's imageID, which runtimes spell
    "docker-pullable://repo@sha256:…" (dockershim), "repo@sha256:…" (containerd,
    CRI-O), or "sha256:…" for an image with no registry digest."""
    if not image_id:
        return None
    _, _, reference = image_id.rpartition("://")
    return reference if "@sha256:" in reference else None


def pod_state(pod):
    """Read a Pod (as the API returns it) into a PodState."""
    if pod.metadata.deletion_timestamp is not None:
        return PodState(exit_code=1, reason="the pod is being deleted")
    status = pod.status
    if status is None:
        return PodState(reason="the pod is pending")
    phase = status.phase
    container = _server_container(status)
    state = container.state if container else None
    if phase in ("Succeeded", "Failed"):
        terminated = state.terminated if state else None
        if terminated is not None:
            words = " ".join(w for w in (terminated.reason, terminated.message) if w)
            return PodState(
                exit_code=terminated.exit_code,
                reason=f"the server exited with status {terminated.exit_code}"
                + (f" ({words})" if words else ""),
            )
        # evicted or rejected before the container ran
        words = ": ".join(w for w in (status.reason, status.message) if w)
        return PodState(
            exit_code=0 if phase == "Succeeded" else 1,
            reason=words or f"the pod {phase.lower()}",
        )
    if phase == "Running" and status.pod_ip:
        digest = registry_digest(container.image_id if container else None)
        return PodState(running=True, ip=status.pod_ip, image_digest=digest)
    if phase == "Unknown":
        return PodState(reason="the pod's node does not report its state")
    for condition in status.conditions or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return PodState(reason=f"not scheduled: {condition.message or condition.reason}")
    waiting = state.waiting if state else None
    if waiting is not None and waiting.reason:
        reason = waiting.reason + (f": {waiting.message}" if waiting.message else "")
        return PodState(reason=reason, hopeless=waiting.reason in HOPELESS_WAITING)
    return PodState(reason=f"the pod is {(phase or 'pending').lower()}")


def limits_note(resources, node_name, home, storage_class):
    """What a person reading the project's info should know about its limits."""
    storage = f"storage class {storage_class}" if storage_class else "the default storage class"
    return (
        f"{resources.memory_limit} of memory and {resources.cpu_limit} CPU are Kubernetes limits "
        f"(requests: {resources.memory_request}, {resources.cpu_request}) on node {node_name}; "
        f"the disk quota is the home volume's size ({home}, {storage}), enforced only where "
        "its storage driver enforces sizes"
    )


# --- snapshots: restic in a Job next to the home's claim ---------------------------------

# how long a snapshot or restore Job may run, and how long a finished one is kept (the
# hub removes it itself once it has read the result; this is for a hub that died)
JOB_DEADLINE_SECONDS = 6 * 3600
JOB_TTL_SECONDS = 3600
# the helper's container, whose log holds the result
JOB_CONTAINER = "restic"


@dataclass(frozen=True)
class HomeJobNames:
    """Names of one snapshot or restore Job of a project, and of the Secret holding the
    repository's password for it."""

    job: str
    secret: str


def home_job_names(project_id, kind, token):
    """Names for one run (`kind` "snapshot" or "restore", `token` a few hex digits, so
    runs of one project never collide)."""
    pid = project_id.lower()
    names = HomeJobNames(job=f"smchub-{kind}-{pid}-{token}", secret=f"smchub-restic-{pid}-{token}")
    for name in astuple(names):
        if not is_valid_object_name(name) or len(name) > 63:
            raise ValueError(f"{name!r} is not a valid Job name: project ids are UUIDs")
    return names


def make_home_job(
    *,
    names,
    project_id,
    kind,
    image,
    command,
    home_claim,
    mount_path,
    read_only,
    capabilities,
    scheduling,
    on_machine=None,
    repository_claim=None,
    image_pull_policy=None,
    image_pull_secrets=None,
):
    """The Job running a snapshot or restore command once, next to a project's home.

    Its pod runs as root (to read every file, and to hand restored files to the
    project), with only the `capabilities` the command needs, no privilege escalation,
    no Kubernetes API token and no Service variables; the repository's address and
    password come from the Secret `names.secret`, never from the Job. A folder
    repository is the claim `repository_claim`, mounted where restic's container access
    says. `on_machine`: the machine where the project's pod runs, whose ReadWriteOnce
    home the job can mount only there; else it goes where the node row says.
    It is never retried (backoffLimit 0): the hub decides what to do with a failure.
    """
    labels = {**project_labels(project_id), "app.kubernetes.io/component": kind}
    volumes = [
        {"name": "home",
         "persistentVolumeClaim": {"claimName": home_claim, "readOnly": read_only}},
    ]  # fmt: skip
    mounts = [{"name": "home", "mountPath": mount_path, "readOnly": read_only}]
    if repository_claim:
        volumes.append(
            {"name": "repository", "persistentVolumeClaim": {"claimName": repository_claim}}
        )
        mounts.append({"name": "repository", "mountPath": CONTAINER_REPOSITORY})
    container = {
        "name": JOB_CONTAINER,
        "image": image,
        # args, not command: the image's entrypoint (tini) stays PID 1
        "args": list(command),
        "workingDir": mount_path,
        "envFrom": [{"secretRef": {"name": names.secret}}],
        "volumeMounts": mounts,
        "securityContext": {
            "runAsUser": 0,
            "runAsGroup": 0,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": list(capabilities)},
        },
    }
    if image_pull_policy:
        container["imagePullPolicy"] = image_pull_policy
    pod_spec = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": volumes,
    }
    if image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in image_pull_secrets]
    if on_machine:
        pod_spec["nodeName"] = on_machine
    else:
        if scheduling.node_selector:
            pod_spec["nodeSelector"] = dict(scheduling.node_selector)
        if scheduling.node_affinity_required:
            pod_spec["affinity"] = {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": list(scheduling.node_affinity_required)}}}  # fmt: skip
    if scheduling.tolerations:
        pod_spec["tolerations"] = list(scheduling.tolerations)
    return V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=V1ObjectMeta(name=names.job, labels=dict(labels)),
        spec={
            "backoffLimit": 0,
            "activeDeadlineSeconds": JOB_DEADLINE_SECONDS,
            "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    )


@dataclass(frozen=True)
class JobState:
    """What the hub needs to know about a snapshot or restore Job."""

    finished: bool = False
    succeeded: bool = False
    reason: str = ""


def job_state(job):
    """Read a Job (as the API returns it) into a JobState."""
    status = job.status
    if status is None:
        return JobState(reason="the job has not started")
    for condition in status.conditions or []:
        if condition.status != "True":
            continue
        if condition.type == "Complete":
            return JobState(finished=True, succeeded=True)
        if condition.type == "Failed":
            words = ": ".join(w for w in (condition.reason, condition.message) if w)
            return JobState(finished=True, reason=words or "the job failed")
    if status.succeeded:
        return JobState(finished=True, succeeded=True)
    if status.failed:
        return JobState(finished=True, reason="its pod failed")
    return JobState(reason="running" if status.active else "pending")


# addresses a project pod may not reach on its own: private ranges (the cluster's pods
# and services, the hub's machines) and link-local (cloud metadata services, which hand
# out the node's credentials)
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")


def make_project_network_policy(*, name, labels, hub_peers, egress_except=PRIVATE_RANGES):
    """The namespace's NetworkPolicy for every project pod (selected by smchub's labels).

    In: only the hub and its proxy (`hub_peers`, NetworkPolicy peers) reach a project's
    server port; no project reaches another. Out: the hub and its proxy (the server's
    API calls), the cluster's DNS, and the internet, but no other pod, service or
    private address (`egress_except`, CIDRs).
    """
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "smchub",
                    "app.kubernetes.io/component": "project",
                }
            },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": list(hub_peers), "ports": [{"port": PORT, "protocol": "TCP"}]}],
            "egress": [
                {"to": list(hub_peers)},
                {
                    "to": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                },
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(egress_except)}}]},
            ],
        },
    }
