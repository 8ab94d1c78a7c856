"""The fan-out reference: ``delay()`` in a loop, in one process warmed up first; prints jobs per second.

``bare`` as second argument disconnects the job history's publish signal first: what ``delay()``
costs in the chapter's app, which keeps no history.
"""

from __future__ import annotations

import sys
import time

from celery import signals

from project import create_app

WARMUP = 200


def main(count: int, bare: bool) -> None:
    """Send ``count`` divide jobs with ``delay()`` after a warm-up, and print the rate."""
    app = create_app()
    if bare:
        signals.after_task_publish.disconnect(dispatch_uid="appctl.history.published")
    with app.app_context():
        from project.users.tasks import divide

        for number in range(WARMUP):
            divide.delay(number, 7)
        start = time.perf_counter()
        for number in range(count):
            divide.delay(number, 7)
        print(count / (time.perf_counter() - start))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:] == ["bare"])
