"""The kubernetes backend: a project server as a pod, its home a PersistentVolumeClaim.

A node row with backend "kubernetes" stands for a Kubernetes node or a pool of them (its
options say which: node_selector, node_affinity, tolerations; see
kubernetes_objects.node_scheduling). smchub's placement picks the row, and the pod is
constrained to run where the row says. Each project keeps its home in a PVC that stays
when the project stops; its server's token is handed over in a Secret, removed with the
pod. What the objects contain is decided in kubernetes_objects (pure, unit-tested); this
module only talks to the API server, with kubernetes_asyncio as kubespawner does.

The API server is reached with the hub pod's service account (in a cluster), or with a
kubeconfig (options.kubeconfig, options.context; the node url, if given, overrides the
API server's address). The hub needs, in each namespace it uses: pods (get, create,
delete), persistentvolumeclaims (get, create) and secrets (create, delete); the Role
Zero to JupyterHub gives its hub has all of these (examples/zero-to-jupyterhub.md).
Snapshots and restores run as Jobs next to the home's claim (kubernetes_objects.
make_home_job), which also needs jobs (get, create, delete), pods (list) and pods/log
(get), and a namespace whose Pod Security level admits root pods with a few of the
default capabilities ("baseline").
"""

import asyncio
import json
import secrets

from aiohttp import ClientError
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import (
    ApiClient,
    BatchV1Api,
    Configuration,
    CoreV1Api,
    NetworkingV1Api,
    VersionApi,
)
from kubernetes_asyncio.client.exceptions import ApiException
from traitlets import Any, Bool, Dict, Float, Integer, List, Unicode, default, validate

from ..restic import is_folder
from . import docker_snapshots
from .backend import NodeBackend, SnapshotFailed
from .kubernetes_objects import (
    HOME,
    JOB_CONTAINER,
    PORT,
    TOKEN_ENV,
    home_job_names,
    home_size,
    job_state,
    limits_note,
    make_home_job,
    make_home_pvc,
    make_project_network_policy,
    make_project_pod,
    make_token_secret,
    node_scheduling,
    pod_state,
    project_environment,
    project_labels,
    project_names,
    project_resources,
    pvc_size,
    quantity_mib,
    split_secret_env,
)

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

# the NetworkPolicy every project pod of a namespace is under
NETWORK_POLICY = "smchub-projects"


class ProjectPodFailed(RuntimeError):
    """A project's pod did not come up; the message says why, as Kubernetes told it."""


def api_error_message(error):
    """What the API server answered (status, and its message: "pods is forbidden: ...")."""
    try:
        message = json.loads(error.body).get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    return f"{error.status} {error.reason}" + (f": {message}" if message else "")


