"""CLI commands (`flask --app app <command>`), one module per domain."""


def register_commands(app):
    from portal.cli import (
        database_commands,
        mcp_commands,
        rollup_commands,
        sidecar_commands,
        staff_commands,
        usage_commands,
    )
    for module in (database_commands, staff_commands, sidecar_commands, usage_commands,
                   rollup_commands, mcp_commands):
        module.register(app)
