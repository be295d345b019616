"""gunicorn for one app node: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

gthread workers (1.5 × cores, 2 threads each; docs/scaling.md). With
PROMETHEUS_MULTIPROC_DIR set, every worker writes its metrics there and /metrics
adds them up: the directory is emptied when the node starts and a dead worker's
gauges are dropped (prometheus-client's multiprocess mode).
"""
import multiprocessing
import os
import shutil

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, int(multiprocessing.cpu_count() * 1.5))))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
# A worker silent this long is killed and replaced; a request's own limits are shorter.
timeout = 30
graceful_timeout = 20
keepalive = 5
# Restart workers now and then, jittered so that they never restart together.
max_requests = 100_000
max_requests_jitter = 10_000
accesslog = None  # the app logs requests itself when LOG_REQUESTS is on
errorlog = "-"
proc_name = os.environ.get("GUNICORN_NAME", "credit-app")
# gunicorn's control socket defaults to one path per user: two nodes on one machine
# would share it. Off unless a path is given.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET") or "/nonexistent/gunicorn.ctl"
control_socket_disable = "GUNICORN_CONTROL_SOCKET" not in os.environ


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
