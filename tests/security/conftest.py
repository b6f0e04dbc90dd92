from collections.abc import Iterator

import pytest

from anker_project.redis_client import get_redis
from tests.support.llm_server import ScriptedLLM, text

QUEUES = ("jobs", "turns", "default", "sandboxes")


@pytest.fixture(autouse=True)
def empty_queues(llm: ScriptedLLM) -> Iterator[None]:
    """Jobs' turns are run in the test (keys.job_session): leave no task behind for a worker."""
    llm.set_default(text("job answer"))
    get_redis().delete(*QUEUES)
    yield
    get_redis().delete(*QUEUES)
