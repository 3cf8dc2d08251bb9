"""The rendered Helm chart: valid Kubernetes objects with the properties production relies on.

Three installs are rendered: the defaults (plus the required secrets), everything switched on
(tests/deploy/values/everything.yaml: ingress, KEDA, NetworkPolicy, existingSecret, the reconcile
CronJob, …) and both components on HPAs (tests/deploy/values/hpa.yaml).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import helm_python as helm
import kubernetes_validate.utils as kv  # type: ignore[import-untyped]
import pytest

Manifest = dict[str, Any]
Render = Callable[..., list[Manifest]]

RELEASE = "demo"
NAMESPACE = "helpdesk"
DEFAULT_PREFIX = "demo-helpdesk-transcriber"

# The default install with the reconcile CronJob switched on.
CRON_ON: dict[str, Any] = {"reconcile": {"cronJob": {"enabled": True}}}

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest release whose
# schemas kubernetes-validate ships.
KUBE_VERSIONS = ("1.29", kv.major_minor(kv.latest_version()))

# Custom resources: kubernetes-validate has no schema for them; their content is asserted below.
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}

HOOK_KEY = "helm.sh/hook"
WEIGHT_KEY = "helm.sh/hook-weight"
DELETE_KEY = "helm.sh/hook-delete-policy"

DRAMATIQ_QUEUES = ("transcribe", "chunk", "deliver")
WORKLOAD_KINDS = {"Deployment", "Job", "CronJob", "StatefulSet", "DaemonSet"}
SECRET_ENV_NAMES = {
    "TRANSCRIBER_DATABASE_URL",
    "TRANSCRIBER_REDIS_URL",
    "TRANSCRIBER_ENCRYPTION_KEYS",
    "TRANSCRIBER_ADMIN_TOKEN",
    "OPENAI_API_KEY",
    "SENTRY_DSN",
    "REDIS_PASSWORD",
}


# --------------------------------------------------------------------------------------------
# helpers over rendered objects
# --------------------------------------------------------------------------------------------


def find(objs: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [
        o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objs: list[Manifest], kind: str, name: str) -> Manifest:
    matches = find(objs, kind, name)
    assert len(matches) == 1, f"expected one {kind}/{name}, got {len(matches)}"
    return matches[0]


def workloads(objs: list[Manifest]) -> list[Manifest]:
    """Objects that carry a pod template."""
    return [o for o in objs if o["kind"] in WORKLOAD_KINDS]


def pod_template(workload: Manifest) -> dict[str, Any]:
    """The pod template of a workload; a CronJob's is inside its Job template."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: dict[str, Any] = spec["template"]
    return template


def containers(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = pod_spec["containers"] + pod_spec.get("initContainers", [])
    return found


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def container_of(objs: list[Manifest], kind: str, name: str) -> dict[str, Any]:
    (container,) = pod_template(one(objs, kind, name))["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def is_hook(obj: Manifest) -> bool:
    return HOOK_KEY in (obj["metadata"].get("annotations") or {})


def hook_weight(obj: Manifest) -> int:
    return int(obj["metadata"]["annotations"].get(WEIGHT_KEY, "0"))


# --------------------------------------------------------------------------------------------
# fixtures: the installs
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_objs(render: Render, base_values: dict[str, Any]) -> list[Manifest]:
    return render(base_values)


@pytest.fixture(scope="module")
def everything_values(values_file: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    return values_file("everything.yaml")


@pytest.fixture(scope="module")
def everything_objs(render: Render, everything_values: dict[str, Any]) -> list[Manifest]:
    return render(everything_values)


@pytest.fixture(scope="module")
def hpa_objs(render: Render, values_file: Callable[[str], dict[str, Any]]) -> list[Manifest]:
    return render(values_file("hpa.yaml"))


@pytest.fixture(scope="module")
def cron_objs(render: Render, base_values: dict[str, Any]) -> list[Manifest]:
    return render(base_values, CRON_ON)


@pytest.fixture(params=["default", "everything", "hpa", "cron"])
def scenario_objs(request: pytest.FixtureRequest) -> list[Manifest]:
    objs: list[Manifest] = request.getfixturevalue(f"{request.param}_objs")
    return objs


# --------------------------------------------------------------------------------------------
# every object is valid Kubernetes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_object_validates_against_the_kubernetes_schema(
    scenario_objs: list[Manifest], kube_version: str
) -> None:
    skipped: set[tuple[str, str]] = set()
    for obj in scenario_objs:
        try:
            kv.validate(obj, kube_version, strict=True)
        except kv.SchemaNotFoundError:
            skipped.add((obj["apiVersion"], obj["kind"]))
        except kv.ValidationError as error:
            where = ".".join(str(p) for p in error.path)
            pytest.fail(
                f"{obj['kind']}/{obj['metadata']['name']} is invalid for Kubernetes "
                f"{kube_version} at {where}: {error.message}"
            )
    # Only KEDA's custom resources may lack a schema: anything else is a typo in apiVersion.
    assert skipped <= CUSTOM_KINDS


def test_the_oldest_version_validated_is_the_chart_minimum(chart: helm.Chart) -> None:
    assert chart.metadata["kubeVersion"] == f">={KUBE_VERSIONS[0]}.0-0"


def test_the_kubernetes_validator_catches_a_broken_object(default_objs: list[Manifest]) -> None:
    """The validation above is not vacuous: a misplaced field fails it."""
    deployment = one(default_objs, "Deployment", f"{DEFAULT_PREFIX}-web")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, KUBE_VERSIONS[-1], strict=True)


def test_default_install_renders_the_expected_objects(default_objs: list[Manifest]) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in default_objs)
    p = DEFAULT_PREFIX
    assert kinds == sorted(
        [
            ("ConfigMap", p),
            ("Secret", p),
            ("Secret", f"{p}-migrate"),
            ("ServiceAccount", p),
            ("ServiceAccount", f"{p}-migrate"),
            ("Deployment", f"{p}-web"),
            ("Deployment", f"{p}-worker"),
            ("Service", f"{p}-web"),
            ("PodDisruptionBudget", f"{p}-web"),
            ("PodDisruptionBudget", f"{p}-worker"),
            ("Job", f"{p}-migrate"),
        ]
    )
    for obj in default_objs:
        assert obj["metadata"]["namespace"] == NAMESPACE


