"""The configured planes: one connector per plane double's settings, errors naming the variable."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.doubles.awx import AwxDouble
from bot.doubles.intune import IntuneDouble
from bot.doubles.jamf import JamfDouble
from bot.doubles.landscape import LandscapeDouble
from bot.doubles.sccm import SccmDouble
from bot.settings import SettingsError
from connectors._polling import Follow
from connectors.ansible import AwxConnector, LocalAnsibleConnector
from connectors.artifacts import MemoryArtifactSource
from connectors.base import Plane
from connectors.intune import IntuneConnector
from connectors.jamf import JamfConnector
from connectors.landscape import LandscapeConnector
from connectors.registry import build_connectors
from connectors.sccm import SccmConnector

ROOT = Path(__file__).resolve().parents[2]

DOUBLES: list[tuple[Callable[[], object], Plane, type]] = [
    (IntuneDouble, Plane.INTUNE, IntuneConnector),
    (JamfDouble, Plane.JAMF, JamfConnector),
    (SccmDouble, Plane.SCCM, SccmConnector),
    (LandscapeDouble, Plane.LANDSCAPE, LandscapeConnector),
    (AwxDouble, Plane.ANSIBLE, AwxConnector),
]


def test_no_plane_configured_is_empty() -> None:
    connectors = build_connectors({"EUCORA_HOME": "/tmp/eucora", "GITHUB_TOKEN": "x"})
    assert connectors.configured() == ()
    for plane in Plane:
        assert connectors.get(plane) is None
    assert connectors.get("not-a-plane") is None
    connectors.close()


@pytest.mark.parametrize(("make", "plane", "kind"), DOUBLES, ids=[p for _, p, _ in DOUBLES])
def test_each_plane_doubles_settings_build_that_connector_and_close_closes_it(
    make: Callable[[], object], plane: Plane, kind: type
) -> None:
    with make() as double:  # type: ignore[attr-defined]
        connectors = build_connectors(
            double.environ(), artifacts=MemoryArtifactSource({}), follow=Follow(timeout=1.0)
        )
        assert connectors.configured() == (plane,)
        connector = connectors.get(str(plane))
        assert isinstance(connector, kind)
        assert connector.plane is plane
        # A real read through the double: nothing is published under this name yet.
        assert connector.state("never-published").present is False
        connectors.close()
        with pytest.raises(RuntimeError, match="closed"):
            connector.state("never-published")
        assert double.violations == []


def test_two_planes_at_once_in_plane_order() -> None:
    with JamfDouble() as jamf, SccmDouble() as sccm:
        connectors = build_connectors(
            {**sccm.environ(), **jamf.environ()}, artifacts=MemoryArtifactSource({})
        )
        assert connectors.configured() == (Plane.JAMF, Plane.SCCM)
        connectors.close()


def test_ansible_local_mode_when_no_controller_is_set(tmp_path: Path) -> None:
    connectors = build_connectors(
        {
            "EUCORA_ANSIBLE_PLAYBOOK_DIR": str(ROOT / "examples" / "ansible"),
            "EUCORA_HOME": str(tmp_path),
        }
    )
    assert connectors.configured() == (Plane.ANSIBLE,)
    assert isinstance(connectors.get("ansible"), LocalAnsibleConnector)
    connectors.close()  # nothing to close, and no error


def test_a_controller_wins_over_local_mode(tmp_path: Path) -> None:
    connectors = build_connectors(
        {
            "EUCORA_AWX_URL": "https://awx.example.test",
            "EUCORA_AWX_TOKEN": "t0ken-value",
            "EUCORA_ANSIBLE_PLAYBOOK_DIR": str(tmp_path),
        }
    )
    assert isinstance(connectors.get("ansible"), AwxConnector)
    connectors.close()


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"EUCORA_JAMF_URL": "https://jamf.example.test"}, "EUCORA_JAMF_CLIENT_ID"),
        ({"EUCORA_INTUNE_TENANT_ID": "t"}, "EUCORA_INTUNE_CLIENT_ID"),
        ({"EUCORA_SCCM_URL": "https://cm01.example.test"}, "EUCORA_SCCM_TOKEN"),
        ({"EUCORA_LANDSCAPE_URL": "https://ls.example.test"}, "EUCORA_LANDSCAPE_KEY"),
        ({"EUCORA_AWX_URL": "https://awx.example.test"}, "EUCORA_AWX_TOKEN"),
        (
            {"EUCORA_SCCM_URL": "u", "EUCORA_SCCM_TOKEN": "t", "EUCORA_SCCM_TIMEOUT": "soon"},
            "EUCORA_SCCM_TIMEOUT",
        ),
        (
            {"EUCORA_ANSIBLE_PLAYBOOK_DIR": "/srv/pb", "EUCORA_ANSIBLE_EXTRA_VARS": "{oops"},
            "EUCORA_ANSIBLE_EXTRA_VARS",
        ),
    ],
)
def test_a_bad_setting_is_a_settings_error_naming_the_variable(
    environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable) as raised:
        build_connectors(environ)
    assert "\n" not in str(raised.value)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter: what it imports is what the registry made it import."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )


PLANE_LIBRARIES = "('httpx', 'msal', 'ansible_runner', 'connectors.intune', 'connectors.ansible')"


def test_the_registry_loads_no_plane_library_until_a_plane_is_configured() -> None:
    done = run_python(
        "import sys\n"
        "from connectors.registry import build_connectors\n"
        "from bot.core.planes import PROFILES\n"
        "assert build_connectors({'EUCORA_HOME': '/tmp/x'}).configured() == ()\n"
        f"print([name for name in {PLANE_LIBRARIES} if name in sys.modules])\n"
        "build_connectors({'EUCORA_SCCM_URL': 'https://cm01.example.test',"
        " 'EUCORA_SCCM_TOKEN': 't'}).close()\n"
        f"print([name for name in {PLANE_LIBRARIES} if name in sys.modules])\n"
    )
    assert done.returncode == 0, done.stderr
    # Configuration Manager speaks HTTP; neither Intune's MSAL nor Ansible's module is loaded.
    assert done.stdout.splitlines() == ["[]", "['httpx']"]


def test_a_configured_plane_whose_library_is_missing_is_a_one_line_settings_error() -> None:
    done = run_python(
        "import sys\n"
        "sys.modules['msal'] = None  # what an installation without the plane's extra looks like\n"
        "from bot.settings import SettingsError\n"
        "from connectors.registry import build_connectors\n"
        "try:\n"
        "    build_connectors({'EUCORA_INTUNE_TENANT_ID': 't'})\n"
        "except SettingsError as error:\n"
        "    print(error)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "Microsoft Intune is configured (EUCORA_INTUNE_*) but its connector cannot load:"
    )
    assert "msal" in done.stdout
    assert len(done.stdout.splitlines()) == 1
