"""The README's runnable examples work as written: `scripts/readme_examples.py` runs every block
marked `<!-- readme-example: run -->` with real curl against daphne and a Celery worker in
subprocesses (the test database, Redis, the Mongo-compatible server, the scripted model)."""

from __future__ import annotations

import importlib.util
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from anker_project.redis_client import get_redis
from jobs.models import Job, JobApiKey, Schedule
from tests.bootstrap import ROOT, free_port
from tests.conftest import PASSWORD, make_user
from tests.e2e import conftest as e2e
from tests.jobs.conftest import Receiver, receiver  # noqa: F401 - the webhook receiver fixture
from tests.support.llm_server import ScriptedLLM, text

pytestmark = pytest.mark.django_db(transaction=True)


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_examples", ROOT / "scripts" / "readme_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """daphne and a worker on every queue; webhooks may go to the local receiver."""
    for queue in ("turns", "sandboxes", "default", "jobs"):
        get_redis().delete(queue)
    env = {
        **os.environ,
        "DATABASE_URL": e2e.test_database_url(),
        "PYTHONUNBUFFERED": "1",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    }
    port = free_port()
    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    web = subprocess.Popen(
        [str(e2e.BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "anker_project.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=web_log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = e2e.start_worker(env, worker_log, f"readme-{secrets.token_hex(3)}", concurrency=4)
    try:
        e2e._wait_http(f"http://127.0.0.1:{port}/api/v1/auth/me", web, web_log)
        e2e.wait_worker_ready(worker_log, worker)
        yield f"http://127.0.0.1:{port}"
    finally:
        e2e.stop(worker)
        e2e.stop(web)


def test_every_runnable_readme_example_answers_as_documented(
    server: str,
    llm: ScriptedLLM,
    receiver: Receiver,  # noqa: F811 - the imported fixture
) -> None:
    script = _script()
    blocks = script.runnable_blocks((ROOT / "README.md").read_text())
    headings = {b.heading for b in blocks}
    assert {"Using the API", "Jobs API", "Schedules (crons)"} <= headings, headings
    llm.set_default(text("Anchors hold fast"))
    me = make_user("me")
    _key, raw_key = JobApiKey.objects.create_key(owner=me, name="readme")

    outcome = script.run(
        blocks, base_url=server, password=PASSWORD, api_key=raw_key, webhook_url=receiver.url, timeout=900
    )

    assert outcome.ok, f"README.md:{outcome.failed.line} ({outcome.failed.heading}):\n{outcome.output[-4000:]}"
    assert outcome.blocks_run == len(blocks)
    statuses = [(c.status, c.expected) for c in outcome.calls]
    assert all(s.startswith("2") if want == "2xx" else s == want for s, want in statuses), statuses
    assert len(outcome.calls) >= 20
    # What the examples did is real: the job ran on the worker, its webhook arrived, the
    # scheduled job was cancelled, the schedule was deleted, the ended job deleted.
    (hook,) = receiver.wait_for(1, timeout=30)
    assert b'"invoice":2291' in hook.body
    assert Job.objects.filter(status="cancelled", prompt="Nightly check").count() == 1
    assert Schedule.objects.count() == 0
    assert not Job.objects.filter(prompt="Summarise invoice 2291 in three lines").exists()


def test_a_failing_example_is_reported_with_its_block(server: str, tmp_path: Path) -> None:
    script = _script()
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Fine\n\n<!-- readme-example: run -->\n```bash\ncurl -s http://127.0.0.1:8000/api/v1/health\n```\n\n"
        "# Broken\n\n<!-- readme-example: run -->\n```bash\ncurl -s http://127.0.0.1:8000/api/v1/no-such-thing\n```\n\n"
        "# Not run\n\n```bash\nexit 1\n```\n"
    )
    blocks = script.runnable_blocks(readme.read_text())

    outcome = script.run(blocks, base_url=server, password="x", api_key="x")

    assert [b.heading for b in blocks] == ["Fine", "Broken"]
    assert not outcome.ok and outcome.failed is not None and outcome.failed.heading == "Broken"
    assert [(c.status, c.expected) for c in outcome.calls] == [("200", "2xx"), ("404", "2xx")]
    assert "readme-example: HTTP 404 (expected 2xx)" in outcome.output


def test_a_documented_status_is_expected_and_any_other_fails(server: str, tmp_path: Path) -> None:
    script = _script()
    block = script.Block("Statuses", 1, "curl -s http://127.0.0.1:8000/api/v1/no-such-thing  # 404 for a missing page")
    assert script.run([block], base_url=server, password="x", api_key="x").ok
    wrong = script.Block("Statuses", 1, "curl -s http://127.0.0.1:8000/api/v1/health  # 404 claimed, but it is 200")
    assert not script.run([wrong], base_url=server, password="x", api_key="x").ok


def test_the_marker_must_sit_on_a_bash_block() -> None:
    with pytest.raises(ValueError, match="must be followed by"):
        _script().runnable_blocks("<!-- readme-example: run -->\n```python\nprint(1)\n```\n")
