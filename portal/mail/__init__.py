"""Email: the placeholder-only template engine, template storage and defaults, sending through MAIL_URL, the outbox page, support replies."""