def test_everything_install_renders_the_optional_objects(everything_objs: list[Manifest]) -> None:
    kinds = {o["kind"] for o in everything_objs}
    assert {
        "Ingress",
        "HorizontalPodAutoscaler",
        "ScaledObject",
        "TriggerAuthentication",
        "NetworkPolicy",
        "CronJob",
    } <= kinds
    # existingSecret: the chart renders no Secret of its own, not even the hook copy.
    assert find(everything_objs, "Secret") == []
    # KEDA owns the worker's HPA; the chart's HPA is the web one only.
    assert [h["metadata"]["name"] for h in find(everything_objs, "HorizontalPodAutoscaler")] == [
        "transcriber-web"
    ]


# --------------------------------------------------------------------------------------------
# web and worker
# --------------------------------------------------------------------------------------------


def test_web_and_worker_are_separate_deployments(default_objs: list[Manifest]) -> None:
    web = one(default_objs, "Deployment", f"{DEFAULT_PREFIX}-web")
    worker = one(default_objs, "Deployment", f"{DEFAULT_PREFIX}-worker")
    web_selector = web["spec"]["selector"]["matchLabels"]
    worker_selector = worker["spec"]["selector"]["matchLabels"]
    assert web_selector["app.kubernetes.io/component"] == "web"
    assert worker_selector["app.kubernetes.io/component"] == "worker"
    # Neither Deployment adopts the other's pods.
    worker_pod_labels = worker["spec"]["template"]["metadata"]["labels"]
    web_pod_labels = web["spec"]["template"]["metadata"]["labels"]
    assert not web_selector.items() <= worker_pod_labels.items()
    assert not worker_selector.items() <= web_pod_labels.items()

    web_container = container_of(default_objs, "Deployment", f"{DEFAULT_PREFIX}-web")
    worker_container = container_of(default_objs, "Deployment", f"{DEFAULT_PREFIX}-worker")
    assert web_container["args"] == [
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--workers",
        "1",
    ]
    assert worker_container["args"][0] == "worker"
    assert worker_container["args"][-4:] == ["--queues", *DRAMATIQ_QUEUES]
    assert web_container["image"] == worker_container["image"] == "helpdesk-transcriber:0.1.0"
    assert web["spec"]["replicas"] == 2
    assert worker["spec"]["replicas"] == 1


def test_the_service_reaches_only_the_web_pods(default_objs: list[Manifest]) -> None:
    service = one(default_objs, "Service", f"{DEFAULT_PREFIX}-web")
    web = one(default_objs, "Deployment", f"{DEFAULT_PREFIX}-web")
    worker = one(default_objs, "Deployment", f"{DEFAULT_PREFIX}-worker")
    selector = service["spec"]["selector"]
    assert selector.items() <= web["spec"]["template"]["metadata"]["labels"].items()
    assert not selector.items() <= worker["spec"]["template"]["metadata"]["labels"].items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    (container_port,) = container_of(default_objs, "Deployment", f"{DEFAULT_PREFIX}-web")["ports"]
    assert container_port == {"name": "http", "containerPort": 8000, "protocol": "TCP"}


