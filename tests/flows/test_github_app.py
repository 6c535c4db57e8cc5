"""``eucora github-app create`` end to end: the local page, GitHub's redirect, the conversion on the
GitHub double, and credentials stored where ``eucora serve`` reads them, readable by the owner only."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from bot.adapters.github_manifest import ManifestRegistrar, convert_manifest_code
from bot.core.app_manifest import ManifestError
from bot.doubles.github import GitHubDouble
from bot.entrypoints.cli import cli
from bot.errors import ConfigError
from bot.flows.github_app import AppCreated, AppSetup, create_github_app
from bot.settings import Settings

EUCORA = str(Path(sys.executable).parent / "eucora")
PUBLIC = "https://eucora.contoso.com"


class FormReader(HTMLParser):
    """What a browser would submit: the form's action and its hidden manifest field."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            assert values["method"] == "post"
            self.action = values["action"]
        if tag == "input":
            self.fields[values["name"]] = values["value"]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - loopback
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def read_form(page_url: str) -> tuple[str, dict, str]:
    status, page = get(page_url)
    assert status == 200
    form = FormReader()
    form.feed(page)
    state = parse_qs(urlsplit(form.action).query)["state"][0]
    return form.action, json.loads(form.fields["manifest"]), state


def assert_private(folder: Path) -> None:
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert path.stat().st_uid == os.getuid()


