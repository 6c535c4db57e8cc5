"""``eucora github-app create``: register EUCORA's GitHub App through GitHub's manifest flow."""

from __future__ import annotations

import os
import sys
import webbrowser

import click

from bot.bootstrap import app_registrar
from bot.core.app_manifest import ManifestError
from bot.errors import ConfigError
from bot.flows.github_app import AppSetup, create_github_app
from bot.settings import Settings, SettingsError

EXIT_USAGE = 2


@click.group("github-app")
def github_app_group() -> None:
    """Set up the GitHub App EUCORA runs as."""


@github_app_group.command("create")
@click.option("--org", help="Register the App on this organization (default: your account).")
@click.option(
    "--port",
    default=0,
    type=click.IntRange(0, 65535),
    help="Local port for the set-up page (default: any free port).",
)
@click.option(
    "--github-url",
    default="https://github.com",
    show_default=True,
    help="GitHub's web address (GitHub Enterprise Server: https://HOST).",
)
@click.option(
    "--public-url",
    help="Where GitHub reaches `eucora serve` (webhook at /webhook); default $EUCORA_PUBLIC_URL.",
)
@click.option("--name", default="EUCORA", show_default=True, help="The App's name on GitHub.")
@click.option("--no-browser", is_flag=True, help="Print the page's address; don't open it.")
@click.option(
    "--timeout",
    default=3600,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Seconds to wait for GitHub (its code lives one hour).",
)
def create(  # noqa: PLR0913, PLR0917 - click passes one parameter per option
    org: str | None,
    port: int,
    github_url: str,
    public_url: str | None,
    name: str,
    no_browser: bool,
    timeout: int,
) -> None:
    """Create the App on GitHub from EUCORA's manifest and store its credentials.

    Opens a local page that sends the manifest (permissions and events EUCORA needs) to GitHub;
    after you confirm there, GitHub's one-time code is exchanged (POST
    /app-manifests/{code}/conversions on $GITHUB_API_URL) for the App's id, private key and
    webhook secret, stored under $EUCORA_HOME/github-app (folder 0700, files 0600), where
    `eucora serve` reads them when GITHUB_APP_ID and friends are unset. No secret is printed.
    """
    try:
        settings = Settings.from_environ(os.environ)
    except SettingsError as error:
        raise click.UsageError(str(error)) from error
    url = public_url or settings.public_url
    if not url:
        raise click.UsageError(
            "the App needs the public URL of `eucora serve` for its webhook:"
            " pass --public-url or set EUCORA_PUBLIC_URL"
        )
    setup = AppSetup(
        home=settings.home,
        public_url=url,
        github_url=github_url,
        api_url=settings.github_api_url,
        name=name,
        org=org,
        port=port,
        timeout_seconds=timeout,
    )

    def ready(page: str) -> None:
        click.echo(f"Open {page} in a browser on this machine to create the App on GitHub.")
        if not no_browser:
            webbrowser.open(page)

    try:
        created = create_github_app(setup, on_ready=ready, registrar=app_registrar())
    except (ManifestError, ConfigError) as error:
        click.echo(f"eucora: error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    app = created.registration
    click.echo(f"Created the GitHub App {app.name} (id {app.app_id}, {app.html_url}).")
    click.echo(f"Its id, private key and webhook secret are stored in {created.folder}.")
    if app.webhook_secret is None:
        click.echo(
            "GitHub returned no webhook secret: set one on the App's page and give it to"
            " `eucora serve` as GITHUB_WEBHOOK_SECRET."
        )
    click.echo(f"Next: install it on your intents repositories: {app.html_url}/installations/new")
