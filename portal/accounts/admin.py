"""Admin pages of provider apps and learners' connections.

allauth's own ``SocialApp`` and ``SocialToken`` pages are removed: the
portal does not use those tables, and their forms would store a client
secret or a token in plaintext.
"""

from __future__ import annotations

from allauth.socialaccount import providers
from allauth.socialaccount.models import SocialApp, SocialToken
from django import forms
from django.contrib import admin

from portal.accounts.models import Connection, ProviderApp

for model in (SocialApp, SocialToken):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


def installed_provider_choices() -> list[tuple[str, str]]:
    """Return (id, name) of every sign-in provider installed in settings."""
    return sorted(
        (provider.id, f"{provider.name} ({provider.id})")
        for provider in providers.registry.get_class_list()
    )


class ProviderAppForm(forms.ModelForm):
    """Edit an app; the secret is write-only and kept when left empty."""

    # A free-text id that matches no installed provider would make an app
    # no learner can ever use; the choices are what INSTALLED_APPS holds.
    provider = forms.ChoiceField(
        choices=installed_provider_choices,
        help_text="The service learners connect to.",
    )
    new_secret = forms.CharField(
        label="Client secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored secret.",
    )
    base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        help_text=ProviderApp._meta.get_field("base_url").help_text,
    )

    class Meta:
        model = ProviderApp
        fields = [
            "provider",
            "name",
            "client_id",
            "integration",
            "base_url",
            "scopes",
            "enabled",
        ]

    def clean(self) -> dict:
        """Require what each service needs (a secret; Canvas: its integration)."""
        cleaned = super().clean()
        provider = cleaned.get("provider")
        if not cleaned.get("new_secret") and not (
            self.instance.pk and self.instance.secret
        ):
            self.add_error("new_secret", "Enter the client secret the service issued.")
        integration = cleaned.get("integration")
        if provider == "canvas":
            if integration is None:
                self.add_error(
                    "integration", "Choose the Canvas integration to sign in to."
                )
            elif integration.provider != "canvas":
                self.add_error(
                    "integration", f"'{integration.name}' is not a Canvas integration."
                )
        elif integration is not None:
            self.add_error("integration", "Only the Canvas app uses an integration.")
        if cleaned.get("base_url") and provider != "gitlab":
            self.add_error("base_url", "Only a self-hosted GitLab needs a base URL.")
        return cleaned

    def save(self, commit: bool = True) -> ProviderApp:
        """Encrypt a newly entered secret; keep the stored one otherwise."""
        app = super().save(commit=False)
        if self.cleaned_data.get("new_secret"):
            app.set_secret(self.cleaned_data["new_secret"])
        if commit:
            app.save()
        return app


@admin.register(ProviderApp)
class ProviderAppAdmin(admin.ModelAdmin):
    """Client ids and encrypted secrets of the services learners connect."""

    form = ProviderAppForm
    list_display = ["provider", "name", "client_id", "secret_hint_display", "enabled"]
    list_filter = ["enabled", "provider"]
    readonly_fields = ["secret_hint_display", "callback_url_display"]
    fieldsets = [
        (None, {"fields": ["provider", "name", "enabled"]}),
        (
            "Credentials",
            {"fields": ["client_id", "new_secret", "secret_hint_display"]},
        ),
        ("Service", {"fields": ["integration", "base_url", "scopes"]}),
        ("Register at the service", {"fields": ["callback_url_display"]}),
    ]

    @admin.display(description="Client secret")
    def secret_hint_display(self, app: ProviderApp) -> str:
        """Show the masked hint only."""
        return app.masked_secret()

    @admin.display(description="Redirect URI")
    def callback_url_display(self, app: ProviderApp) -> str:
        """Show the redirect URI to register at the service."""
        from django.urls import NoReverseMatch

        from portal.accounts.callbacks import callback_url

        if not app.provider:
            return "(choose the provider first)"
        try:
            return callback_url(app.provider)
        except NoReverseMatch:
            return f"(no sign-in provider '{app.provider}' is installed)"


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    """Learners' connections: who, where, state; never their tokens."""

    list_display = [
        "user",
        "provider",
        "display_name",
        "status",
        "expires_at",
        "connected_at",
    ]
    list_filter = ["provider", "status"]
    search_fields = ["user__username", "user__email", "display_name", "uid"]
    fields = [
        "user",
        "provider",
        "uid",
        "display_name",
        "scopes",
        "status",
        "status_message",
        "expires_at",
        "refreshed_at",
        "connected_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        """Connections are made by learners through the service, not here."""
        return False
