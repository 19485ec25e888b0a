"""`api-key create|list|revoke`: API keys from the command line.

The plaintext key is printed once, on stdout only, by `create`; afterwards only
its display prefix exists anywhere. Every change is audited with the operator's
login name, since there is no staff session on the command line.
"""

import sys

import click

from models import ApiKey

from portal.customers import api_keys
from portal.core.audit import Actor
from portal.customers.lookup import find_customer


def _customer(email):
    user = find_customer(email)
    if user is None:
        click.echo("api-key: no customer with email %s" % email, err=True)
        sys.exit(1)
    return user


@click.group("api-key")
def api_key_group():
    """Create, list and revoke customers' API keys."""


@api_key_group.command("create")
@click.argument("email")
@click.option("--name", default="", help="A label for the key (e.g. 'Claude desktop').")
def create_command(email, name):
    """Create an API key for the customer EMAIL and print it once."""
    if len(name) > api_keys.MAX_NAME_LENGTH or any(ord(c) < 32 for c in name):
        click.echo("api-key: --name must be at most %d printable characters"
                   % api_keys.MAX_NAME_LENGTH, err=True)
        sys.exit(2)
    user = _customer(email)
    key, plaintext = api_keys.create_api_key(user, name, actor=Actor.cli())
    click.echo("Created API key %s for %s (shown once; only its hash is stored):"
               % (key.prefix, user.email), err=True)
    click.echo(plaintext)


@api_key_group.command("list")
@click.argument("email")
def list_command(email):
    """List the customer's keys (prefix, name, created, last used, revoked)."""
    user = _customer(email)
    for key in api_keys.keys_for(user.id):
        click.echo("%d\t%s\t%s\tcreated %s\tlast used %s\t%s" % (
            key.id, key.prefix, key.name or "-", key.created_at.isoformat(timespec="seconds"),
            key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never",
            "revoked %s" % key.revoked_at.isoformat(timespec="seconds")
            if key.revoked_at else "live"))


@api_key_group.command("revoke")
@click.argument("key_id", type=int)
def revoke_command(key_id):
    """Revoke the key with id KEY_ID (see `api-key list`)."""
    key = ApiKey.get_or_none(ApiKey.id == key_id)
    if key is None:
        click.echo("api-key: no key with id %d" % key_id, err=True)
        sys.exit(1)
    if not api_keys.revoke_api_key(key, actor=Actor.cli()):
        click.echo("api-key: key %s is already revoked" % key.prefix, err=True)
        sys.exit(1)
    click.echo("Revoked %s" % key.prefix)


def register(app):
    app.cli.add_command(api_key_group)