def test_the_command_end_to_end_against_the_double(
    tmp_path: Path, github_double: GitHubDouble
) -> None:
    home = tmp_path / "home"
    github_double.register_manifest_code("manifest-code-1")  # GitHub, once the person confirmed
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "EUCORA_"))},
        "EUCORA_HOME": str(home),
        "GITHUB_API_URL": github_double.url,
    }
    process = subprocess.Popen(
        [
            EUCORA,
            "github-app",
            "create",
            "--no-browser",
            "--public-url",
            PUBLIC,
            "--org",
            "contoso",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        page_url = re.search(r"Open (http://127\.0\.0\.1:\d+/) ", first).group(1)
        action, manifest, state = read_form(page_url)
        assert action.startswith(
            "https://github.com/organizations/contoso/settings/apps/new?state="
        )
        assert manifest["redirect_url"] == page_url + "callback"
        assert manifest["hook_attributes"] == {"url": PUBLIC + "/webhook", "active": True}
        assert manifest["public"] is False
        # GitHub sends the person back with the code and the state it was given
        status, done = get(f"{manifest['redirect_url']}?code=manifest-code-1&state={state}")
        assert status == 200
        assert "EUCORA GitHub App created" in done
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    output = first + out + err
    app = github_double.app
    assert f"id {app.id}" in output
    for secret in (app.private_key_pem.splitlines()[1], app.webhook_secret, app.client_secret):
        assert secret not in output
        assert secret not in done
    folder = home / "github-app"
    assert str(folder) in output
    assert_private(folder)
    settings = Settings.from_environ({"EUCORA_HOME": str(home)})
    assert settings.github_app_id == str(app.id)
    assert settings.github_private_key == app.private_key_pem.strip()
    assert settings.github_webhook_secret == app.webhook_secret
    assert settings.github_api_url == github_double.url
    assert "PRIVATE KEY" not in repr(settings)
    facts = json.loads((folder / "app.json").read_text(encoding="utf-8"))
    assert set(facts) == {"id", "slug", "name", "owner", "html_url", "client_id", "api_url"}
    # the environment still wins over what is stored
    override = Settings.from_environ({"EUCORA_HOME": str(home), "GITHUB_APP_ID": "7"})
    assert (override.github_app_id, override.github_private_key) == ("7", None)
    [call] = github_double.requests_to("POST", r"^/app-manifests/manifest-code-1/conversions$")
    assert call.status == 201


class Flow:
    """The flow in a thread, with the page's address handed back."""

    def __init__(self, setup: AppSetup) -> None:
        self.ready = threading.Event()
        self.url = ""
        self.result: AppCreated | Exception | None = None
        self.thread = threading.Thread(target=self._run, args=(setup,), daemon=True)
        self.thread.start()
        assert self.ready.wait(30) or self.result is not None

    def _on_ready(self, url: str) -> None:
        self.url = url
        self.ready.set()

    def _run(self, setup: AppSetup) -> None:
        try:
            self.result = create_github_app(
                setup, on_ready=self._on_ready, registrar=ManifestRegistrar()
            )
        except (ManifestError, ConfigError) as error:
            self.result = error
            self.ready.set()

    def finish(self) -> AppCreated | Exception | None:
        self.thread.join(30)
        assert not self.thread.is_alive()
        return self.result


def setup(tmp_path: Path, double: GitHubDouble, **changes) -> AppSetup:
    return AppSetup(home=tmp_path / "home", public_url=PUBLIC, api_url=double.url, **changes)


def test_a_wrong_state_is_refused_and_the_right_one_still_works(
    tmp_path: Path, github_double: GitHubDouble
) -> None:
    github_double.register_manifest_code("c2")
    flow = Flow(setup(tmp_path, github_double))
    action, manifest, state = read_form(flow.url)
    assert action.startswith("https://github.com/settings/apps/new?state=")
    status, page = get(f"{manifest['redirect_url']}?code=c2&state=forged")
    assert status == 400
    assert "wrong state" in page
    status, _ = get(f"{manifest['redirect_url']}?code=c2&state={state}")
    assert status == 200
    result = flow.finish()
    assert isinstance(result, AppCreated)
    assert result.registration.app_id == github_double.app.id
    with pytest.raises(urllib.error.URLError):  # the page is gone once the App exists
        get(f"{manifest['redirect_url']}?code=c2&state={state}")


def test_an_unknown_or_used_code_is_a_clear_error(
    tmp_path: Path, github_double: GitHubDouble
) -> None:
    flow = Flow(setup(tmp_path, github_double))
    _, manifest, state = read_form(flow.url)
    status, page = get(f"{manifest['redirect_url']}?code=never-issued&state={state}")
    assert status == 200
    assert "could not be set up" in page
    result = flow.finish()
    assert isinstance(result, ManifestError)
    assert "unknown, already used or more than an hour old (HTTP 404" in str(result)
    assert not (tmp_path / "home" / "github-app").exists()


def test_an_app_already_stored_is_never_replaced(
    tmp_path: Path, github_double: GitHubDouble
) -> None:
    github_double.register_manifest_code("c3")
    flow = Flow(setup(tmp_path, github_double))
    _, manifest, state = read_form(flow.url)
    get(f"{manifest['redirect_url']}?code=c3&state={state}")
    assert isinstance(flow.finish(), AppCreated)
    key = (tmp_path / "home" / "github-app" / "private-key.pem").read_bytes()
    again = Flow(setup(tmp_path, github_double))
    result = again.finish()
    assert isinstance(result, ConfigError)
    assert "already stored" in str(result)
    assert (tmp_path / "home" / "github-app" / "private-key.pem").read_bytes() == key


def test_no_answer_in_time(tmp_path: Path, github_double: GitHubDouble) -> None:
    flow = Flow(setup(tmp_path, github_double, timeout_seconds=0.2))
    assert isinstance(flow.finish(), ManifestError)


def test_only_loopback_host_names_are_served(tmp_path: Path, github_double: GitHubDouble) -> None:
    flow = Flow(setup(tmp_path, github_double, timeout_seconds=1))
    port = urlsplit(flow.url).port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/", headers={"Host": "attacker.example:80"})
    assert connection.getresponse().status == 403
    connection.close()
    assert get(flow.url.rstrip("/") + "/elsewhere")[0] == 404
    assert isinstance(flow.finish(), ManifestError)  # nobody came back: it times out


def test_a_port_in_use_is_a_clear_error(tmp_path: Path, github_double: GitHubDouble) -> None:
    flow = Flow(setup(tmp_path, github_double, timeout_seconds=1))
    port = urlsplit(flow.url).port
    with pytest.raises(ManifestError, match=f"cannot listen on 127.0.0.1:{port}"):
        create_github_app(
            setup(tmp_path / "other", github_double, port=port),
            on_ready=print,
            registrar=ManifestRegistrar(),
        )
    flow.finish()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"EUCORA_HOME": str(tmp_path), "EUCORA_PUBLIC_URL": "", "GITHUB_API_URL": ""}
    done = runner.invoke(cli, ["github-app", "create", "--no-browser"], env=env)
    assert done.exit_code == 2
    assert "--public-url or set EUCORA_PUBLIC_URL" in done.output
    plain_http = [
        "github-app",
        "create",
        "--no-browser",
        "--public-url",
        "http://eucora.contoso.com",
    ]
    done = runner.invoke(cli, plain_http, env=env)
    assert done.exit_code == 2
    assert "must use https" in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    done = runner.invoke(cli, [*plain_http[:-1], PUBLIC, "--org", "not/an org"], env=env)
    assert done.exit_code == 2
    assert "is not a GitHub organization name" in done.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_command_in_process_prints_where_and_what_next(
    tmp_path: Path, github_double: GitHubDouble
) -> None:
    github_double.register_manifest_code("c9")
    port = _free_port()
    page = f"http://127.0.0.1:{port}/"
    seen: list[int] = []

    def browser() -> None:
        for _ in range(300):
            try:
                _, manifest, state = read_form(page)
            except urllib.error.URLError:
                time.sleep(0.05)
                continue
            seen.append(get(f"{manifest['redirect_url']}?code=c9&state={state}")[0])
            return

    thread = threading.Thread(target=browser, daemon=True)
    thread.start()
    env = {
        "EUCORA_HOME": str(tmp_path / "home"),
        "GITHUB_API_URL": github_double.url,
        "EUCORA_PUBLIC_URL": PUBLIC,
        "GITHUB_APP_ID": "",
    }
    args = ["github-app", "create", "--no-browser", "--port", str(port), "--timeout", "60"]
    result = CliRunner().invoke(cli, args, env=env)
    thread.join(30)
    assert seen == [200]
    assert result.exit_code == 0, result.output
    assert f"Open {page} in a browser" in result.output
    assert re.search(
        r"install it on your intents repositories: \S+/installations/new\n", result.output
    )
    assert f"(id {github_double.app.id}," in result.output
    assert github_double.app.webhook_secret not in result.output


def test_conversion_failures_are_one_line(tmp_path: Path, github_double: GitHubDouble) -> None:
    github_double.register_manifest_code("c10")
    github_double.fail(500, 1, path="/app-manifests/")
    with pytest.raises(ManifestError, match=r"GitHub refused the conversion \(HTTP 500"):
        convert_manifest_code(github_double.url, "c10")
    with pytest.raises(ManifestError, match=re.escape("cannot reach http://127.0.0.1:9")):
        convert_manifest_code("http://127.0.0.1:9", "c10")
    with pytest.raises(ManifestError, match="is not an http"):
        convert_manifest_code("file:///etc", "c10")
    assert convert_manifest_code(github_double.url, "c10")["id"] == github_double.app.id
