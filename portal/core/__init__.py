"""Shared web infrastructure: config, access policy, security headers, errors, navigation, audit, forms, CSV export, pagination, time formatting, migrations."""
