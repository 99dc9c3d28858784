"""The WSGI entry point: ``gunicorn app:app`` and ``flask --app app ...``."""

from syndicate.web.app import create_app

app = create_app()
