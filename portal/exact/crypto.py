"""Encryption of OAuth tokens at rest: MultiFernet over TOKEN_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so keys can be rotated by putting
a new key first and running `flask --app app rotate-keys`.
"""
from cryptography.fernet import Fernet, InvalidToken, MultiFernet  # noqa: F401

_cache = {}


def token_cipher(keys):
    """MultiFernet for a comma-separated key string (cached per string)."""
    cipher = _cache.get(keys)
    if cipher is None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("TOKEN_ENCRYPTION_KEYS is empty")
        cipher = MultiFernet([Fernet(k.encode()) for k in parts])
        _cache[keys] = cipher
    return cipher


def encrypt_token(keys, plaintext):
    if not plaintext:
        return ""
    return token_cipher(keys).encrypt(plaintext.encode()).decode()


def decrypt_token(keys, ciphertext):
    if not ciphertext:
        return ""
    return token_cipher(keys).decrypt(ciphertext.encode()).decode()
