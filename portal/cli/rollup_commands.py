"""rebuild-rollups (issue 7)."""


def register(app):
    pass
