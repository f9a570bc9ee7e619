"""The WSGI entry point: gunicorn 'wsgi:app'."""
from crisiscast.web import create_app

app = create_app()
