"""The chart's values: values.schema.json rejects what it should, `fail` names the value to fix.

Helm validates the values against values.schema.json on install, upgrade, lint and template;
helm-python-sdk's render does the same, so a rejected value surfaces as HelmValuesError here just
as it fails `helm install`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="module")
def schema(chart_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((chart_dir / "values.schema.json").read_text("utf-8"))
    return loaded


@pytest.fixture(scope="module")
def defaults(chart_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((chart_dir / "values.yaml").read_text("utf-8"))
    return loaded


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/definitions/"), ref
        node = schema["definitions"][ref.removeprefix("#/definitions/")]
    return node


def object_nodes(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every sub-schema that declares properties, with a path for messages."""

    def walk(path: str, node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, dict):
            if "properties" in node:
                yield path, node
            for key, child in node.items():
                yield from walk(f"{path}/{key}", child)
        elif isinstance(node, list):
            for index, child in enumerate(node):
                yield from walk(f"{path}/{index}", child)

    yield from walk("", schema)


# --------------------------------------------------------------------------------------------
# the schema itself
# --------------------------------------------------------------------------------------------


def test_every_object_the_schema_defines_forbids_unknown_keys(schema: dict[str, Any]) -> None:
    nodes = list(object_nodes(schema))
    assert len(nodes) > 20
    for path, node in nodes:
        assert node.get("additionalProperties") is False, f"{path or '/'} allows unknown keys"


def test_the_schema_is_draft_07(schema: dict[str, Any]) -> None:
    """Draft 7: understood by every Helm 3 and Helm 4 release."""
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_schema_and_values_yaml_describe_the_same_keys(
    schema: dict[str, Any], defaults: dict[str, Any]
) -> None:
    """Every default is declared in the schema, and every declared key has a documented default."""

    def compare(path: str, node: dict[str, Any], values: dict[str, Any]) -> None:
        node = resolve(schema, node)
        if "properties" not in node:
            return  # a pass-through Kubernetes object
        declared = set(node["properties"])
        assert set(values) == declared, f"{path or '/'}: values.yaml and schema differ"
        for key, child in node["properties"].items():
            if isinstance(values[key], dict):
                compare(f"{path}/{key}", child, values[key])

    compare("", schema, defaults)


def test_the_default_values_pass_the_schema(chart: helm.Chart, base_values: dict[str, Any]) -> None:
    chart.validate_schema({})
    chart.validate_schema(base_values)


@pytest.mark.parametrize(
    ("values", "path", "reason"),
    [
        ({"replicas": 3}, "''", "additional properties 'replicas' not allowed"),
        ({"web": {"replicas": 3}}, "'/web'", "additional properties 'replicas' not allowed"),
        (
            {"autoscaling": {"keda": {"redis": {"password": "x"}}}},
            "'/autoscaling/keda/redis'",
            "additional properties 'password' not allowed",
        ),
        ({"secrets": {"databaseURL": "x"}}, "'/secrets'", "'databaseURL' not allowed"),
        ({"web": {"replicaCount": "two"}}, "'/web/replicaCount'", "got string, want integer"),
        ({"worker": {"queues": "transcribe"}}, "'/worker/queues'", "got string, want array"),
        ({"networkPolicy": {"enabled": "yes"}}, "'/networkPolicy/enabled'", "want boolean"),
        ({"autoscaling": {"autoscaler": "cron"}}, "'/autoscaling/autoscaler'", "'hpa', 'keda'"),
        ({"worker": {"queues": []}}, "'/worker/queues'", "minItems"),
        ({"image": {"digest": "latest"}}, "'/image/digest'", "does not match pattern"),
        ({"web": {"port": 80}}, "'/web/port'", "minimum"),
        (
            {"web": {"livenessProbe": {"periodSeconds": 0}}},
            "'/web/livenessProbe/periodSeconds'",
            "minimum",
        ),
        (
            {"autoscaling": {"keda": {"redis": {"address": "redis://redis:6379"}}}},
            "'/autoscaling/keda/redis/address'",
            "does not match pattern",
        ),
        (
            {"reconcile": {"cronJob": {"enable": True}}},
            "'/reconcile/cronJob'",
            "additional properties 'enable' not allowed",
        ),
        (
            {"reconcile": {"cronJob": {"schedule": 5}}},
            "'/reconcile/cronJob/schedule'",
            "got number, want string",
        ),
        (
            {"reconcile": {"cronJob": {"schedule": "5m"}}},
            "'/reconcile/cronJob/schedule'",
            "does not match pattern",
        ),
        (
            {"reconcile": {"cronJob": {"schedule": "*/5 * * *"}}},
            "'/reconcile/cronJob/schedule'",
            "does not match pattern",
        ),
        (
            {"reconcile": {"cronJob": {"concurrencyPolicy": "Never"}}},
            "'/reconcile/cronJob/concurrencyPolicy'",
            "'Forbid', 'Replace', 'Allow'",
        ),
        (
            {"reconcile": {"cronJob": {"startingDeadlineSeconds": 5}}},
            "'/reconcile/cronJob/startingDeadlineSeconds'",
            "minimum",
        ),
        ({"reconcile": {"intervalSeconds": -1}}, "'/reconcile/intervalSeconds'", "minimum"),
        (
            {"reconcile": {"intervalSeconds": "300"}},
            "'/reconcile/intervalSeconds'",
            "got string, want integer",
        ),
    ],
)
def test_the_schema_rejects_bad_values(
    render: Render, base_values: dict[str, Any], values: dict[str, Any], path: str, reason: str
) -> None:
    with pytest.raises(helm.HelmValuesError) as caught:
        render(base_values, values)
    message = str(caught.value)
    assert f"at {path}:" in message
    assert reason in message


