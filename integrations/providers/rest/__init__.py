"""The generic REST provider: sync any JSON API the admin describes."""
