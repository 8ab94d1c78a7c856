"""The chapter's demo job."""

from __future__ import annotations

import time

from celery import shared_task
from flask import current_app


@shared_task
def divide(x: float, y: float) -> float:
    """Sleep DIVIDE_DELAY seconds (5 by default, APPCTL_DIVIDE_DELAY), then return x / y."""
    delay = current_app.config["DIVIDE_DELAY"]
    if delay:  # sleep(0) is not free: it gives the CPU away, for milliseconds on a busy machine
        time.sleep(delay)
    return x / y
