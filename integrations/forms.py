"""Admin forms for integrations and their credentials.

Secrets are write-only here: a stored secret is never put back into a
page, not even as ciphertext. The form shows the masked hint instead, an
empty field keeps the stored value, and a value typed in replaces it.

Credentials are checked against the provider's ``credential_schema``, as
``integrations apply`` checks them: a key the provider does not take or a
kind it does not declare is a field error, and a required credential missing
from the integration is an error of the credentials as a whole.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken
from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import escape

from integrations import crypto
from integrations.models import Credential, CredentialKind, Integration
from integrations.providers.base import Provider
from integrations.registry import UnknownProvider, all_providers, get_provider


def _provider_of(integration: Integration | None) -> Provider | None:
    """Return the integration's provider; None when it has none installed.

    An unknown provider is the integration form's error to report; its
    credentials cannot be checked against a schema that is not there.
    """
    if integration is None or not integration.provider:
        return None
    try:
        return get_provider(integration.provider)
    except UnknownProvider:
        return None


def _credential_keys(provider: Provider) -> str:
    """Return the credential keys a provider takes, sorted as apply lists them."""
    keys = sorted(field.key for field in provider.credential_schema)
    return ", ".join(keys) or "none"


class CredentialForm(forms.ModelForm):
    """Edit a credential without ever showing its secret."""

    secret = forms.CharField(
        label="Secret",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    new_refresh_token = forms.CharField(
        label="Refresh token",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = Credential
        # value and refresh_token are left out on purpose: only the
        # write-only fields above reach them.
        fields = ["key", "kind", "secret", "new_refresh_token", "expires_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        credential = self.instance
        provider = self._provider()
        if provider is not None:
            # Django renders help text unescaped.
            self.fields["key"].help_text = escape(
                f"Credentials {provider.slug} takes: {_credential_keys(provider)}."
            )
        if self._is_new():
            self.fields["secret"].help_text = "Required for a new credential."
            self.fields["new_refresh_token"].help_text = "Optional (OAuth only)."
            return

        stored = f"Stored: {credential.masked()}."
        if credential.value and not _decryptable(credential.value.ciphertext):
            stored = (
                f"Stored: {credential.masked()}, but it cannot be decrypted with the "
                "configured FIELD_ENCRYPTION_KEYS; enter the secret again."
            )
        self.fields["secret"].help_text = f"{stored} Leave empty to keep it."
        refresh = "Stored: ••••." if credential.refresh_token else "Not set."
        refresh_field = self.fields["new_refresh_token"]
        refresh_field.help_text = f"{refresh} Leave empty to keep it."

    def _is_new(self) -> bool:
        return self.instance._state.adding

    def _provider(self) -> Provider | None:
        # The inline formset sets the integration being edited, with the
        # provider chosen in the same request.
        try:
            integration = self.instance.integration
        except Integration.DoesNotExist:
            return None
        return _provider_of(integration)

    def clean(self) -> dict[str, Any]:
        """Check key and kind against the provider; require a new one's secret."""
        cleaned = super().clean()
        key = cleaned.get("key")
        provider = self._provider()
        if key and provider is not None:
            self._check_schema(provider, key, cleaned.get("kind"))
        if self._is_new() and not cleaned.get("secret"):
            self.add_error(
                "secret",
                f"Enter the secret for {key or 'this credential'!s}: a new "
                "credential needs one.",
            )
        return cleaned

    def _check_schema(self, provider: Provider, key: str, kind: str | None) -> None:
        declared = {field.key: field.kind for field in provider.credential_schema}
        if key not in declared:
            self.add_error(
                "key",
                f"Unknown credential {key!r} for provider {provider.slug!r}; "
                f"known credentials: {_credential_keys(provider)}.",
            )
        elif kind and kind != declared[key]:
            label = CredentialKind(declared[key]).label
            self.add_error(
                "kind",
                f"Provider {provider.slug!r} takes {key!r} as kind "
                f"{declared[key]!r} ({label}), not {kind!r}.",
            )

    def save(self, commit: bool = True) -> Credential:
        """Save the credential, replacing the secrets only when new ones were typed."""
        credential = super().save(commit=False)
        secret = self.cleaned_data.get("secret")
        if secret:
            credential.set_secret(secret)
        refresh_token = self.cleaned_data.get("new_refresh_token")
        if refresh_token:
            credential.refresh_token = refresh_token
        if commit:
            credential.save()
            self._save_m2m()
        return credential


class CredentialInlineFormSet(forms.BaseInlineFormSet):
    """The credentials of one integration, checked together."""

    def clean(self) -> None:
        """Report each credential the provider requires that is not given."""
        super().clean()
        provider = _provider_of(self.instance)
        if provider is None:
            return

        given = set()
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):
                continue
            cleaned = getattr(form, "cleaned_data", {})
            key = cleaned.get("key")
            if key and (cleaned.get("secret") or form.instance.value):
                given.add(key)
        missing = [
            field.key
            for field in provider.credential_schema
            if field.required and field.key not in given
        ]
        if missing:
            raise ValidationError(
                [
                    f"Provider {provider.slug!r} needs credential {key!r}: add it "
                    "with its secret below."
                    for key in missing
                ]
            )


def _decryptable(ciphertext: str) -> bool:
    # Checks the token's signature against the keys without decrypting it,
    # so rendering a form never puts the plaintext in memory.
    try:
        crypto.current_multifernet().extract_timestamp(ciphertext.encode())
    except (InvalidToken, ValueError):
        return False
    return True


def provider_choices() -> list[tuple[str, str]]:
    """Return (slug, title) for every registered provider."""
    return [
        (provider.slug, provider.title or provider.slug) for provider in all_providers()
    ]


class ProviderField(forms.ChoiceField):
    """Offer the registered providers; leave the verdict to Integration.clean.

    The model's error names the known providers, which says more than
    "Select a valid choice", and a provider that is no longer installed can
    still show as the current value.
    """

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise forms.ValidationError(
                self.error_messages["required"], code="required"
            )


class IntegrationForm(forms.ModelForm):
    """Edit an integration; the model's clean() reports errors per field."""

    # Choices are filled per form, from the registry as it is now.
    provider = ProviderField(label="Provider")
    base_url = forms.URLField(
        label="Base URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="Where the service answers, e.g. https://canvas.example.edu.",
    )
    settings = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 60}),
        help_text="JSON object of provider settings; see docs/providers/<provider>.md.",
    )

    class Meta:
        model = Integration
        fields = [
            "name",
            "provider",
            "base_url",
            "enabled",
            "schedule",
            "settings",
            "connect_timeout",
            "read_timeout",
            "retry_budget",
            "rate_limit_requests",
            "rate_limit_window",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.provider
        choices = provider_choices()
        if current and current not in {slug for slug, _ in choices}:
            choices.append((current, f"{current} (not installed)"))
        self.fields["provider"].choices = [("", "---------"), *choices]

    def _post_clean(self) -> None:
        # The model validates the instance, which still holds the old value
        # of a field whose input did not parse ("Enter a valid JSON."); its
        # verdict on that old value would only confuse, so such a field
        # keeps just its own error.
        own_errors = {name: errors.copy() for name, errors in self._errors.items()}
        super()._post_clean()
        self._errors.update(own_errors)

    def clean_settings(self) -> Any:
        """Treat an empty settings box as no settings."""
        value = self.cleaned_data.get("settings")
        return {} if value in (None, "") else value
