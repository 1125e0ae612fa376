"""Redaction of secrets from logs, errors and URLs (minimal; being expanded)."""

import logging


class RedactingFilter(logging.Filter):
    """Mask known secrets in every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        return True


class StructuredFormatter(logging.Formatter):
    """Format records as one line with their ``extra`` context."""
