"""Fixtures for the deployment tests: render the Helm chart offline with helm-python-sdk.

helm-python-sdk embeds Helm's Go SDK (no helm binary, no cluster): ``Chart.render`` coalesces
the values with the chart's defaults, validates them against values.schema.json and renders
the templates exactly as ``helm template`` would. Everything here is exposed as fixtures so
that the test modules need no imports from each other.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "helm" / "helpdesk-transcriber"
VALUES_DIR = Path(__file__).resolve().parent / "values"

RELEASE = "demo"
NAMESPACE = "helpdesk"

# The smallest values a real install needs: the chart refuses to render without them.
REQUIRED_SECRETS: dict[str, Any] = {
    "secrets": {
        "databaseUrl": "postgresql+psycopg://transcriber:db-password@postgres:5432/transcriber",
        "redisUrl": "redis://:redis-password@redis-master:6379/0",
        "encryptionKeys": "test-fernet-key-one,test-fernet-key-two",
    }
}

Manifest = dict[str, Any]


def merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge values layers like repeated ``-f`` flags: later layers win, dicts merge."""
    result: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(result.get(key), dict):
                result[key] = merge(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result


@pytest.fixture(scope="session")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def chart_dir() -> Path:
    return CHART_DIR


@pytest.fixture(scope="session")
def base_values() -> dict[str, Any]:
    """Values of the default install: the chart's defaults plus the required secrets."""
    return copy.deepcopy(REQUIRED_SECRETS)


@pytest.fixture(scope="session")
def values_file() -> Callable[[str], dict[str, Any]]:
    """Parse a file of tests/deploy/values/ the way ``helm -f`` does (Helm's YAML rules)."""

    def load(name: str) -> dict[str, Any]:
        return helm.values_from_yaml((VALUES_DIR / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture(scope="session")
def merge_values() -> Callable[..., dict[str, Any]]:
    return merge


@pytest.fixture(scope="session")
def render_templates(chart: helm.Chart) -> Callable[..., dict[str, str]]:
    """Render to {template path: text}; the layers are merged like repeated ``-f`` files."""

    def render(*layers: Mapping[str, Any]) -> dict[str, str]:
        return chart.render(merge(*layers), name=RELEASE, namespace=NAMESPACE, is_install=True)

    return render


@pytest.fixture(scope="session")
def render(render_templates: Callable[..., dict[str, str]]) -> Callable[..., list[Manifest]]:
    """Render and parse: every Kubernetes object of the release, hooks included."""

    def objects(*layers: Mapping[str, Any]) -> list[Manifest]:
        found: list[Manifest] = []
        for path, text in sorted(render_templates(*layers).items()):
            if path.endswith("NOTES.txt"):
                continue
            for doc in yaml.safe_load_all(text):
                if doc:
                    assert isinstance(doc, dict), f"{path} renders a non-object document"
                    found.append(doc)
        return found

    return objects


@pytest.fixture(scope="session")
def render_notes(render_templates: Callable[..., dict[str, str]]) -> Callable[..., str]:
    """The NOTES.txt that ``helm install`` prints."""

    def notes(*layers: Mapping[str, Any]) -> str:
        rendered = render_templates(*layers)
        (path,) = [p for p in rendered if p.endswith("/NOTES.txt")]
        return rendered[path]

    return notes
