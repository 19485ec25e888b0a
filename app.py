"""Entry point: every command is `flask --app app ...`."""
from portal import create_app

app = create_app()
