"""rebuild-rollups: recompute every usage counter and rollup from the raw rows (issue 7)."""
import click

from portal.usage.counters import rebuild_rollups, total_usage_rows


@click.command("rebuild-rollups")
@click.option("--batch-size", default=50_000, show_default=True,
              help="Raw rows aggregated per step.")
def rebuild_rollups_command(batch_size):
    """Rebuild usage_monthly, usage_daily*, usage_hourly_errors and last activity
    from api_usage, in one transaction (readers see old or new figures, never half)."""
    if batch_size < 1:
        raise click.BadParameter("must be at least 1", param_hint="--batch-size")
    total = total_usage_rows()
    with click.progressbar(length=total, label="Rebuilding rollups",
                           file=click.get_text_stream("stderr")) as bar:
        done = rebuild_rollups(batch_size=batch_size, progress=bar.update)
    click.echo("Rebuilt rollups from %d usage rows." % done)


def register(app):
    app.cli.add_command(rebuild_rollups_command)
