"""Commands: to be built by the issue that owns them."""


def register(app):
    pass
