"""App configuration of learner accounts and connections."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Sign-in, connected accounts and the encrypted store of their tokens."""

    name = "portal.accounts"
    label = "accounts"
    verbose_name = "Accounts and connections"

    def ready(self) -> None:
        """Connect the token capture to allauth and fix the callback URLs."""
        from portal.accounts import callbacks, signals

        signals.connect_handlers()
        callbacks.build_callbacks_from_site_url()
