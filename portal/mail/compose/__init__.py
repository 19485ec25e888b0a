"""Composing a support reply to one customer (routes on the templates_admin blueprint)."""
