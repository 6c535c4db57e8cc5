"""The GitHub App manifest flow, the pure parts: the manifest, GitHub's URLs, pages, the answer.

GitHub registers an App from a manifest in three steps
(https://docs.github.com/apps/sharing-github-apps/registering-a-github-app-from-a-manifest): a
page POSTs the manifest to ``/settings/apps/new`` (or an organization's), the person confirms on
GitHub, and GitHub redirects to the manifest's ``redirect_url`` with a one-hour ``code`` that
``POST /app-manifests/{code}/conversions`` exchanges for the App's id, private key and webhook
secret. The flow (``bot.flows.github_app``) serves the page and makes the call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.render.evidence_html import escape_html

NAME_MAX = 34  # GitHub's limit on an App's name
_ORG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$")
_STATE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_URL = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^/:?#@\s]+)"  # an IPv6 literal, or a name without user info
    r"(?::[0-9]{1,5})?(?:[/?#]\S*)?$"
)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "[::1]"})


class ManifestError(ValueError):
    """A manifest, an option or GitHub's answer cannot be used as given."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AppRegistration:
    """The App GitHub created: public facts, and the three secrets kept out of ``repr``."""

    app_id: int
    slug: str
    name: str
    owner: str
    html_url: str
    client_id: str
    pem: str = field(repr=False)
    webhook_secret: str | None = field(repr=False)
    client_secret: str = field(repr=False)

    def public_facts(self) -> dict[str, Any]:
        """What may be printed and stored in the clear."""
        return {
            "id": self.app_id,
            "slug": self.slug,
            "name": self.name,
            "owner": self.owner,
            "html_url": self.html_url,
            "client_id": self.client_id,
        }


def _https_or_loopback(url: str, what: str) -> str:
    match = _URL.match(url)
    scheme = match.group("scheme").lower() if match else ""
    if match is None or scheme not in {"https", "http"}:
        raise ManifestError(f"{what} {url!r} is not an http(s) URL")
    if scheme == "http" and match.group("host").lower() not in _LOOPBACK:
        raise ManifestError(f"{what} {url!r} must use https")
    return url.rstrip("/")


def complete_manifest(
    template: Mapping[str, Any], *, name: str, public_url: str, redirect_url: str
) -> dict[str, Any]:
    """The shipped manifest with this installation's name, webhook URL and redirect."""
    if not name or len(name) > NAME_MAX:
        raise ManifestError(f"the App's name must be 1 to {NAME_MAX} characters: {name!r}")
    base = _https_or_loopback(public_url, "the public URL")
    manifest: dict[str, Any] = json.loads(json.dumps(template))  # a deep copy of plain JSON
    manifest["name"] = name
    manifest["hook_attributes"] = {"url": f"{base}/webhook", "active": True}
    manifest["redirect_url"] = redirect_url
    return manifest


def registration_url(github_url: str, state: str, org: str | None = None) -> str:
    """Where the page POSTs the manifest: the user's or the organization's new-App page.

    ``state`` is URL-safe by construction (``secrets.token_urlsafe``), so it goes in unquoted.
    """
    base = _https_or_loopback(github_url, "the GitHub URL")
    if not _STATE.match(state):
        raise ManifestError("the state must be 16 to 128 URL-safe characters")
    if org is None:
        return f"{base}/settings/apps/new?state={state}"
    if not _ORG.match(org):
        raise ManifestError(f"{org!r} is not a GitHub organization name")
    return f"{base}/organizations/{org}/settings/apps/new?state={state}"


def conversion_path(code: str) -> str:
    """The API path that turns the redirect's code into the App's credentials."""
    if not code or len(code) > 256 or not all(c.isalnum() or c in "-_." for c in code):
        raise ManifestError("the code GitHub sent back is not a manifest code")
    return f"/app-manifests/{code}/conversions"


def _field(body: Mapping[str, Any], key: str, kind: type) -> Any:
    value = body.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) or value == "":
        raise ManifestError(f"GitHub's answer has no usable {key!r}")
    return value


def parse_conversion(body: Any) -> AppRegistration:
    """The App GitHub created, from the conversion's 201 answer (``apps/create-from-manifest``)."""
    if not isinstance(body, Mapping):
        raise ManifestError("GitHub's answer is not a JSON object")
    pem = _field(body, "pem", str)
    if "PRIVATE KEY-----" not in pem:
        raise ManifestError("GitHub's answer holds no PEM private key")
    owner = body.get("owner")
    secret = body.get("webhook_secret")
    return AppRegistration(
        app_id=_field(body, "id", int),
        slug=_field(body, "slug", str),
        name=_field(body, "name", str),
        owner=str(owner.get("login", "")) if isinstance(owner, Mapping) else "",
        html_url=_field(body, "html_url", str),
        client_id=_field(body, "client_id", str),
        pem=pem,
        webhook_secret=secret if isinstance(secret, str) and secret else None,
        client_secret=_field(body, "client_secret", str),
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto">
<h1>{title}</h1>
{body}
</body></html>
"""


def start_page(action_url: str, manifest: Mapping[str, Any]) -> str:
    """The local page: a form that POSTs the manifest to GitHub when the person clicks."""
    manifest_json = json.dumps(manifest, sort_keys=True)
    where = "organization" if "/organizations/" in action_url else "account"
    body = (
        f"<p>This registers the GitHub App <strong>{escape_html(str(manifest['name']))}</strong>"
        f" on your GitHub {where}, with the permissions and events EUCORA needs. GitHub will"
        " ask you to confirm.</p>\n"
        f'<form method="post" action="{escape_html(action_url)}">\n'
        f'<input type="hidden" name="manifest" value="{escape_html(manifest_json)}">\n'
        '<button type="submit">Create the GitHub App on GitHub</button>\n</form>'
    )
    return _PAGE.format(title="Create the EUCORA GitHub App", body=body)


def done_page(registration: AppRegistration) -> str:
    """The page after the credentials are stored: where to install the App next."""
    install = f"{registration.html_url}/installations/new"
    body = (
        f"<p>The App <strong>{escape_html(registration.name)}</strong> (id"
        f" {registration.app_id}) exists and its credentials are stored. You can close this"
        " page.</p>\n"
        f'<p>Next: <a href="{escape_html(install)}">install it</a> on your intents'
        " repositories.</p>"
    )
    return _PAGE.format(title="EUCORA GitHub App created", body=body)


def error_page(message: str) -> str:
    """A page that says what went wrong (never a secret: callers pass plain facts)."""
    return _PAGE.format(title="EUCORA GitHub App", body=f"<p>{escape_html(message)}</p>")
