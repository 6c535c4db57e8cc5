"""The load generator of ``benchmarks/load.py``: a process of its own that imports little.

``load.py`` writes each generator's job (the delivery templates, where to send, how many
connections for how long) to a file and starts a Python that imports this module and calls
``main(JOB)`` (imported, not run as ``__main__``, so the job's classes unpickle as these); the
process says ``ready`` on its standard output once it has started, begins when a line arrives on
its standard input (so the CPU is measured over the load), sends for the job's seconds over
keep-alive connections and writes one line per delivery to the job's ``out`` file. Only the
standard library and aiohttp are imported: starting it costs a fraction of a second, where the
whole benchmark module (SQLAlchemy, the GitHub double, the test support) cost seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import pickle
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

REQUEST_TIMEOUT = 30.0
MIX = (("synchronize", 0.40), ("review", 0.50), ("merged", 0.10))
"""What follows a PR's ``opened``: a push, a review (a burst, as CAB members comment), a merge."""


@dataclass(frozen=True)
class Template:
    """A signed delivery's body split at the placeholder: a unique token goes in between."""

    event: str
    kind: str
    pr: int
    head_sha: str
    before: bytes
    after: bytes


@dataclass
class Scenario:
    """The PRs of the GitHub double and the delivery templates the generator sends."""

    open_prs: dict[int, dict[str, Template | list[Template]]] = field(default_factory=dict)
    merged: list[Template] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    """One generator process's share of the load."""

    urls: list[str]
    scenario: Scenario
    secret: str
    connections: int
    rate: float
    seconds: float
    part: int
    parts: int
    out: Path


def deliveries(scenario: Scenario, part: int, parts: int, seed: int) -> Iterator[Template]:
    """This generator's share of the PRs: each opened first, then pushes, reviews and merges."""
    numbers = sorted(scenario.open_prs)[part::parts]
    merges = scenario.merged[part::parts]
    rng = random.Random(seed)
    for number in numbers:
        template = scenario.open_prs[number]["opened"]
        assert isinstance(template, Template)
        yield template
    kinds, weights = zip(*MIX, strict=True)
    while True:
        kind = rng.choices(kinds, weights)[0]
        if kind == "merged" and merges:
            yield merges.pop()
            continue
        templates = scenario.open_prs[rng.choice(numbers)]
        chosen = templates["review" if kind != "synchronize" else "synchronize"]
        yield rng.choice(chosen) if isinstance(chosen, list) else chosen


async def generate(job: Job) -> None:
    """The job's keep-alive connections for its seconds; one line per delivery to ``job.out``."""
    urls, scenario, secret, part = job.urls, job.scenario, job.secret, job.part
    connections, rate, seconds = job.connections, job.rate, job.seconds
    key = secret.encode()
    source = deliveries(scenario, part, job.parts, seed=part)
    results: list[str] = []
    serial = 0
    stop_at = time.monotonic() + seconds
    wall_offset = time.time() - time.monotonic()

    async def one(session: aiohttp.ClientSession, url: str) -> None:
        nonlocal serial
        serial += 1
        template = next(source)
        token = f"load-{part}-{serial}-{os.getpid()}"
        body = template.before + token.encode() + template.after
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/eucora-load",
            "X-GitHub-Event": template.event,
            "X-GitHub-Delivery": token,
            "X-GitHub-Hook-ID": "123456",
            "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        }
        sent = time.monotonic()
        try:
            async with session.post(url, data=body, headers=headers) as response:
                text = (await response.text()).strip()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            status, text = 0, type(error).__name__
        answered = time.monotonic()
        results.append(
            f"{token}\t{template.kind}\t{template.pr}\t{template.head_sha}\t"
            f"{sent + wall_offset:.6f}\t{answered - sent:.6f}\t{status}\t{text[:40]}"
        )

    async def connection(session: aiohttp.ClientSession, n: int) -> None:
        url = urls[n % len(urls)] + "/webhook"
        interval = 1.0 / rate if rate > 0 else 0.0
        next_at = time.monotonic() + random.Random(n).random() * interval
        while True:
            if interval:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at += interval
            if time.monotonic() >= stop_at:
                return
            await one(session, url)

    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(connection(session, n) for n in range(connections)))
    await asyncio.to_thread(job.out.write_text, "\n".join(results) + "\n", encoding="utf-8")


def main(job_file: str) -> None:
    """Read the job (written by ``load.py`` itself), say ready, begin on the go line."""
    job = pickle.loads(Path(job_file).read_bytes())  # noqa: S301 - our own file, just written
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("load generator: no go")
    asyncio.run(generate(job))
