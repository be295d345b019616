"""The WSGI entry point (gunicorn wsgi:app; flask --app wsgi …)."""
import gc

from api import create_app

app = create_app()
# Everything made so far (modules, the app, schemas, rule sets) lives as long as the
# process: moved out of the collector's generations, so the collections a request
# triggers no longer walk it again and again (a large share of a record batch's CPU).
gc.freeze()
