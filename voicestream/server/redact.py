"""Keep tokens out of logs: uvicorn logs request lines (with ``?token=``) and websocket
handshakes."""

from __future__ import annotations

import logging
import re

_SECRETS = re.compile(r"(token=)[^&\s\"']+|(bearer[ .])[^,\s\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with ``token=...``, ``Bearer ...`` and ``bearer.<token>`` values replaced by ``***``."""
    return _SECRETS.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


class RedactTokens(logging.Filter):
    """A logging filter that formats each record and redacts secrets from it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; never drops it."""
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def redact_loggers(*names: str) -> None:
    """Attach :class:`RedactTokens` to the loggers ``names`` (once each)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
