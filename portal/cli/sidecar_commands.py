"""sidecar, rotate-keys."""
import sys

import click
from flask import current_app


@click.command("sidecar")
@click.option("--once", is_flag=True, help="Run every job once and exit.")
@click.option("--job", "jobs", multiple=True, type=click.Choice(["token_refresh", "outreach", "housekeeping"]),
              help="Only this job (repeatable; with --once).")
def sidecar_command(once, jobs):
    """Keep every Exact connection alive and run outreach (until SIGTERM/SIGINT)."""
    from portal.sidecar.loop import Sidecar, SidecarConfigError
    try:
        sidecar = Sidecar(current_app.config)
    except SidecarConfigError as exc:
        click.echo("sidecar: %s" % exc, err=True)
        sys.exit(2)
    if once:
        ok = sidecar.run_once(only=set(jobs) or None)
        sys.exit(0 if ok else 1)
    sidecar.run_forever()


@click.command("rotate-keys")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10000))
def rotate_keys_command(batch_size):
    """Re-encrypt every stored token under the first TOKEN_ENCRYPTION_KEYS key."""
    from portal.exact.key_rotation import count_rows, rotate_all
    keys = current_app.config["TOKEN_ENCRYPTION_KEYS"]
    total = count_rows()
    with click.progressbar(length=total, label="Re-encrypting connections",
                           file=sys.stderr) as bar:
        report = rotate_all(keys, batch_size=batch_size, progress=bar.update)
    click.echo("rotated %d, already under the first key %d, changed meanwhile %d, "
               "undecryptable %d" % (report.rotated, report.already_current,
                                     report.changed_meanwhile, len(report.undecryptable)))
    if report.changed_meanwhile:
        click.echo("Rows changed by a refresh meanwhile: run rotate-keys again (restart the "
                   "sidecar with the new keys first).", err=True)
    if report.undecryptable:
        click.echo("No key decrypts connections %s: add the old key to "
                   "TOKEN_ENCRYPTION_KEYS." % ", ".join(map(str, report.undecryptable[:20])),
                   err=True)
        sys.exit(1)


def register(app):
    app.cli.add_command(sidecar_command)
    app.cli.add_command(rotate_keys_command)
