"""create-user."""
import sys

import click
from flask import current_app

from models import Staff, database

from ..passwords import hash_password


@click.command("create-user")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin.")
def create_user_command(email, name, password_stdin):
    """Create a staff account. Admins are the emails in ADMIN_EMAILS."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        click.echo("create-user: %r is not an email address" % email, err=True)
        sys.exit(2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 12:
        click.echo("create-user: the password must have at least 12 characters", err=True)
        sys.exit(2)
    with database.atomic():
        if Staff.get_or_none(Staff.email == email):
            click.echo("create-user: %s already exists" % email, err=True)
            sys.exit(1)
        Staff.create(email=email, name=name or email.split("@")[0],
                     password_hash=hash_password(password, current_app.config.get(
                         "PASSWORD_HASH_METHOD")))
    click.echo("Created staff account %s" % email)


def register(app):
    app.cli.add_command(create_user_command)
