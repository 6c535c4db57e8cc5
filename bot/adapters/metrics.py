"""Prometheus metrics: what the intake, the worker and the GitHub adapter count.

One :class:`Metrics` per process, built by the composition root. Under gunicorn with several
workers (and Celery's prefork children) each process counts in its own files under
``EUCORA_HOME/metrics`` (prometheus_client's multiprocess mode,
https://prometheus.github.io/client_python/multiprocess/), and ``/metrics`` adds them up, so a
scrape sees every process whichever worker answers it. Without a directory (tests, one process)
the counts live in memory.

The GitHub adapter and the evaluation flow count through :meth:`Metrics.github_call` and
:meth:`Metrics.rate_limit`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from bot.core.planes import Plane

CONTENT_TYPE = CONTENT_TYPE_LATEST
EVALUATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

DepthSource = Callable[[], Mapping[str, int]]


def use_multiprocess_directory(directory: Path, *, clear: bool = False) -> None:
    """Count in files under ``directory`` from now on (call before building ``Metrics``).

    ``clear`` empties it first: the server does so once at start, before forking its workers,
    so counts of processes from an earlier run are not added to this one's.
    """
    if clear and directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[_MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def multiprocess_directory() -> Path | None:
    """The directory metrics are counted in, when multiprocess mode is on."""
    configured = os.environ.get(_MULTIPROC_ENV)
    return Path(configured) if configured else None


class _RowsByState:
    """Reads a table's rows per state from the database at scrape time (right for every process).

    The inbox by default; the publications outbox with its own name and help.
    """

    def __init__(
        self,
        source: DepthSource,
        name: str = "eucora_inbox_depth",
        text: str = "Deliveries waiting or running in the inbox.",
        label: str = "status",
        zeros: tuple[str, ...] = (),
    ) -> None:
        self._source = source
        self._name = name
        self._text = text
        self._label = label
        self._zeros = zeros

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self._name, self._text, labels=[self._label])
        counts = dict.fromkeys(self._zeros, 0) | dict(self._source())
        for status, count in sorted(counts.items()):
            family.add_metric([status], count)
        yield family


class _Count:
    """One number read from the database at scrape time (``eucora_stuck_rollouts``)."""

    def __init__(self, source: Callable[[], int], name: str, text: str) -> None:
        self._source = source
        self._name = name
        self._text = text

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self._name, self._text, value=self._source())


def _stuck(source: Callable[[], int]) -> _Count:
    return _Count(
        source,
        "eucora_stuck_rollouts",
        "Live rollouts with a ring stuck: counts unmoved past the limit on fresh plane data.",
    )


def _publications(source: DepthSource) -> _RowsByState:
    return _RowsByState(
        source, "eucora_publications", "Publications in the outbox, by state (pending, failed...)."
    )


def _drift(source: DepthSource) -> _RowsByState:
    return _RowsByState(
        source,
        "eucora_drift_open",
        "Intents whose plane no longer holds what git says (open drift), by plane.",
        label="plane",
        zeros=tuple(plane.value for plane in Plane),
    )


class Metrics:
    """The counters, histogram and gauges EUCORA exposes on ``/metrics``."""

    def __init__(
        self,
        *,
        depth: DepthSource | None = None,
        publications: DepthSource | None = None,
        stuck: Callable[[], int] | None = None,
        drift: DepthSource | None = None,
    ) -> None:
        self._depth = depth
        self._publications = publications
        self._stuck = stuck
        self._drift = drift
        self.registry = CollectorRegistry()
        r = self.registry
        self.deliveries = Counter(
            "eucora_webhook_deliveries",
            "Webhook deliveries by event and outcome.",
            ["event", "outcome"],
            registry=r,
        )
        self.duplicates = Counter(
            "eucora_webhook_duplicates",
            "Deliveries not processed again: a known delivery id, or a replayed body.",
            ["kind"],
            registry=r,
        )
        self.signature_failures = Counter(
            "eucora_webhook_signature_failures",
            "Deliveries refused because the signature did not authenticate the body.",
            registry=r,
        )
        self.evaluations = Histogram(
            "eucora_evaluation_duration_seconds",
            "Time the handler took per delivery, by outcome.",
            ["outcome"],
            buckets=EVALUATION_BUCKETS,
            registry=r,
        )
        self.github_calls = Counter(
            "eucora_github_api_calls",
            "GitHub API requests by method and status code.",
            ["method", "status"],
            registry=r,
        )
        self.github_errors = Counter(
            "eucora_github_api_errors",
            "GitHub API requests that failed (status >= 400 or no answer), by kind.",
            ["kind"],
            registry=r,
        )
        self.rate_limit_remaining = Gauge(
            "eucora_github_rate_limit_remaining",
            "GitHub's X-RateLimit-Remaining, by resource, as last seen.",
            ["resource"],
            multiprocess_mode="mostrecent",
            registry=r,
        )
        if depth is not None and multiprocess_directory() is None:
            r.register(_RowsByState(depth))
        if publications is not None and multiprocess_directory() is None:
            r.register(_publications(publications))
        if stuck is not None and multiprocess_directory() is None:
            r.register(_stuck(stuck))
        if drift is not None and multiprocess_directory() is None:
            r.register(_drift(drift))

    # --- what the code counts ---------------------------------------------------------------------

    def delivery(self, event: str, outcome: str) -> None:
        """One webhook delivery and what became of it (accepted, ignored, duplicate...)."""
        self.deliveries.labels(event=event, outcome=outcome).inc()

    def duplicate(self, kind: str) -> None:
        """A delivery not processed again: ``duplicate`` (same id) or ``replay`` (same body)."""
        self.duplicates.labels(kind=kind).inc()

    def signature_failure(self) -> None:
        """A delivery refused with 401."""
        self.signature_failures.inc()

    def evaluation(self, seconds: float, outcome: str) -> None:
        """How long the handler ran for one delivery."""
        self.evaluations.labels(outcome=outcome).observe(seconds)

    def github_call(self, method: str, status: int | None) -> None:
        """One GitHub API request (``status`` None: no answer); errors are counted too."""
        self.github_calls.labels(method=method.upper(), status=str(status or "none")).inc()
        if status is None:
            self.github_errors.labels(kind="no_answer").inc()
        elif status >= 400:
            kind = "rate_limited" if status in {403, 429} else f"{status // 100}xx"
            self.github_errors.labels(kind=kind).inc()

    def rate_limit(self, resource: str, remaining: int) -> None:
        """GitHub's remaining requests for ``resource`` (``core``, ``graphql``...)."""
        self.rate_limit_remaining.labels(resource=resource).set(remaining)

    # --- exposition -------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text format for ``/metrics``: every process's counts, and the inbox depth."""
        directory = multiprocess_directory()
        if directory is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
        if self._depth is not None:
            registry.register(_RowsByState(self._depth))
        if self._publications is not None:
            registry.register(_publications(self._publications))
        if self._stuck is not None:
            registry.register(_stuck(self._stuck))
        if self._drift is not None:
            registry.register(_drift(self._drift))
        return generate_latest(registry)
