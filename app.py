"""The chapter's entry module: ``FLASK_APP=app.py flask …`` and ``celery -A app.celery worker``."""

from project import create_app

app = create_app()
celery = app.extensions["celery"]
