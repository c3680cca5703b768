"""One dedicated stack (tests.faults.servers) for the outage tests of this package."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.servers import Dedicated, server_dir

# Short for the tests: the beat's sweep for generation jobs whose queue message was lost runs every
# 3 s and re-sends a job pending 3 s; a job takes 1.5 s, so a burst leaves some queued when Redis goes.
WORKER_ENV = {"EE_GENERATION_TEST_DELAY_S": "1.5", "EE_GENERATION_REQUEUE_S": "3"}


@pytest.fixture(scope="session")
def dedicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dedicated]:
    with server_dir("ee-faults-") as root:
        stack = Dedicated(root, tmp_path_factory.mktemp("faults-logs"), worker_env=WORKER_ENV)
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()
