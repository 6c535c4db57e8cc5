"""A real bare git repository served over smart HTTP: ``git http-backend`` run as CGI.

This is the same program GitHub Enterprise and most git hosts put behind their web servers, so
the bot's ``git fetch`` talks the real protocol (v2 when the client asks) to a real repository.
Fetching a commit by SHA is allowed (``uploadpack.allowAnySHA1InWant``), as on GitHub.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from werkzeug.wrappers import Request, Response


def serve(request: Request, project_root: Path, path_info: str) -> Response:
    """Run ``git http-backend`` for one request and turn its CGI output into a response."""
    body = request.get_data()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(project_root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "HOME": str(project_root),
        "PATH_INFO": path_info,
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.query_string.decode(),
        "CONTENT_TYPE": request.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": "x-access-token",
        "REMOTE_ADDR": request.remote_addr or "127.0.0.1",
    }
    if request.headers.get("Content-Encoding"):
        env["HTTP_CONTENT_ENCODING"] = request.headers["Content-Encoding"]
    if request.headers.get("Git-Protocol"):
        env["GIT_PROTOCOL"] = request.headers["Git-Protocol"]
    result = subprocess.run(
        ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
    )
    head, _, payload = result.stdout.partition(b"\r\n\r\n")
    if not _:
        head, _, payload = result.stdout.partition(b"\n\n")
    status = 200
    headers: list[tuple[str, str]] = []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            headers.append((name.strip(), value.strip()))
    if result.returncode != 0 and not head:
        return Response(result.stderr or b"git http-backend failed", status=500)
    return Response(payload, status=status, headers=headers)
