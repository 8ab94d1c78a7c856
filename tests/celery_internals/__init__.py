"""Tests of project/celery_internals/: rerun them on every Celery or kombu upgrade."""
