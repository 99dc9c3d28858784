"""The WSGI entry point: ``gunicorn app:app`` and ``flask --app app ...``."""

from syndicate.factory import create_app

app = create_app()
