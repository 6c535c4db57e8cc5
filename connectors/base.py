"""The one small interface every management-plane connector implements.

A connector is an adapter: it turns a :class:`Publication` (an intent, one ring, an idempotency
key, the evidence digest) into calls on one plane's API and the plane's answers into
:class:`PlaneState` values. It makes no decision of its own: *which* publications exist and
*when* they run is decided by the publish flow (the outbox).

Rules every connector keeps (issue 8):

* **Find-or-create by the idempotency key.** A retry or a duplicate task never creates a second
  app, package, policy, deployment or job. Every object the connector creates carries the intent
  name, version and evidence digest in the field the vendor offers for it (Intune ``notes``,
  Jamf/SCCM names and descriptions, AWX extra vars), and that key is how it is found again. A 409
  or "duplicate" answer means: find the existing object by the key and carry on.
* **Launches are journalled first.** An AWX job launch or a Landscape activity is not idempotent
  on the server: the returned id is saved in the :class:`Journal` before anything else, and a
  publication whose journal already holds an id never launches again (it follows that job).
* **Errors say whose fault they are.** Timeouts, 5xx, 429 and dropped connections raise
  ``TransientConnectorError`` (with ``retry_after`` seconds when the plane said so); refused
  credentials and invalid requests raise ``PermanentConnectorError`` with the vendor's message.
  Neither message ever contains a credential.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from bot.core.planes import Plane as Plane  # noqa: PLC0414 - re-exported for the connectors
from bot.core.planes import PlaneProfile
from connectors._polling import Follow

if TYPE_CHECKING:  # the artifact source speaks HTTP: its library loads only with a plane
    from bot.core.drift import Observed
    from bot.core.rollout_model import RingOutcomes
    from connectors.artifacts import ArtifactSource


@dataclass(frozen=True, slots=True, kw_only=True)
class Ring:
    """One ring of an intent, as a connector needs it."""

    name: str
    target: str
    """The plane's group: an Entra group id, a Jamf computer group, an SCCM collection id, a
    Landscape tag, an Ansible inventory limit."""
    devices: int
    assignment: str
    """``required``, ``available`` or ``uninstall``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Publication:
    """One intent to publish to one ring of one plane."""

    intent: Mapping[str, Any]
    """The validated ``DeploymentIntent`` document."""
    ring: Ring
    idempotency_key: str
    """Stable across retries: derived from intent name, version and ring."""
    evidence_digest: str
    """``sha256:...`` of the change evidence pack, so the plane's object leads back to it."""

    @property
    def name(self) -> str:
        """The intent's ``metadata.name``."""
        return str(self.intent["metadata"]["name"])

    @property
    def version(self) -> str:
        """The app version being published."""
        return str(self.intent["app"]["version"])

    @property
    def plane(self) -> Plane:
        """The plane the intent names."""
        return Plane(str(self.intent["plane"]))


class StepKind(StrEnum):
    """What one planned step does on the plane."""

    CREATE = "create"
    UPDATE = "update"
    UPLOAD = "upload"
    ASSIGN = "assign"
    LAUNCH = "launch"
    REPLACE = "replace"
    NOTHING = "nothing"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedStep:
    """One step a publication would take, described for people (the PR's plan)."""

    kind: StepKind
    description: str
    """E.g. "create Win32 app 'Google Chrome 132.0.6834.83'", "assign to group X as required"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishResult:
    """What a publication did on the plane."""

    object_id: str
    """The plane's id of the app/package/policy/deployment/job that carries the change."""
    created: bool
    """False when an existing object was found by the idempotency key and reused."""
    details: Mapping[str, str] = field(default_factory=dict)
    """Plane-specific ids worth recording (content version, assignment, job id...)."""
    url: str | None = None
    """Where a person can see it in the plane's console, when the plane has one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaneState:
    """What the plane actually holds for an intent (for drift detection and the plan)."""

    present: bool
    version: str | None = None
    rings: Mapping[str, str] = field(default_factory=dict)
    """Ring name → assignment (or status) the plane reports."""
    object_id: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The plane settings read back, in the intent's own words (issue 20): the plane's section
    (``{"intune": {...}}``) and, under ``"rings"``, each ring's section by the key ``rings`` uses,
    so drift can compare them with the intent."""


class Journal(Protocol):
    """Durable notes of one publication, written before the plane is called again.

    The outbox row implements it in production; tests use a dict-backed fake.
    """

    def get(self, key: str) -> str | None:
        """A value saved for this publication earlier (e.g. ``"job_id"``), or ``None``."""
        ...

    def put(self, key: str, value: str) -> None:
        """Save a value durably (committed before this returns)."""
        ...


class Connector(Protocol):
    """One management plane."""

    plane: Plane

    def plan(self, publication: Publication) -> tuple[PlannedStep, ...]:
        """What :meth:`publish` would do now, read-only (no write request is sent)."""
        ...

    def publish(self, publication: Publication, journal: Journal) -> PublishResult:
        """Make the plane hold the publication; safe to call again after any failure."""
        ...

    def state(self, intent_name: str) -> PlaneState:
        """Read back what the plane holds for an intent."""
        ...

    def observe(self, intent: Mapping[str, Any], rings: Sequence[Ring]) -> Observed:
        """What the plane holds for the intent, normalised for drift (``bot.core.drift``).

        ``rings`` are the intent's published rings (planes that know rings rather than groups
        map them to targets). A read that fails raises ``TransientConnectorError`` or
        ``PermanentConnectorError``: never "absent".
        """
        ...

    def retire(self, intent_name: str, journal: Journal) -> None:
        """Remove the intent's assignments (and objects, where the plane allows) from the plane."""
        ...

    def outcomes(self, publication: Publication) -> RingOutcomes:
        """Install outcomes of the publication's version on its ring's target, read back.

        Counts per device (targeted, installed, failed, pending, not applicable), the time the
        plane's data is as of (the plane's, never the local clock where the plane gives one) and
        a sample of per-device errors (at most ``ERROR_SAMPLE_MAX``). A read that fails raises
        ``TransientConnectorError`` or ``PermanentConnectorError``: never zeros, never "absent".
        ``docs/rollouts.md`` says what each plane is read from.
        """
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaneServices:
    """What the registry hands every plane's builder; each takes what it needs."""

    artifacts: ArtifactSource
    """Where installers are downloaded from (Intune and Jamf upload them)."""
    follow: Follow | None
    """How long a launched job or an upload is read back (``None``: the connector's own)."""


S = TypeVar("S")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaneConnector(Generic[S]):
    """One plane as its connector module declares it (``connectors/<name>.py``: ``PLANE``).

    The registry finds the declaration by the profile's name, reads the settings and, when the
    plane is configured, builds the connector: a plane is added by its profile row, its settings
    class and its module, with no list elsewhere to extend.
    """

    profile: PlaneProfile
    settings: Callable[[Mapping[str, str]], S | None]
    """Reads ``EUCORA_<PREFIX>_*``: ``None`` when the plane is not configured, ``SettingsError``
    when it is half configured."""
    build: Callable[[S, PlaneServices], Connector]
    """Builds the connector from the settings ``settings`` returned."""
