"""One worker process opening issues through the GitHub adapter, for the shared-pace tests.

``python -m tests.support.pace_worker API_URL APP_ID KEY_FILE INSTALLATION REPO COUNT BROKER
SPACING``: builds the connector as ``eucora worker`` does (the pacer from the broker URL), waits
for ``GO`` on stdin so every process starts together, then opens COUNT issues.
"""

from __future__ import annotations

import sys
from pathlib import Path
from tempfile import mkdtemp

from bot.adapters.github_connectors import GitHubAppConnector
from bot.adapters.pacer import Pace, pacer_for


def main(argv: list[str]) -> None:
    api_url, app_id, key_file, installation, repo, count, broker, spacing = argv
    pace = Pace(spacing=float(spacing), max_wait=30.0)
    connector = GitHubAppConnector(
        api_url=api_url,
        app_id=app_id,
        private_key=Path(key_file).read_text(),
        mirrors_dir=Path(mkdtemp()),
        backoff_factor=0.01,
        max_wait=30.0,
        pacer=pacer_for(broker, pace),
    )
    github = connector.for_installation(int(installation))
    connector.installation_token(int(installation))  # the token first: not a paced write
    sys.stdin.readline()
    for number in range(int(count)):
        github.create_issue(repo, title=f"pace {number}", body="paced")
    sys.stdout.write("done\n")


if __name__ == "__main__":
    main(sys.argv[1:])
