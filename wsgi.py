"""The WSGI entry point (gunicorn wsgi:app; flask --app wsgi …)."""
import gc

from api import create_app

app = create_app()
# Everything made so far (modules, the app, schemas, rule sets) lives as long as the
# process: moved out of the collector's generations, so the collections a request
# triggers no longer walk it again and again (a large share of a record batch's CPU).
gc.freeze()
# Requests make and drop many short-lived objects (a record batch some hundred
# thousand: rows, facts, explanation items), nearly all freed by reference counting
# at once; collecting the young generation every 700 allocations, as by default,
# walked them again and again (about a tenth of a batch's CPU). Cyclic garbage
# (ORM sessions) is still collected: young every 50k allocations, all every 10M.
gc.set_threshold(50_000, 20, 10)