def test_web_probes_use_healthz_and_readyz(default_objs: list[Manifest]) -> None:
    web = container_of(default_objs, "Deployment", f"{DEFAULT_PREFIX}-web")
    assert web["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert web["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert web["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_web_sleeps_before_draining(default_objs: list[Manifest]) -> None:
    deployment = one(default_objs, "Deployment", f"{DEFAULT_PREFIX}-web")
    web = container_of(default_objs, "Deployment", f"{DEFAULT_PREFIX}-web")
    sleep = web["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep == ["sleep", "10"]
    # `transcriber serve` gives uvicorn 30 s to drain after SIGTERM, which follows the sleep.
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= int(sleep[1]) + 30
    # Rolling updates never drop below the desired number of ready receivers.
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_worker_liveness_is_the_heartbeat_command(default_objs: list[Manifest]) -> None:
    worker = container_of(default_objs, "Deployment", f"{DEFAULT_PREFIX}-worker")
    command = ["python", "-m", "adapter.jobs.liveness", "--max-age", "120"]
    assert worker["livenessProbe"]["exec"]["command"] == command
    assert worker["startupProbe"]["exec"]["command"] == command
    assert "httpGet" not in worker["livenessProbe"]
    assert "readinessProbe" not in worker
    assert "ports" not in worker


@pytest.mark.parametrize(
    ("worker_values", "shutdown", "grace"),
    [
        ({}, 600, 630),
        ({"shutdownTimeoutSeconds": 1200}, 1200, 1230),
        ({"shutdownTimeoutSeconds": 60, "terminationGracePeriodSeconds": 3600}, 60, 3600),
    ],
)
def test_worker_grace_period_covers_the_shutdown_timeout(
    render: Render,
    base_values: dict[str, Any],
    worker_values: dict[str, Any],
    shutdown: int,
    grace: int,
) -> None:
    objs = render(base_values, {"worker": worker_values})
    worker = one(objs, "Deployment", f"{DEFAULT_PREFIX}-worker")
    args = worker["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--shutdown-timeout") + 1] == str(shutdown)
    period = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert period == grace
    assert period > shutdown


# --------------------------------------------------------------------------------------------
# security
# --------------------------------------------------------------------------------------------


def test_every_pod_is_restricted(scenario_objs: list[Manifest]) -> None:
    """Every pod, the migrations Job included, meets the "restricted" Pod Security Standard."""
    pods = workloads(scenario_objs)
    assert {"Deployment", "Job"} <= {w["kind"] for w in pods} <= {"Deployment", "Job", "CronJob"}
    for workload in pods:
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = pod_template(workload)["spec"]
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, name
        assert pod_sc["runAsUser"] == 10001, name
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert not spec.get("hostNetwork"), name
        assert not spec.get("hostPID"), name
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert set(volumes) == {"tmp"}, name
        assert "emptyDir" in volumes["tmp"], name
        for container in containers(spec):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["runAsUser"] == 10001, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in sc["capabilities"], name
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert sc.get("privileged", False) is False, name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts == {"/tmp": "tmp"}, name
            assert container["resources"]["requests"], name
            assert container["resources"]["limits"]["memory"], name


def test_the_work_dir_is_on_the_writable_volume(default_objs: list[Manifest]) -> None:
    config = one(default_objs, "ConfigMap", DEFAULT_PREFIX)["data"]
    assert config["TRANSCRIBER_WORK_DIR"].startswith("/tmp/")
    assert config["TRANSCRIBER_ENV"] == "production"


def test_service_accounts_mount_no_token(scenario_objs: list[Manifest]) -> None:
    accounts = find(scenario_objs, "ServiceAccount")
    assert accounts
    for account in accounts:
        assert account["automountServiceAccountToken"] is False


def test_no_secret_value_leaves_the_secrets(
    render: Render, render_notes: Callable[..., str]
) -> None:
    sentinels = {
        key: f"sentinel-{key}-{uuid.uuid4().hex}"
        for key in (
            "databaseUrl",
            "redisUrl",
            "encryptionKeys",
            "adminToken",
            "openaiApiKey",
            "sentryDsn",
            "redisPassword",
        )
    }
    values = {
        "secrets": sentinels,
        "autoscaling": {
            "autoscaler": "keda",
            "worker": {"enabled": True},
            "keda": {"redis": {"address": "redis-master:6379"}},
        },
        "networkPolicy": {"enabled": True},
        **CRON_ON,
    }
    objs = render(values)
    assert find(objs, "CronJob")
    secrets = find(objs, "Secret")
    assert len(secrets) == 2  # the release Secret and the migrations hook copy
    for secret in secrets:
        decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        assert set(decoded.values()) == set(sentinels.values())
        assert set(decoded) == SECRET_ENV_NAMES
    for obj in objs:
        if obj["kind"] == "Secret":
            continue
        text = repr(obj)
        for value in sentinels.values():
            assert value not in text, f"{obj['kind']}/{obj['metadata']['name']} leaks a secret"
            assert base64.b64encode(value.encode()).decode() not in text
    for configmap in find(objs, "ConfigMap"):
        assert not SECRET_ENV_NAMES & set(configmap["data"])
    notes = render_notes(values)
    for value in sentinels.values():
        assert value not in notes
    # The KEDA password is read by KEDA from the Secret, never written into the trigger.
    auth = one(objs, "TriggerAuthentication", f"{DEFAULT_PREFIX}-worker")
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": DEFAULT_PREFIX, "key": "REDIS_PASSWORD"}
    ]


def test_secrets_reach_the_containers_by_reference(default_objs: list[Manifest]) -> None:
    for name in (f"{DEFAULT_PREFIX}-web", f"{DEFAULT_PREFIX}-worker"):
        env = env_of(container_of(default_objs, "Deployment", name))
        for key in (
            "TRANSCRIBER_DATABASE_URL",
            "TRANSCRIBER_REDIS_URL",
            "TRANSCRIBER_ENCRYPTION_KEYS",
        ):
            assert env[key]["valueFrom"]["secretKeyRef"] == {"name": DEFAULT_PREFIX, "key": key}
        # Optional secrets that were not given are not referenced at all.
        assert "OPENAI_API_KEY" not in env
        assert "REDIS_PASSWORD" not in env


def test_existing_secret_keys_are_referenced_by_env_name(everything_objs: list[Manifest]) -> None:
    env = env_of(container_of(everything_objs, "Deployment", "transcriber-worker"))
    refs = {name: e["valueFrom"]["secretKeyRef"] for name, e in env.items() if "valueFrom" in e}
    assert set(refs) == SECRET_ENV_NAMES - {"REDIS_PASSWORD"}
    for name, ref in refs.items():
        assert ref["name"] == "transcriber-secrets"
        assert ref["key"] == name
        required = name in {
            "TRANSCRIBER_DATABASE_URL",
            "TRANSCRIBER_REDIS_URL",
            "TRANSCRIBER_ENCRYPTION_KEYS",
        }
        assert ref.get("optional", False) is (not required)


# --------------------------------------------------------------------------------------------
# configuration rollouts
# --------------------------------------------------------------------------------------------


def pod_checksums(objs: list[Manifest]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for deployment in find(objs, "Deployment"):
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        found[deployment["metadata"]["name"]] = {
            k: v for k, v in annotations.items() if k.startswith("checksum/")
        }
    return found


def test_checksum_annotations_follow_secret_and_config(
    render: Render, base_values: dict[str, Any]
) -> None:
    before = pod_checksums(render(base_values))
    assert set(before) == {f"{DEFAULT_PREFIX}-web", f"{DEFAULT_PREFIX}-worker"}
    for checksums in before.values():
        assert set(checksums) == {"checksum/config", "checksum/secret"}

    secret_changed = pod_checksums(render(base_values, {"secrets": {"encryptionKeys": "new,old"}}))
    config_changed = pod_checksums(render(base_values, {"config": {"logLevel": "DEBUG"}}))
    unrelated = pod_checksums(render(base_values, {"web": {"replicaCount": 5}}))
    for name in before:
        assert secret_changed[name]["checksum/secret"] != before[name]["checksum/secret"]
        assert secret_changed[name]["checksum/config"] == before[name]["checksum/config"]
        assert config_changed[name]["checksum/config"] != before[name]["checksum/config"]
        assert config_changed[name]["checksum/secret"] == before[name]["checksum/secret"]
        assert unrelated[name] == before[name]


# --------------------------------------------------------------------------------------------
# migrations hook
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["default", "everything"])
def test_migrations_run_as_a_hook_job_with_everything_it_needs(
    request: pytest.FixtureRequest, scenario: str
) -> None:
    objs: list[Manifest] = request.getfixturevalue(f"{scenario}_objs")
    (job,) = find(objs, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations[HOOK_KEY] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations[DELETE_KEY].split(",")
    job_weight = hook_weight(job)
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    (container,) = spec["containers"]
    assert container["args"] == ["migrate"]

    # A pre-install hook runs before the release's ordinary objects exist, so everything the
    # Job references must be a hook of lower weight, or something the chart does not create.
    chart_made = {(o["kind"], o["metadata"]["name"]): o for o in objs}

    def usable(kind: str, name: str) -> bool:
        obj = chart_made.get((kind, name))
        if obj is None:
            return True  # user-managed (existingSecret, an existing ServiceAccount)
        return (
            is_hook(obj)
            and hook_weight(obj) < job_weight
            and (obj["metadata"]["annotations"][HOOK_KEY] == annotations[HOOK_KEY])
        )

    secret_refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert secret_refs
    for name in secret_refs:
        assert usable("Secret", name), f"the Job reads Secret {name} before it exists"
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            assert usable("ConfigMap", source["configMapRef"]["name"])
        if "secretRef" in source:
            assert usable("Secret", source["secretRef"]["name"])
    assert usable("ServiceAccount", spec["serviceAccountName"])
    for policy in find(objs, "NetworkPolicy"):
        selector = policy["spec"]["podSelector"]["matchLabels"]
        if selector.items() <= job["spec"]["template"]["metadata"]["labels"].items():
            assert usable("NetworkPolicy", policy["metadata"]["name"])

    # The settings are inline and match the ConfigMap the other pods read.
    configmap = next(o for o in objs if o["kind"] == "ConfigMap")
    env = env_of(container)
    for key, value in configmap["data"].items():
        assert env[key]["value"] == value


def test_the_hook_secret_is_a_copy_of_the_release_secret(default_objs: list[Manifest]) -> None:
    release = one(default_objs, "Secret", DEFAULT_PREFIX)
    hook = one(default_objs, "Secret", f"{DEFAULT_PREFIX}-migrate")
    assert not is_hook(release)
    assert hook["data"] == release["data"]
    assert "hook-succeeded" in hook["metadata"]["annotations"][DELETE_KEY]


def test_migrations_can_be_disabled(render: Render, base_values: dict[str, Any]) -> None:
    objs = render(base_values, {"migrations": {"enabled": False}})
    assert not [o for o in objs if is_hook(o)]


# --------------------------------------------------------------------------------------------
# reconcile CronJob
# --------------------------------------------------------------------------------------------


def test_the_reconcile_cronjob_is_off_by_default(
    chart: helm.Chart,
    render: Render,
    render_notes: Callable[..., str],
    base_values: dict[str, Any],
    default_objs: list[Manifest],
) -> None:
    assert chart.values["reconcile"]["cronJob"]["enabled"] is False
    assert find(default_objs, "CronJob") == []
    assert "transcriber reconcile" not in render_notes(base_values)
    policies = find(render(base_values, {"networkPolicy": {"enabled": True}}), "NetworkPolicy")
    assert f"{DEFAULT_PREFIX}-reconcile" not in {p["metadata"]["name"] for p in policies}


def cron_timings(cron: Manifest) -> dict[str, Any]:
    """The schedule of a CronJob and the limits of its Jobs, keyed by their values' names."""
    spec = cron["spec"]
    job = spec["jobTemplate"]["spec"]
    cron_keys = (
        "schedule",
        "concurrencyPolicy",
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    )
    return {
        **{key: spec[key] for key in cron_keys},
        **{key: job[key] for key in ("backoffLimit", "activeDeadlineSeconds")},
    }


def test_the_reconcile_cronjob_runs_one_pass_on_its_schedule(cron_objs: list[Manifest]) -> None:
    cron = one(cron_objs, "CronJob", f"{DEFAULT_PREFIX}-reconcile")
    assert cron_timings(cron) == {
        "schedule": "*/5 * * * *",
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 120,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        # A failed pass is retried by the next schedule, not by the Job.
        "backoffLimit": 0,
        "activeDeadlineSeconds": 3600,
    }
    pod = pod_template(cron)
    assert pod["spec"]["restartPolicy"] == "Never"
    # A Job's pod reads the ConfigMap when it starts: there is nothing to roll.
    assert "annotations" not in pod["metadata"]
    (container,) = pod["spec"]["containers"]
    assert container["name"] == "reconcile"
    assert container["args"] == ["reconcile"]
    assert container["resources"] == {
        "requests": {"cpu": "50m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }
    # Nothing but a pass: no probes, no ports.
    assert not {"ports", "livenessProbe", "readinessProbe", "startupProbe"} & set(container)


def test_every_workload_runs_a_command_of_the_apps_cli(scenario_objs: list[Manifest]) -> None:
    """The image's ENTRYPOINT is `transcriber` (test_dockerfile.py): the chart gives only args,
    and those args are a command line the app's own parser accepts."""
    from adapter.cli.parser import build_parser

    parser = build_parser()
    for workload in workloads(scenario_objs):
        for container in containers(pod_template(workload)["spec"]):
            assert "command" not in container
            parsed = parser.parse_args(container["args"])
            assert parsed.command == container["args"][0]


@pytest.mark.parametrize(
    ("scenario", "prefix"), [("cron", DEFAULT_PREFIX), ("everything", "transcriber")]
)
def test_the_reconcile_pod_reads_what_the_worker_reads(
    request: pytest.FixtureRequest, scenario: str, prefix: str
) -> None:
    """The same image, settings and secrets as the worker: it reaches the database, Redis,
    Chatwoot and the encryption keys the same way."""
    objs: list[Manifest] = request.getfixturevalue(f"{scenario}_objs")
    worker_pod = pod_template(one(objs, "Deployment", f"{prefix}-worker"))["spec"]
    cron_pod = pod_template(one(objs, "CronJob", f"{prefix}-reconcile"))["spec"]
    for key in ("serviceAccountName", "securityContext", "volumes", "imagePullSecrets"):
        assert cron_pod.get(key) == worker_pod.get(key), key
    worker = container_of(objs, "Deployment", f"{prefix}-worker")
    reconcile = container_of(objs, "CronJob", f"{prefix}-reconcile")
    for key in ("image", "imagePullPolicy", "securityContext", "volumeMounts", "envFrom"):
        assert reconcile[key] == worker[key], key
    # Only the component's own extraEnv differs.
    env = env_of(reconcile)
    assert env.pop("RECONCILE_ONLY", None) == (
        {"name": "RECONCILE_ONLY", "value": "1"} if scenario == "everything" else None
    )
    assert env == env_of(worker)
    assert {
        "TRANSCRIBER_DATABASE_URL",
        "TRANSCRIBER_REDIS_URL",
        "TRANSCRIBER_ENCRYPTION_KEYS",
    } <= set(env)


def test_scheduling_values_reach_the_reconcile_pod(
    everything_objs: list[Manifest], everything_values: dict[str, Any]
) -> None:
    cron = one(everything_objs, "CronJob", "transcriber-reconcile")
    timings = cron_timings(cron)
    given = {k: v for k, v in everything_values["reconcile"]["cronJob"].items() if k in timings}
    assert len(given) == len(timings) - 1  # all but concurrencyPolicy differ from the defaults
    assert {key: timings[key] for key in given} == given
    pod = pod_template(cron)
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    assert pod["metadata"]["labels"]["tier"] == "batch"
    assert pod["spec"]["priorityClassName"] == "helpdesk-batch"
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["spec"]["tolerations"][0]["value"] == "batch"
    assert "affinity" not in pod["spec"]
    assert "RECONCILE_ONLY" not in env_of(
        container_of(everything_objs, "Deployment", "transcriber-worker")
    )


def test_the_reconcile_interval_reaches_the_workers(
    render: Render, base_values: dict[str, Any], default_objs: list[Manifest]
) -> None:
    from adapter.settings import Settings

    key = "TRANSCRIBER_RECONCILE_INTERVAL_SECONDS"
    worker_name = f"{DEFAULT_PREFIX}-worker"
    # The chart's default is the app's.
    assert one(default_objs, "ConfigMap", DEFAULT_PREFIX)["data"][key] == "300"
    assert Settings.model_fields["reconcile_interval_seconds"].default == 300

    objs = render(base_values, CRON_ON, {"reconcile": {"intervalSeconds": 0}})
    assert one(objs, "ConfigMap", DEFAULT_PREFIX)["data"][key] == "0"
    for kind, name in (("Deployment", worker_name), ("CronJob", f"{DEFAULT_PREFIX}-reconcile")):
        container = container_of(objs, kind, name)
        assert {"configMapRef": {"name": DEFAULT_PREFIX}} in container["envFrom"]
        assert key not in env_of(container)  # one source: the ConfigMap
    # Changing it rolls the workers, which read it when they start.
    before = pod_checksums(default_objs)[worker_name]["checksum/config"]
    assert pod_checksums(objs)[worker_name]["checksum/config"] != before


def test_a_long_release_name_keeps_the_cronjob_name_valid(
    render: Render, base_values: dict[str, Any]
) -> None:
    objs = render(base_values, CRON_ON, {"fullnameOverride": "x" * 60})
    (cron,) = find(objs, "CronJob")
    name = cron["metadata"]["name"]
    # The API server refuses CronJob names over 52 characters (its Jobs add a timestamp).
    assert len(name) <= 52
    assert name == "x" * 42 + "-reconcile"


def test_notes_tell_how_to_run_a_pass_now(
    render_notes: Callable[..., str], base_values: dict[str, Any]
) -> None:
    run_now = (
        f"kubectl --namespace {NAMESPACE} create job --from=cronjob/{DEFAULT_PREFIX}-reconcile "
        f"{DEFAULT_PREFIX}-reconcile-now"
    )
    notes = render_notes(base_values, CRON_ON)
    assert run_now in notes
    assert "every 300 s (reconcile.intervalSeconds)" in notes
    cron_only = render_notes(base_values, CRON_ON, {"reconcile": {"intervalSeconds": 0}})
    assert run_now in cron_only
    assert "reconcile.intervalSeconds" not in cron_only


# --------------------------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------------------------


def test_every_object_carries_the_helper_labels(
    chart: helm.Chart, scenario_objs: list[Manifest]
) -> None:
    chart_label = f"helpdesk-transcriber-{chart.metadata['version']}"
    for obj in scenario_objs:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        label_sets = [obj["metadata"]["labels"]]
        if obj["kind"] == "CronJob":
            label_sets.append(obj["spec"]["jobTemplate"]["metadata"]["labels"])
        if obj["kind"] in WORKLOAD_KINDS:
            label_sets.append(pod_template(obj)["metadata"]["labels"])
        for labels in label_sets:
            assert labels["app.kubernetes.io/name"] == "helpdesk-transcriber", where
            assert labels["app.kubernetes.io/instance"] == RELEASE, where
            assert labels["app.kubernetes.io/version"] == "0.1.0", where
            assert labels["app.kubernetes.io/managed-by"] == "Helm", where
            assert labels["app.kubernetes.io/part-of"] == "helpdesk-transcriber", where
            assert labels["helm.sh/chart"] == chart_label, where
        component = obj["metadata"]["labels"].get("app.kubernetes.io/component")
        if obj["kind"] in WORKLOAD_KINDS | {"Service", "PodDisruptionBudget", "ScaledObject"}:
            assert component in {"web", "worker", "migrate", "reconcile"}, where
        if obj["kind"] in WORKLOAD_KINDS:
            pod_labels = pod_template(obj)["metadata"]["labels"]
            assert pod_labels["app.kubernetes.io/component"] == component, where


def test_common_labels_reach_every_object(everything_objs: list[Manifest]) -> None:
    for obj in everything_objs:
        assert obj["metadata"]["labels"]["team"] == "support-tools"


# --------------------------------------------------------------------------------------------
# autoscaling
# --------------------------------------------------------------------------------------------


def expected_list_names(namespace: str = "dramatiq") -> list[str]:
    names: list[str] = []
    for queue in DRAMATIQ_QUEUES:
        names += [f"{namespace}:{queue}", f"{namespace}:{queue}.DQ"]
    return names


def test_keda_scales_the_worker_on_the_dramatiq_lists(everything_objs: list[Manifest]) -> None:
    scaled = one(everything_objs, "ScaledObject", "transcriber-worker")
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "transcriber-worker",
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 20)
    triggers = spec["triggers"]
    assert [t["type"] for t in triggers] == ["redis"] * len(triggers)
    assert [t["metadata"]["listName"] for t in triggers] == expected_list_names()
    for trigger in triggers:
        metadata = trigger["metadata"]
        assert metadata["address"] == "redis-master.helpdesk.svc.cluster.local:6379"
        assert metadata["listLength"] == "3"
        assert metadata["databaseIndex"] == "2"
        assert metadata["enableTLS"] == "true"
        assert all(isinstance(v, str) for v in metadata.values())  # KEDA wants strings
        assert trigger["authenticationRef"] == {"name": "transcriber-worker"}
    auth = one(everything_objs, "TriggerAuthentication", "transcriber-worker")
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": "transcriber-secrets", "key": "REDIS_PASSWORD"}
    ]
    # KEDA owns the replica count.
    assert "replicas" not in one(everything_objs, "Deployment", "transcriber-worker")["spec"]


def test_keda_without_a_password_needs_no_trigger_authentication(
    render: Render, base_values: dict[str, Any]
) -> None:
    objs = render(
        base_values,
        {
            "autoscaling": {
                "autoscaler": "keda",
                "worker": {"enabled": True},
                "keda": {"includeDelayQueues": False, "redis": {"address": "redis:6379"}},
            },
            "worker": {"queues": ["transcribe"]},
        },
    )
    assert find(objs, "TriggerAuthentication") == []
    (trigger,) = one(objs, "ScaledObject", f"{DEFAULT_PREFIX}-worker")["spec"]["triggers"]
    assert trigger["metadata"]["listName"] == "dramatiq:transcribe"
    assert "authenticationRef" not in trigger


def test_the_chart_defaults_match_the_apps_broker(chart: helm.Chart) -> None:
    """The namespace and queues KEDA watches are the ones the app's broker uses."""
    from adapter.jobs.broker import NAMESPACE, QUEUES

    values = chart.values
    assert values["autoscaling"]["keda"]["dramatiqNamespace"] == NAMESPACE
    assert tuple(values["worker"]["queues"]) == QUEUES == DRAMATIQ_QUEUES


@pytest.mark.redis
def test_the_keda_lists_are_where_dramatiq_queues_messages(
    render: Render, base_values: dict[str, Any]
) -> None:
    """Enqueue with Dramatiq's own Redis broker and read the rendered listNames' lengths.

    A namespace of its own keeps the probe messages away from any worker using this Redis.
    """
    import dramatiq
    import redis
    from dramatiq.brokers.redis import RedisBroker

    namespace = f"deploytest-{uuid.uuid4().hex[:12]}"
    objs = render(
        base_values,
        {
            "autoscaling": {
                "autoscaler": "keda",
                "worker": {"enabled": True},
                "keda": {"dramatiqNamespace": namespace, "redis": {"address": "127.0.0.1:6379"}},
            },
        },
    )
    triggers = one(objs, "ScaledObject", f"{DEFAULT_PREFIX}-worker")["spec"]["triggers"]
    list_names = [t["metadata"]["listName"] for t in triggers]
    assert list_names == expected_list_names(namespace)

    client = redis.Redis(host="127.0.0.1", port=6379, db=0)
    broker = RedisBroker(client=client, namespace=namespace, middleware=[])  # type: ignore[no-untyped-call]
    try:
        for queue in DRAMATIQ_QUEUES:
            broker.declare_queue(queue)
            message: Any = dramatiq.Message(
                queue_name=queue, actor_name="probe", args=(), kwargs={}, options={}
            )
            broker.enqueue(message)
            broker.enqueue(message.copy(message_id=str(uuid.uuid4())), delay=3_600_000)
        # Each list holds exactly what Dramatiq put there: one ready, one delayed per queue.
        assert [client.llen(name) for name in list_names] == [1] * len(list_names)
    finally:
        for queue in DRAMATIQ_QUEUES:
            broker.flush(queue)
        for key in client.scan_iter(match=f"{namespace}:*"):
            client.delete(key)
        broker.close()
        client.close()


def test_both_components_on_hpas(hpa_objs: list[Manifest]) -> None:
    hpas = {h["metadata"]["name"]: h for h in find(hpa_objs, "HorizontalPodAutoscaler")}
    assert set(hpas) == {f"{DEFAULT_PREFIX}-web", f"{DEFAULT_PREFIX}-worker"}
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert "replicas" not in one(hpa_objs, "Deployment", name)["spec"]
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
    assert hpas[f"{DEFAULT_PREFIX}-worker"]["spec"]["maxReplicas"] == 12
    assert find(hpa_objs, "ScaledObject") == []


def test_pod_disruption_budgets_cover_each_component(default_objs: list[Manifest]) -> None:
    for component in ("web", "worker"):
        pdb = one(default_objs, "PodDisruptionBudget", f"{DEFAULT_PREFIX}-{component}")
        deployment = one(default_objs, "Deployment", f"{DEFAULT_PREFIX}-{component}")
        assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
        assert pdb["spec"]["maxUnavailable"] == 1
        assert "minAvailable" not in pdb["spec"]


# --------------------------------------------------------------------------------------------
# network
# --------------------------------------------------------------------------------------------


def egress_ports(policy: Manifest) -> set[tuple[int, str]]:
    return {
        (port["port"], port["protocol"])
        for rule in policy["spec"]["egress"]
        for port in rule.get("ports", [])
    }


def test_network_policies(
    everything_objs: list[Manifest], everything_values: dict[str, Any]
) -> None:
    policies = {p["metadata"]["name"]: p for p in find(everything_objs, "NetworkPolicy")}
    assert set(policies) == {
        "transcriber-web",
        "transcriber-worker",
        "transcriber-reconcile",
        "transcriber-migrate",
    }

    web = policies["transcriber-web"]["spec"]
    assert web["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = web["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert rule["from"] == everything_values["networkPolicy"]["ingress"]["from"]

    for name in ("transcriber-worker", "transcriber-reconcile"):
        spec = policies[name]["spec"]
        assert "Ingress" in spec["policyTypes"]
        assert spec.get("ingress", []) == []  # nothing may connect to a worker or a scan
    # The reconcile pods reach what the worker reaches.
    reconcile = policies["transcriber-reconcile"]["spec"]
    assert reconcile["egress"] == policies["transcriber-worker"]["spec"]["egress"]
    cron_pods = pod_template(one(everything_objs, "CronJob", "transcriber-reconcile"))
    assert (
        reconcile["podSelector"]["matchLabels"].items() <= cron_pods["metadata"]["labels"].items()
    )

    for name in ("transcriber-web", "transcriber-worker"):
        assert egress_ports(policies[name]) == {
            (53, "UDP"),
            (53, "TCP"),
            (5432, "TCP"),
            (6379, "TCP"),
            (443, "TCP"),
            (8125, "UDP"),  # StatsD is on in everything.yaml
            (3000, "TCP"),  # the extra rule to an in-cluster Chatwoot
        }
        database_rule = next(
            r for r in policies[name]["spec"]["egress"] if r["ports"][0]["port"] == 5432
        )
        assert database_rule["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]

    migrate = policies["transcriber-migrate"]
    assert migrate["metadata"]["annotations"][HOOK_KEY] == "pre-install,pre-upgrade"
    assert egress_ports(migrate) == {(53, "UDP"), (53, "TCP"), (5432, "TCP")}
    assert migrate["spec"].get("ingress", []) == []


def test_ingress_routes_the_webhooks_to_the_web_service(everything_objs: list[Manifest]) -> None:
    ingress = one(everything_objs, "Ingress", "transcriber-web")
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert [r["host"] for r in spec["rules"]] == [
        "transcriber.example.com",
        "transcriber-eu.example.com",
    ]
    for rule in spec["rules"]:
        paths = rule["http"]["paths"]
        assert [p["path"] for p in paths] == ["/webhooks/", "/api/"]
        for path in paths:
            assert path["backend"]["service"] == {
                "name": "transcriber-web",
                "port": {"name": "http"},
            }
    assert spec["tls"] == [{"secretName": "transcriber-tls", "hosts": ["transcriber.example.com"]}]


# --------------------------------------------------------------------------------------------
# image and scheduling
# --------------------------------------------------------------------------------------------


def test_image_digest_wins_over_the_tag(everything_objs: list[Manifest]) -> None:
    digest = "sha256:" + "0123456789abcdef" * 4
    pods = workloads(everything_objs)
    assert "CronJob" in {w["kind"] for w in pods}
    for workload in pods:
        for container in containers(pod_template(workload)["spec"]):
            assert container["image"] == f"registry.example.com/helpdesk-transcriber@{digest}"
            assert container["imagePullPolicy"] == "Always"
        assert pod_template(workload)["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_scheduling_values_reach_the_pods(everything_objs: list[Manifest]) -> None:
    web = one(everything_objs, "Deployment", "transcriber-web")["spec"]["template"]
    spec = web["spec"]
    assert spec["priorityClassName"] == "helpdesk-high"
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in spec["affinity"]
    assert web["metadata"]["annotations"]["prometheus.io/scrape"] == "false"
    assert web["metadata"]["labels"]["tier"] == "edge"
    # Spread constraints without a labelSelector get the component's selector labels.
    selector = one(everything_objs, "Deployment", "transcriber-web")["spec"]["selector"]
    keys = [c["topologyKey"] for c in spec["topologySpreadConstraints"]]
    assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    for constraint in spec["topologySpreadConstraints"]:
        assert constraint["labelSelector"] == selector
    env = env_of(container_of(everything_objs, "Deployment", "transcriber-web"))
    assert env["TZ"]["value"] == "UTC"
    assert env["WEB_ONLY"]["value"] == "1"
    worker_env = env_of(container_of(everything_objs, "Deployment", "transcriber-worker"))
    assert "WEB_ONLY" not in worker_env


# --------------------------------------------------------------------------------------------
# NOTES.txt
# --------------------------------------------------------------------------------------------


def test_notes_print_the_webhook_url_of_the_ingress(
    render_notes: Callable[..., str], everything_values: dict[str, Any]
) -> None:
    notes = render_notes(everything_values)
    assert "https://transcriber.example.com/webhooks/chatwoot/<ACCOUNT_ID>" in notes
    # A host without TLS is printed with https:// too (as the README promises: Chatwoot posts
    # over HTTPS), with a warning that TLS must then be terminated in front of the ingress.
    assert "https://transcriber-eu.example.com/webhooks/chatwoot/<ACCOUNT_ID>" in notes
    assert "WARNING: no TLS entry for transcriber-eu.example.com" in notes
    assert "http://" not in notes
    assert "agent bot" in notes
    assert '"Transcriber"' in notes
    assert "4.11.2" in notes
    assert "--user-token" in notes


def test_notes_without_ingress_give_a_port_forward_hint(
    render_notes: Callable[..., str], base_values: dict[str, Any]
) -> None:
    notes = render_notes(base_values)
    assert f"kubectl --namespace {NAMESPACE} port-forward svc/{DEFAULT_PREFIX}-web 8000:80" in notes
    in_cluster = f"http://{DEFAULT_PREFIX}-web.{NAMESPACE}.svc.cluster.local:80/webhooks/chatwoot/"
    assert in_cluster in notes
    assert "SAFE_FETCH_ALLOW_PRIVATE_NETWORK=true" in notes
    assert "agent bot" in notes
    assert "least privilege" in notes


def test_large_numbers_render_as_integers(render: Render, base_values: dict[str, Any]) -> None:
    """Helm reads numbers as floats: without int64 they would render as 2e+09."""
    objs = render(
        base_values,
        {
            "config": {"maxAudioBytes": 2_000_000_000},
            "worker": {"shutdownTimeoutSeconds": 1_000_000},
        },
    )
    config = one(objs, "ConfigMap", DEFAULT_PREFIX)["data"]
    assert config["TRANSCRIBER_MAX_AUDIO_BYTES"] == "2000000000"
    worker = one(objs, "Deployment", f"{DEFAULT_PREFIX}-worker")["spec"]["template"]["spec"]
    assert "1000000" in worker["containers"][0]["args"]
    assert worker["terminationGracePeriodSeconds"] == 1_000_030


def test_the_receivers_limits_reach_the_pods_and_mean_the_settings_defaults(
    render: Render, base_values: dict[str, Any], default_objs: list[Manifest]
) -> None:
    """The client limits of `serve` (issue 14) and the attachments cap are in the ConfigMap every
    pod reads; the chart's defaults are the service's, and a value given is the setting."""
    limits = {
        "TRANSCRIBER_HTTP_REQUEST_TIMEOUT_SECONDS": "http_request_timeout_seconds",
        "TRANSCRIBER_HTTP_KEEP_ALIVE_SECONDS": "http_keep_alive_seconds",
        "TRANSCRIBER_HTTP_MAX_CONNECTIONS": "http_max_connections",
        "TRANSCRIBER_MAX_ATTACHMENTS": "max_attachments",
    }
    from adapter.settings import Settings

    config = one(default_objs, "ConfigMap", DEFAULT_PREFIX)["data"]
    for variable, field in limits.items():
        default = Settings.model_fields[field].default
        assert float(config[variable]) == default, variable
    given = {
        "config": {
            "maxAttachments": 20,
            "http": {"requestTimeoutSeconds": 2.5, "keepAliveSeconds": 75, "maxConnections": 300},
        }
    }
    data = one(render(base_values, given), "ConfigMap", DEFAULT_PREFIX)["data"]
    settings = Settings.model_validate(
        {**{k: v for k, v in data.items() if k in limits}, "TRANSCRIBER_ENV": "test"}
    )
    assert (
        settings.http_request_timeout_seconds,
        settings.http_keep_alive_seconds,
        settings.http_max_connections,
        settings.max_attachments,
    ) == (2.5, 75, 300, 20)
