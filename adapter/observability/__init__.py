"""Observability: redaction, structured logs, StatsD metrics and Sentry.

What leaves the process (log lines, metric names, error reports) goes through this
package, and this package removes what must never leave: secrets, transcripts,
attachment URLs. Entry points call, in this order and before building the broker::

    configure_logging(settings)
    init_sentry(settings, component="web")   # or "worker", "cli"
    init_metrics(settings)

and whoever decrypts a secret calls :func:`register_secret` with it, whoever holds
a transcript calls :func:`register_transcript`. Metric names are members of
:class:`Metric`: ``metrics.incr(Metric.WEBHOOK_RECEIVED)``.
"""

from adapter.observability import metrics
from adapter.observability.logging import (
    JsonFormatter,
    configure_logging,
    log_context,
    unconfigure_logging,
)
from adapter.observability.metrics import (
    Metric,
    MetricKind,
    MetricNameError,
    Metrics,
    init_metrics,
    shutdown_metrics,
)
from adapter.observability.redact import (
    ATTACHMENT_URL,
    REDACTED,
    TRANSCRIPT,
    clear_registries,
    redact_obj,
    redact_text,
    register_secret,
    register_transcript,
)
from adapter.observability.sentry import (
    init_sentry,
    scrub_breadcrumb,
    scrub_event,
    shutdown_sentry,
)

__all__ = [
    "ATTACHMENT_URL",
    "REDACTED",
    "TRANSCRIPT",
    "JsonFormatter",
    "Metric",
    "MetricKind",
    "MetricNameError",
    "Metrics",
    "clear_registries",
    "configure_logging",
    "init_metrics",
    "init_sentry",
    "log_context",
    "metrics",
    "redact_obj",
    "redact_text",
    "register_secret",
    "register_transcript",
    "scrub_breadcrumb",
    "scrub_event",
    "shutdown_metrics",
    "shutdown_sentry",
    "unconfigure_logging",
]
