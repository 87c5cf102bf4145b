"""Secrets never reach a log: passwords inside URLs and free text are replaced with ``***``.

A leaf of the core (it imports nothing of Plexus), so every layer can mask what it prints.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["mask_secrets", "mask_text", "mask_url"]


def mask_url(url: str) -> str:
    """Replace the password of a URL (``scheme://user:secret@host``) with ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    if parts.password is None:
        return mask_text(url)
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


_SECRET = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^:/@\s]*:)([^@\s]+)(@)")


def mask_text(text: str) -> str:
    """Mask every ``scheme://user:password@`` inside free text (error messages, logs)."""
    return _SECRET.sub(r"\1***\3", text)


def mask_secrets(obj: object) -> object:
    """``obj`` (nested dicts / lists / strings) with :func:`mask_text` applied to every string."""
    if isinstance(obj, str):
        return mask_text(obj)
    if isinstance(obj, dict):
        return {k: mask_secrets(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(mask_secrets(v) for v in obj)
    return obj
