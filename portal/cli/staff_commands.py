"""create-user: the way to make staff accounts (including the first admin).

    ADMIN_EMAILS=ada@example.com flask --app app create-user ada@example.com
    printf '%s\n' "$PASSWORD" | flask --app app create-user ada@example.com --password-stdin

An account is admin when its email is in ADMIN_EMAILS; otherwise it is support.
"""
import sys

import click
from flask import current_app

from portal.staff.accounts import StaffError, create_staff


@click.command("create-user")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin.")
def create_user_command(email, name, password_stdin):
    """Create a staff account. Admins are the emails in ADMIN_EMAILS."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        staff = create_staff(email, password, name=name,
                             hash_method=current_app.config.get("PASSWORD_HASH_METHOD"))
    except StaffError as exc:
        click.echo("create-user: %s" % exc, err=True)
        sys.exit(1 if "already exists" in str(exc) else 2)
    role = "admin" if staff.email in _admin_emails() else "support"
    click.echo("Created staff account %s (%s)" % (staff.email, role))
    if role == "support" and not _admin_emails():
        click.echo("Note: ADMIN_EMAILS is empty, so nobody is admin yet. Set "
                   "ADMIN_EMAILS=%s to make this account an admin." % staff.email, err=True)


def _admin_emails():
    from portal.core.access import get_admin_emails
    return get_admin_emails(current_app.config)


def register(app):
    app.cli.add_command(create_user_command)