class KubernetesBackend(NodeBackend):
    """Runs project servers as pods, on the nodes a node row stands for."""

    kind = "kubernetes"

    namespace = Unicode(
        help="""Namespace of project pods, PVCs and Secrets (a node's options may name
        another: namespace). Defaults to the hub pod's own namespace, else "default".

        A project's home is a PVC in the namespace of the node it first ran on: give all
        nodes of a cluster the same namespace, or a project moved between them starts
        with an empty home.
        """,
    ).tag(config=True, node_option=True)

    @default("namespace")
    def _namespace_default(self):
        try:
            with open(SERVICE_ACCOUNT_NAMESPACE) as f:
                return f.read().strip()
        except OSError:
            return "default"

    image = Unicode(
        "smchub/project:latest",
        help="Image of project servers (a node's options may name another: image).",
    ).tag(config=True, node_option=True)

    image_pull_policy = Unicode(
        None,
        allow_none=True,
        help="""imagePullPolicy of project pods: IfNotPresent, Always or Never.

        None leaves Kubernetes' default (Always for :latest, else IfNotPresent).
        """,
    ).tag(config=True)

    image_pull_secrets = List(
        Unicode(),
        help="Names of Secrets (in the pods' namespace) for pulling the image.",
    ).tag(config=True)

    command = List(
        ["jupyterhub-singleuser"],
        help="""Command that starts the project server inside the image (the pod's args:
        the image's entrypoint, tini, stays PID 1). The spawner's arguments follow it.""",
    ).tag(config=True)

    uid = Integer(1000, help="uid the project server runs as (the image's 'user').").tag(
        config=True
    )

    gid = Integer(
        1000, help="gid the project server runs as; it also owns the home volume (fsGroup)."
    ).tag(config=True)

    storage_class = Unicode(
        None,
        allow_none=True,
        help="""StorageClass of project homes (a node's options may name another:
        storage_class). None uses the cluster's default StorageClass.

        With a node-local class (local volumes, WaitForFirstConsumer), a home is made on
        the machine where the project first runs and the project stays there; with
        network storage, the home follows the project to any node.
        """,
    ).tag(config=True, node_option=True)

    # set by a node's options only: which machines of the cluster the node row stands for
    # (checked by kubernetes_objects.node_scheduling, whose errors say what to write)
    node_selector = Any(
        None, allow_none=True, help="Node labels the pod's node must have (node option)."
    ).tag(node_option=True)
    node_affinity = Any(
        None, allow_none=True, help="NodeSelectorTerms, any of which must match (node option)."
    ).tag(node_option=True)
    tolerations = Any(
        None, allow_none=True, help="Tolerations of the pods, for tainted pools (node option)."
    ).tag(node_option=True)
    kubeconfig = Unicode(
        None, allow_none=True, help="kubeconfig file for a cluster the hub is not in (node option)."
    ).tag(node_option=True)
    context = Unicode(
        None, allow_none=True, help="Context of the kubeconfig to use (node option)."
    ).tag(node_option=True)

    storage_access_modes = List(
        Unicode(),
        ["ReadWriteOnce"],
        help="Access modes of project home PVCs.",
    ).tag(config=True)

    home_size_without_quota = Unicode(
        "10Gi",
        help="""Size of the home volume of a project whose disk_mb quota is 0 (no quota):
        Kubernetes needs a size for every claim.""",
    ).tag(config=True)

    cpu_guarantee_fraction = Float(
        None,
        allow_none=True,
        help="""Share of a project's CPU quota its pod requests (the CPU quota is its limit).

        The Kubernetes scheduler places pods by their requests. None requests
        1 / c.SMCHub.overcommit["cpu"] of the quota (0.25 with the default 4x
        overcommit), so the scheduler counts what smchub's placement counts: a node's
        CPUs handed out four times over, each project guaranteed a quarter of its
        quota and free to use all of it when the node is idle.
        """,
    ).tag(config=True)

    memory_guarantee_fraction = Float(
        None,
        allow_none=True,
        help="""Share of a project's memory quota its pod requests (the quota is its limit).

        None requests 1 / c.SMCHub.overcommit["memory"] of the quota: all of it with the
        default (memory is handed out once). A pod using more memory than it requested
        is the first evicted when its node runs short; with request = limit that never
        happens, and a project that goes past its quota is OOM-killed instead, as on the
        other backends.
        """,
    ).tag(config=True)

    @validate("cpu_guarantee_fraction", "memory_guarantee_fraction")
    def _validate_fraction(self, proposal):
        value = proposal.value
        if value is not None and not 0 < value <= 1:
            raise ValueError(
                f"c.KubernetesBackend.{proposal.trait.name} must be in (0, 1] "
                f"(a share of the quota), not {value}"
            )
        return value

    extra_labels = Dict(
        help="""Labels added to project pods, e.g. those a NetworkPolicy selects on
        (smchub.io/project and smchub.io/node are always smchub's own).""",
    ).tag(config=True)

    service_account = Unicode(
        None,
        allow_none=True,
        help="""Service account of project pods. None (the default) mounts no Kubernetes
        API token into them: a project has no business with the API server.""",
    ).tag(config=True)

    secret_env = List(
        Unicode(),
        list(TOKEN_ENV),
        help="""Variables of the server's environment handed over in a Secret rather than
        written into the Pod (which anyone allowed to read pods can read): the server's
        API token, and any of your own from c.Spawner.environment you add here.""",
    ).tag(config=True)

    network_policy = Bool(
        True,
        help="""Make the namespace's NetworkPolicy for project pods (at the first start):
        only the hub and its proxy (network_policy_hub_peers) reach a project, and a
        project reaches them, the cluster's DNS and the internet, never another pod or a
        private address. Needs a network plugin that enforces NetworkPolicies (Calico,
        Cilium, ...); turn it off to manage your own.""",
    ).tag(config=True)

    network_policy_hub_peers = List(
        Dict(),
        [
            {
                "podSelector": {
                    "matchExpressions": [
                        {
                            "key": "app.kubernetes.io/component",
                            "operator": "In",
                            "values": ["hub", "proxy"],
                        },
                    ],
                    "matchLabels": {"app.kubernetes.io/name": "smchub"},
                }
            }
        ],  # fmt: skip
        help="""NetworkPolicy peers that are the hub and its proxy: by default pods of this
        namespace labelled app.kubernetes.io/name=smchub with component hub or proxy.
        A hub outside the cluster: [{"ipBlock": {"cidr": "203.0.113.10/32"}}].""",
    ).tag(config=True)

    stop_timeout = Integer(
        10, help="Seconds a project server gets to exit when its pod is deleted."
    ).tag(config=True)

    snapshot_repository_claim = Unicode(
        None,
        allow_none=True,
        help="""PersistentVolumeClaim (ReadWriteMany, in the pods' namespace) holding the
        hub's snapshot repository, when c.SMCHub.snapshot_repository is a folder: the hub
        pod mounts it at that folder, and snapshot and restore Jobs mount it too (a node's
        options may name another). Not needed with a restic URL (s3:, rest:, sftp:...),
        which the Jobs reach over the cluster's network.""",
    ).tag(config=True, node_option=True)

    # seconds between looks at a pod that is starting or being deleted
    check_interval = 1.0

    _api_client = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # namespaces whose NetworkPolicy for project pods exists (made or found)
        self._policies_made = set()

    # --- plain values from config and the node's row --------------------------

    @property
    def scheduling_options(self):
        """The node's scheduling options, as kubernetes_objects.node_scheduling takes them."""
        return {
            "node_selector": self.node_selector,
            "node_affinity": self.node_affinity,
            "tolerations": self.tolerations,
        }

    def _share_placement_counts(self, resource):
        """1 / the hub's overcommit of a resource (never more than all of the quota)."""
        # the hub's c.SMCHub.overcommit, validated and completed with its defaults
        factor = float(self.hub.overcommit[resource])
        return 1.0 if factor <= 1 else 1.0 / factor

    @property
    def cpu_fraction(self):
        if self.cpu_guarantee_fraction is not None:
            return self.cpu_guarantee_fraction
        return self._share_placement_counts("cpu")

    @property
    def memory_fraction(self):
        if self.memory_guarantee_fraction is not None:
            return self.memory_guarantee_fraction
        return self._share_placement_counts("memory")

    @property
    def pod_namespace(self):
        """The namespace of this node's project objects (configured, or the node's own)."""
        return self.namespace

    def home_pvc(self, project_id, quotas):
        """The PVC a new project home gets."""
        names = project_names(project_id)
        return make_home_pvc(
            name=names.pvc,
            size=home_size(quotas["disk_mb"], self.home_size_without_quota),
            storage_class=self.storage_class,
            access_modes=self.storage_access_modes,
            labels=project_labels(project_id),
        )

    def server_objects(self, project_id, hub_env, args, quotas, home, image=""):
        """(Secret, Pod) running the project's server, `home` the size of its volume,
        from `image` (the project's environment's) or the node's own."""
        names = project_names(project_id)
        resources = project_resources(quotas, self.cpu_fraction, self.memory_fraction)
        note = limits_note(resources, self.node_name, home, self.storage_class)
        limits = self.limits_env({**quotas, "disk_mb": quantity_mib(home)}, True, note)
        env = project_environment(hub_env, limits, project_id)
        pod_env, secret_data = split_secret_env(env, set(self.secret_env), names.secret)
        labels = project_labels(project_id, self.node_name, self.extra_labels)
        secret = make_token_secret(names.secret, secret_data, project_labels(project_id))
        pod = make_project_pod(
            names=names,
            image=image or self.image,
            command=self.command + list(args),
            env=pod_env,
            resources=resources,
            scheduling=node_scheduling(self.node_name, self.scheduling_options),
            labels=labels,
            uid=self.uid,
            gid=self.gid,
            image_pull_policy=self.image_pull_policy,
            image_pull_secrets=list(self.image_pull_secrets),
            service_account=self.service_account,
            grace_seconds=self.stop_timeout,
        )
        return secret, pod

    def job_token(self):
        """A few hex digits that tell one snapshot or restore Job from another."""
        return secrets.token_hex(3)

    def home_job_objects(self, project_id, restic, kind, command, on_machine, token):
        """(Secret, Job) of one snapshot or restore run next to the project's home."""
        if is_folder(restic.repository) and not self.snapshot_repository_claim:
            raise SnapshotFailed(
                f"node {self.node_name}: the snapshot repository is a folder of the hub's; "
                "set c.KubernetesBackend.snapshot_repository_claim to the claim that holds "
                "it, or make c.SMCHub.snapshot_repository a restic URL"
            )
        names = home_job_names(project_id, kind, token)
        snapshot = kind == "snapshot"
        job = make_home_job(
            names=names,
            project_id=project_id,
            kind=kind,
            image=self.image,
            command=command,
            home_claim=project_names(project_id).pvc,
            mount_path=docker_snapshots.snapshot_mount(project_id) if snapshot else HOME,
            read_only=snapshot,
            capabilities=(
                docker_snapshots.BACKUP_CAPS if snapshot else docker_snapshots.RESTORE_CAPS
            ),
            scheduling=node_scheduling(self.node_name, self.scheduling_options),
            on_machine=on_machine,
            repository_claim=self.snapshot_repository_claim if is_folder(restic.repository)
            else None,
            image_pull_policy=self.image_pull_policy,
            image_pull_secrets=list(self.image_pull_secrets),
        )  # fmt: skip
        # the repository's password (and address) in a Secret of the run's own
        access = restic.container_access()
        secret = make_token_secret(names.secret, access["env"], project_labels(project_id))
        return secret, job

    async def _project_machine(self, core, namespace, project_id):
        """The machine the project's pod runs on (its home is mounted there), or None."""
        try:
            pod = await core.read_namespaced_pod(project_names(project_id).pod, namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        if pod.metadata.deletion_timestamp is not None or pod.status is None:
            return None
        if pod.spec is None or pod.status.phase not in ("Pending", "Running"):
            return None
        return pod.spec.node_name

    async def _run_home_job(self, project_id, restic, kind, command):
        """Run a snapshot or restore Job to its end; (exit code, log). Always removed."""
        namespace = self.pod_namespace
        try:
            core = await self._core()
            on_machine = await self._project_machine(core, namespace, project_id)
        except ApiException as e:
            raise SnapshotFailed(f"node {self.node_name}: {api_error_message(e)}") from e
        except (ClientError, OSError, asyncio.TimeoutError, kube_config.ConfigException) as e:
            raise SnapshotFailed(f"node {self.node_name} does not answer: {e}") from e
        batch = BatchV1Api(self._api_client)
        secret, job = self.home_job_objects(
            project_id, restic, kind, command, on_machine, self.job_token()
        )
        names = secret.metadata.name, job.metadata.name
        try:
            await core.create_namespaced_secret(namespace, secret)
            await batch.create_namespaced_job(namespace, job)
            while not (state := job_state(await batch.read_namespaced_job(names[1], namespace))
                       ).finished:  # fmt: skip
                await asyncio.sleep(self.check_interval)
            pods = await core.list_namespaced_pod(namespace, label_selector=f"job-name={names[1]}")
            if not pods.items:
                raise SnapshotFailed(f"the {kind} job on node {self.node_name}: {state.reason}")
            pod = pods.items[0]
            terminated = None
            for status in pod.status.container_statuses or []:
                if status.name == JOB_CONTAINER and status.state:
                    terminated = status.state.terminated
            if terminated is None:
                raise SnapshotFailed(f"the {kind} job on node {self.node_name}: {state.reason}")
            log = await core.read_namespaced_pod_log(
                pod.metadata.name, namespace, container=JOB_CONTAINER
            )
            # Kubernetes keeps one log of both streams: the result lines are told apart by
            # their shape (restic's JSON summary, PLACE_SCRIPT's last line)
            log = log.encode() if isinstance(log, str) else log
            return terminated.exit_code, log
        except ApiException as e:
            raise SnapshotFailed(
                f"Kubernetes refused the {kind} job on node {self.node_name}: "
                f"{api_error_message(e)}"
            ) from e
        except (ClientError, OSError, asyncio.TimeoutError) as e:
            raise SnapshotFailed(f"node {self.node_name} does not answer: {e}") from e
        finally:
            await asyncio.shield(self._remove_home_job(core, batch, namespace, *names))

    async def _remove_home_job(self, core, batch, namespace, secret, job):
        try:
            await batch.delete_namespaced_job(job, namespace, propagation_policy="Background")
        except ApiException as e:
            if e.status != 404:
                self.log.warning("Could not remove job %s/%s: %s", namespace, job, e.reason)
        except (ClientError, OSError, asyncio.TimeoutError) as e:
            self.log.warning("Could not reach Kubernetes to remove job %s/%s: %s", namespace,
                             job, e)  # fmt: skip
        try:
            await core.delete_namespaced_secret(secret, namespace)
        except ApiException as e:
            if e.status != 404:
                self.log.warning("Could not remove secret %s/%s: %s", namespace, secret,
                                 e.reason)  # fmt: skip
        except (ClientError, OSError, asyncio.TimeoutError) as e:
            self.log.warning("Could not reach Kubernetes to remove secret %s/%s: %s",
                             namespace, secret, e)  # fmt: skip

    async def snapshot_home(self, project_id, restic, trigger):
        command = docker_snapshots.backup_command(restic, project_id, trigger)
        rc, log = await self._run_home_job(project_id, restic, "snapshot", command)
        return docker_snapshots.backup_result(rc, log, log)

    async def restore_home(self, project_id, restic, snapshot_id, source_path, target_path):
        command = docker_snapshots.restore_command(
            restic, snapshot_id, source_path, HOME, target_path, f"{self.uid}:{self.gid}"
        )
        rc, log = await self._run_home_job(project_id, restic, "restore", command)
        return docker_snapshots.restore_result(rc, log, log)

    # --- talking to the API server --------------------------------------------

    async def _core(self):
        if self._api_client is None:
            configuration = Configuration()
            kubeconfig, context = self.kubeconfig, self.context
            if kubeconfig or context:
                await kube_config.load_kube_config(
                    config_file=kubeconfig,
                    context=context,
                    client_configuration=configuration,
                    persist_config=False,
                )
            else:
                try:
                    kube_config.load_incluster_config(client_configuration=configuration)
                except kube_config.ConfigException:
                    await kube_config.load_kube_config(
                        client_configuration=configuration, persist_config=False
                    )
            if self.node_url:
                configuration.host = self.node_url
            if self._api_client is None:
                self._api_client = ApiClient(configuration=configuration)
        return CoreV1Api(self._api_client)

    async def close(self):
        if self._api_client is not None:
            client, self._api_client = self._api_client, None
            await client.close()

    async def check(self):
        await self._core()
        await VersionApi(self._api_client).get_code()
        return True

    async def start(self, spawner, project, quotas):
        try:
            return await self._start(spawner, project, quotas)
        except ApiException as e:
            raise ProjectPodFailed(
                f"Kubernetes refused to start project {project.id} on node {self.node_name}: "
                f"{api_error_message(e)}"
            ) from e
        except kube_config.ConfigException as e:
            raise ProjectPodFailed(f"node {self.node_name}: no Kubernetes configuration: {e}")

    async def _start(self, spawner, project, quotas):
        loop = asyncio.get_running_loop()
        # give up (and say why) before JupyterHub's own start timeout does (saying only
        # "timeout")
        deadline = loop.time() + max(spawner.start_timeout - 2, 0)
        namespace = self.pod_namespace
        names = project_names(project.id)
        # bad node options are refused before anything is made
        node_scheduling(self.node_name, self.scheduling_options)
        core = await self._core()
        if self.network_policy and namespace not in self._policies_made:
            await self._ensure_network_policy(namespace)
        home = await self._ensure_home(core, namespace, project.id, quotas)
        # the server listens on every address of its pod; the hub reaches it at the pod's
        spawner.ip, spawner.port = "0.0.0.0", PORT
        secret, pod = self.server_objects(
            project.id, spawner.get_env(), spawner.get_args(), quotas, home,
            spawner.environment_image,
        )  # fmt: skip
        self.log.info(
            "Starting project %s as pod %s/%s on node %s",
            project.id, namespace, names.pod, self.node_name,
        )  # fmt: skip
        handle = {"namespace": namespace, "pod": names.pod, "secret": names.secret}
        try:
            await self._replace(core.create_namespaced_secret, core.delete_namespaced_secret,
                                namespace, secret)  # fmt: skip
            await self._create_pod(core, namespace, pod)
            running = await self._wait_running(core, namespace, names.pod, deadline)
        except BaseException:
            # the spawner has no handle yet, so nobody else would remove them
            await self._remove(core, handle, now=True)
            raise
        if running.image_digest:
            handle["image"] = running.image_digest
        return running.ip, PORT, handle

    def started_image(self, handle):
        # the hub cannot ask a registry what a tag names; the kubelet that pulled it says
        return handle.get("image")

    async def _ensure_network_policy(self, namespace):
        """The namespace's policy for project pods, made once (an existing one is kept:
        an admin may have changed it)."""
        policy = make_project_network_policy(
            name=NETWORK_POLICY,
            labels={"app.kubernetes.io/name": "smchub", "app.kubernetes.io/managed-by": "smchub"},
            hub_peers=self.network_policy_hub_peers,
        )
        try:
            await NetworkingV1Api(self._api_client).create_namespaced_network_policy(
                namespace, policy
            )
            self.log.info("Made NetworkPolicy %s/%s for project pods", namespace, NETWORK_POLICY)
        except ApiException as e:
            if e.status != 409:
                raise
        self._policies_made.add(namespace)

    async def _ensure_home(self, core, namespace, project_id, quotas):
        """The size of the project's home PVC, made if it is missing."""
        wanted = self.home_pvc(project_id, quotas)
        name = wanted.metadata.name
        try:
            pvc = await core.read_namespaced_persistent_volume_claim(name, namespace)
        except ApiException as e:
            if e.status != 404:
                raise
            self.log.info("Creating the home of project %s: PVC %s/%s (%s)", project_id,
                          namespace, name, wanted.spec.resources.requests["storage"])  # fmt: skip
            pvc = await core.create_namespaced_persistent_volume_claim(namespace, wanted)
        size = pvc_size(pvc)
        if quantity_mib(size) < quantity_mib(wanted.spec.resources.requests["storage"]):
            self.log.warning(
                "Project %s's home %s/%s is %s, less than its quota now asks: smchub does "
                "not grow volumes (kubectl edit pvc, with a StorageClass that allows "
                "volume expansion)",
                project_id, namespace, name, size,
            )  # fmt: skip
        return size

    async def _replace(self, create, delete, namespace, obj):
        """Create obj, replacing one of the same name (left by a hub that lost track)."""
        try:
            await create(namespace, obj)
        except ApiException as e:
            if e.status != 409:
                raise
            await delete(obj.metadata.name, namespace)
            await create(namespace, obj)

    async def _create_pod(self, core, namespace, pod):
        try:
            await core.create_namespaced_pod(namespace, pod)
        except ApiException as e:
            if e.status != 409:
                raise
            # a pod of an earlier run the hub lost track of: it goes, ours comes
            name = pod.metadata.name
            self.log.warning("Replacing the stale pod %s/%s", namespace, name)
            await self._delete_pod(core, namespace, name, now=True)
            await core.create_namespaced_pod(namespace, pod)

    async def _wait_running(self, core, namespace, name, deadline):
        loop = asyncio.get_running_loop()
        while True:
            try:
                pod = await core.read_namespaced_pod(name, namespace)
            except ApiException as e:
                if e.status != 404:
                    raise
                raise ProjectPodFailed(f"pod {namespace}/{name} was deleted while starting")
            state = pod_state(pod)
            if state.running:
                return state
            if state.finished or state.hopeless:
                raise ProjectPodFailed(f"pod {namespace}/{name} did not start: {state.reason}")
            if loop.time() >= deadline:
                raise ProjectPodFailed(
                    f"pod {namespace}/{name} is not running yet ({state.reason}); giving up "
                    "(c.ProjectSpawner.start_timeout)"
                )
            await asyncio.sleep(self.check_interval)

    async def _delete_pod(self, core, namespace, name, now=False):
        """Delete the pod and wait until it is gone (its grace period, and a bit)."""
        grace = 0 if now else self.stop_timeout
        try:
            await core.delete_namespaced_pod(name, namespace, grace_period_seconds=grace)
        except ApiException as e:
            if e.status == 404:
                return
            raise
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace + 30
        while loop.time() < deadline:
            try:
                await core.read_namespaced_pod(name, namespace)
            except ApiException as e:
                if e.status == 404:
                    return
                raise
            await asyncio.sleep(self.check_interval)
        self.log.warning("Pod %s/%s is still terminating after %s s", namespace, name,
                         grace + 30)  # fmt: skip

    async def _remove(self, core, handle, now=False):
        """Remove the server's pod and Secret; the home stays. Failures are logged:
        the next start replaces what is left."""
        namespace = handle["namespace"]
        try:
            await self._delete_pod(core, namespace, handle["pod"], now=now)
            await core.delete_namespaced_secret(handle["secret"], namespace)
        except ApiException as e:
            if e.status != 404:
                self.log.warning("Could not remove pod %s/%s: %s", namespace, handle["pod"],
                                 e.reason)  # fmt: skip
        except (ClientError, OSError, asyncio.TimeoutError) as e:
            self.log.warning("Could not reach Kubernetes to remove pod %s/%s: %s", namespace,
                             handle["pod"], e)  # fmt: skip

    async def poll(self, spawner, handle):
        try:
            core = await self._core()
            pod = await core.read_namespaced_pod(handle["pod"], handle["namespace"])
        except ApiException as e:
            if e.status != 404:
                self.log.warning("Node %s: cannot read pod %s: %s", self.node_name,
                                 handle["pod"], e.reason)  # fmt: skip
            return 1
        except (ClientError, OSError, asyncio.TimeoutError, kube_config.ConfigException) as e:
            # as on the other backends: a node that does not answer runs nothing anyone
            # can reach (the health check marks it down)
            self.log.warning("Node %s does not answer: %s", self.node_name, e)
            return 1
        state = pod_state(pod)
        return state.exit_code if state.finished else None

    async def stop(self, spawner, handle, now=False):
        try:
            core = await self._core()
        except (OSError, kube_config.ConfigException) as e:
            self.log.warning("Node %s: no Kubernetes configuration: %s", self.node_name, e)
            return
        await self._remove(core, handle, now=now)
