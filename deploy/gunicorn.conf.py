"""gunicorn settings for the portal: `gunicorn -c deploy/gunicorn.conf.py app:app`.

Everything comes from the environment, so one file serves the demo (`make run`),
the load test and production:

  PORTAL_BIND          address to listen on                 127.0.0.1:8000
  WEB_CONCURRENCY      worker processes                     2 x cores + 1
  GUNICORN_THREADS     threads per worker (gthread)         4
  GUNICORN_TIMEOUT     seconds before a silent worker is restarted   30
  GUNICORN_ACCESS_LOG  where access lines go ("-" = stdout, "" = off)  -
  PROMETHEUS_MULTIPROC_DIR  folder for per-process metric files (portal.metrics);
                       default instance/prometheus, wiped when gunicorn starts

Access log lines are JSON, one object a line (JsonAccessLogger below): time,
method, path (without the query string, which may carry a search term), status,
bytes, duration in ms, client address, user agent. Never headers or cookies,
so no API key or session reaches the log.
"""
import datetime
import json
import multiprocessing
import os
import shutil

from gunicorn.glogging import Logger

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
backlog = int(os.environ.get("GUNICORN_BACKLOG", "2048"))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "exact-mcp-portal"
# Restart workers now and then so a slow leak cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10

# prometheus_client reads this when it is first imported: set it here, in the
# master, before any worker imports the app.
_metrics_dir = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(ROOT, "instance", "prometheus"))


class JsonAccessLogger(Logger):
    """One JSON object per request on the access log."""

    def access(self, resp, req, environ, request_time):
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.syslog):
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        line = {
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote": environ.get("REMOTE_ADDR"),
            "user_agent": (environ.get("HTTP_USER_AGENT") or "")[:200],
            "pid": os.getpid(),
        }
        try:
            self.access_log.info(json.dumps(line, separators=(",", ":")))
        except Exception:
            self.exception("could not write the access log line")


logger_class = JsonAccessLogger


def on_starting(server):
    # Files of processes from an earlier run would be summed in: start clean.
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    os.makedirs(_metrics_dir, exist_ok=True)


def child_exit(server, worker):
    # Multiprocess mode: a dead worker's live gauges must not linger.
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)
