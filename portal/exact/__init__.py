"""Exact Online: the HTTP client, token encryption, the refresh state machine and its lease, the refresh cycle, key rotation and the development fake."""