@pytest.mark.parametrize(
    "schedule", ["*/5 * * * *", "0 3 * * 1-5", "15,45  */2 * * *", "@hourly", "@every 90m"]
)
def test_the_schema_accepts_cron_schedules(
    chart: helm.Chart, base_values: dict[str, Any], schedule: str
) -> None:
    chart.validate_schema({**base_values, "reconcile": {"cronJob": {"schedule": schedule}}})


# --------------------------------------------------------------------------------------------
# combinations the schema cannot express: `fail` with the value path
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"secrets": {"encryptionKeys": ""}},
            "secrets.encryptionKeys or secrets.existingSecret is required",
        ),
        (
            {"secrets": {"databaseUrl": ""}},
            "secrets.databaseUrl or secrets.existingSecret is required",
        ),
        ({"secrets": {"redisUrl": ""}}, "secrets.redisUrl or secrets.existingSecret is required"),
        (
            {"secrets": {"existingSecret": "mine"}},
            "secrets.databaseUrl must be empty when secrets.existingSecret is set: put "
            'TRANSCRIBER_DATABASE_URL in the Secret "mine" instead',
        ),
        (
            {"autoscaling": {"autoscaler": "keda", "worker": {"enabled": True}}},
            "autoscaling.keda.redis.address is required when autoscaling.autoscaler is keda",
        ),
        (
            {"autoscaling": {"worker": {"enabled": True, "minReplicas": 0}}},
            "autoscaling.worker.minReplicas may be 0 only with autoscaling.autoscaler=keda",
        ),
        (
            {"autoscaling": {"web": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}}},
            "autoscaling.web.maxReplicas (2) must be at least autoscaling.web.minReplicas (5)",
        ),
        (
            {"ingress": {"enabled": True}},
            "ingress.hosts must name at least one host when ingress.enabled is true",
        ),
        (
            {"networkPolicy": {"enabled": True, "ingress": {"from": []}}},
            "networkPolicy.ingress.from must list at least one source",
        ),
        (
            {"worker": {"shutdownTimeoutSeconds": 600, "terminationGracePeriodSeconds": 600}},
            "worker.terminationGracePeriodSeconds (600) must be greater than "
            "worker.shutdownTimeoutSeconds (600)",
        ),
        (
            {"web": {"preStopSleepSeconds": 30, "terminationGracePeriodSeconds": 30}},
            "web.terminationGracePeriodSeconds (30) must be greater than web.preStopSleepSeconds",
        ),
        (
            {"web": {"pdb": {"minAvailable": 1, "maxUnavailable": 1}}},
            "web.pdb: set only one of minAvailable and maxUnavailable",
        ),
        (
            {"worker": {"pdb": {"maxUnavailable": None}}},
            "worker.pdb: set one of minAvailable and maxUnavailable",
        ),
        (
            {"autoscaling": {"keda": {"redis": {"passwordSecretKey": "REDIS_PASSWORD"}}}},
            "autoscaling.keda.redis.passwordSecretKey names a key of secrets.existingSecret",
        ),
        ({"config": {"workDir": "/var/lib/transcriber"}}, "config.workDir (/var/lib/transcriber)"),
        ({"config": {"workDir": "/tmp/"}}, "not /tmp itself: the service makes it private"),
    ],
)
def test_invalid_combinations_fail_naming_the_value(
    render: Render, base_values: dict[str, Any], values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError) as caught:
        render(base_values, values)
    assert message in str(caught.value)


def test_nothing_renders_without_the_secrets(render: Render) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"secrets\.databaseUrl or secrets\.existing"):
        render({})


def test_an_existing_secret_replaces_the_secret_values(render: Render) -> None:
    objs = render({"secrets": {"existingSecret": "transcriber-secrets"}})
    assert [o for o in objs if o["kind"] == "Secret"] == []


@pytest.mark.parametrize("values_name", ["", "everything.yaml", "hpa.yaml"])
def test_helm_lint_strict_is_clean(
    chart_dir: Path,
    base_values: dict[str, Any],
    values_file: Callable[[str], dict[str, Any]],
    values_name: str,
) -> None:
    values = values_file(values_name) if values_name else base_values
    for kube_version in ("v1.29.0", None):
        report = helm.lint(chart_dir, values, strict=True, kube_version=kube_version)
        assert report["errors"] == []
        # Severity 1 is informational ("icon is recommended"); warnings and errors are not.
        assert [m for m in report["messages"] if m["severity"] >= 2] == []
