"""The sidecar: a `schedule` loop that runs the background jobs.

Jobs: token_refresh (every REFRESH_INTERVAL_SECONDS), outreach (every
OUTREACH_INTERVAL_SECONDS) and housekeeping (every HOUSEKEEPING_INTERVAL_SECONDS,
which drops old log rows). Each run writes a job_runs row (start, end,
counts) and a heartbeat. An exception in a job is logged with its traceback
and recorded on its job_runs row; the loop carries on. SIGTERM/SIGINT stop
handing out new refreshes, let the ones in flight finish, then return.
"""
import json
import logging
import os
import signal
import socket
import threading
import traceback

import schedule

from models import JobRun, SidecarHeartbeat, database, utcnow

from portal.exact.crypto import token_cipher
from portal.exact.tokens import default_owner

log = logging.getLogger("portal.sidecar.loop")

HEARTBEAT_SECONDS = 30


class SidecarConfigError(RuntimeError):
    """The sidecar cannot work with this configuration; the message says why."""


def check_config(config):
    if not config.get("EXACT_BASE_URL", "").startswith(("http://", "https://")):
        raise SidecarConfigError("EXACT_BASE_URL must be an http(s) URL")
    try:
        token_cipher(config["TOKEN_ENCRYPTION_KEYS"])
    except (KeyError, ValueError) as exc:
        raise SidecarConfigError("TOKEN_ENCRYPTION_KEYS is not a list of Fernet keys (%s)"
                                 % type(exc).__name__)
    for name in ("SIDECAR_WORKERS", "SIDECAR_LEASE_SECONDS", "REFRESH_INTERVAL_SECONDS",
                 "OUTREACH_INTERVAL_SECONDS", "HOUSEKEEPING_INTERVAL_SECONDS"):
        if int(config.get(name, 1)) < 1:
            raise SidecarConfigError("%s must be at least 1" % name)


class Sidecar:
    def __init__(self, config, name=None, now=None):
        check_config(config)
        self.config = config
        self.name = name or default_owner()
        self.now = now  # tests pin the clock
        self.stop_event = threading.Event()
        self.jobs = {
            "token_refresh": (int(config.get("REFRESH_INTERVAL_SECONDS", 300)),
                              self._token_refresh),
            "outreach": (int(config.get("OUTREACH_INTERVAL_SECONDS", 900)), self._outreach),
            "housekeeping": (int(config.get("HOUSEKEEPING_INTERVAL_SECONDS", 3600)),
                             self._housekeeping),
        }

    # --- jobs --------------------------------------------------------------
    def _token_refresh(self, run):
        from portal.exact.refresh_cycle import run_refresh_cycle
        report = run_refresh_cycle(self.config, now=self.now, stop_event=self.stop_event,
                                   owner=self.name)
        run.refreshed, run.failed = report.refreshed, report.failed
        run.skipped, run.too_early = report.skipped + report.not_charged, report.too_early
        run.circuit_open = report.circuit_open
        run.details = json.dumps(report.as_details(), sort_keys=True)

    def _outreach(self, run):
        from portal.outreach import engine as outreach_service
        counts = outreach_service.run_outreach_cycle(self.config, now=self.now) or {}
        # The counts go in the columns too, so the sidecar page shows them.
        run.failed, run.skipped = counts.get("failed", 0), counts.get("skipped", 0)
        run.details = json.dumps(counts, sort_keys=True, default=str)

    def _housekeeping(self, run):
        from portal.sidecar.housekeeping import purge_old_records
        run.details = json.dumps(purge_old_records(now=self.now), sort_keys=True)

    # --- bookkeeping ---------------------------------------------------------
    def heartbeat(self):
        now = utcnow()
        (SidecarHeartbeat.insert(sidecar=self.name, hostname=socket.gethostname(),
                                 pid=os.getpid(), started_at=now, last_seen_at=now)
         .on_conflict(conflict_target=[SidecarHeartbeat.sidecar],
                      update={SidecarHeartbeat.last_seen_at: now})
         .execute())

    def run_job(self, job):
        """Run one job, record it; never raises (the loop must survive)."""
        _, func = self.jobs[job]
        run = JobRun.create(job=job, sidecar=self.name, started_at=utcnow())
        ok = True
        try:
            func(run)
        except Exception as exc:
            ok = False
            log.exception("job %s failed", job)
            run.error = "%s: %s\n%s" % (type(exc).__name__, exc,
                                        traceback.format_exc(limit=8))[:4000]
        run.finished_at = utcnow()
        try:
            run.save()
            self.heartbeat()
        except Exception:
            ok = False
            log.exception("could not record job run %s", job)
        return ok

    def run_once(self, only=None):
        """Run each job (or the named ones) once; True when none raised."""
        self.install_signal_handlers()
        database.connect(reuse_if_open=True)
        self.heartbeat()
        ok = True
        for job in self.jobs:
            if only and job not in only:
                continue
            if self.stop_event.is_set():
                break
            ok = self.run_job(job) and ok
        return ok

    def run_forever(self):
        self.install_signal_handlers()
        database.connect(reuse_if_open=True)
        self.heartbeat()
        scheduler = schedule.Scheduler()
        for job, (interval, _) in self.jobs.items():
            scheduler.every(interval).seconds.do(self.run_job, job)
        log.info("sidecar %s started: %s", self.name, ", ".join(
            "%s every %ss" % (job, interval) for job, (interval, _) in self.jobs.items()))
        for job in self.jobs:  # first cycle right away, then on schedule
            if self.stop_event.is_set():
                break
            self.run_job(job)
        while not self.stop_event.is_set():
            try:
                scheduler.run_pending()
                self.heartbeat()
            except Exception:  # e.g. the database restarting: keep the loop alive
                log.exception("sidecar loop error")
            idle = scheduler.idle_seconds
            self.stop_event.wait(min(max(idle or 0, 0.2), HEARTBEAT_SECONDS))
        log.info("sidecar %s stopped", self.name)

    def install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum, _frame):
            log.info("sidecar got %s: finishing refreshes in flight, then exiting",
                     signal.Signals(signum).name)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
