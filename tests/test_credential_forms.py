"""Admin forms: secrets are write-only, integration errors land on their fields."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.forms import inlineformset_factory

from integrations import registry
from integrations.forms import CredentialForm, CredentialInlineFormSet, IntegrationForm
from integrations.models import Credential, Integration
from integrations.providers.base import (
    CredentialField,
    HealthReport,
    Provider,
    SettingField,
)

pytestmark = pytest.mark.django_db

KEY = Fernet.generate_key().decode()
LOST_KEY = Fernet.generate_key().decode()


class FormDemoProvider(Provider):
    """A provider registered only for these tests."""

    slug = "form-demo"
    title = "Form Demo LMS"
    settings_schema = (
        SettingField("account_id", type="int", required=True, minimum=1),
        SettingField("page_size", type="int", default=50, minimum=1, maximum=100),
    )
    credential_schema = (
        CredentialField("access_token"),
        CredentialField("webhook_secret", kind="webhook_secret", required=False),
    )

    def streams(self, integration: Integration) -> list:
        """Return no streams: these tests never sync."""
        return []

    def check_health(self, integration: Integration, client: Any) -> HealthReport:
        """Report healthy without a call: these tests never reach a service."""
        return HealthReport("healthy")


@pytest.fixture
def demo_provider():
    registry.register(FormDemoProvider)
    yield registry.get_provider(FormDemoProvider.slug)
    registry._providers.pop(FormDemoProvider.slug, None)


@pytest.fixture
def keys(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY]
    return settings


@pytest.fixture
def integration(keys):
    return Integration.objects.create(
        name="canvas-main", provider="canvas", base_url="https://canvas.example.edu"
    )


@pytest.fixture
def credential(integration, make_secret):
    credential = Credential(integration=integration, key="access_token")
    credential.set_secret(make_secret("canvas"))
    credential.refresh_token = make_secret("refresh")
    credential.save()
    return Credential.objects.get(pk=credential.pk)


@pytest.fixture
def demo_integration(keys, demo_provider):
    return Integration.objects.create(
        name="demo-main", provider="form-demo", settings={"account_id": 7}
    )


def credential_data(**overrides: str) -> dict[str, str]:
    data = {
        "key": "access_token",
        "kind": "api_key",
        "secret": "",
        "new_refresh_token": "",
        "expires_at": "",
    }
    data.update(overrides)
    return data


# --- CredentialForm ---------------------------------------------------------


def test_form_shows_the_hint_but_never_the_secret_or_ciphertext(credential):
    secret = credential.reveal()
    ciphertext = credential.value.ciphertext

    html = CredentialForm(instance=credential).as_p()

    assert secret not in html
    assert ciphertext not in html
    assert credential.refresh_token.ciphertext not in html
    assert credential.reveal_refresh_token() not in html
    assert f"Stored: ••••{secret[-4:]}." in html
    assert 'type="password"' in html
    assert 'name="value"' not in html
    assert 'name="refresh_token"' not in html


def test_form_with_errors_does_not_echo_the_typed_secret(credential, make_secret):
    typed = make_secret("typed")

    form = CredentialForm(
        credential_data(kind="no-such-kind", secret=typed), instance=credential
    )

    assert not form.is_valid()
    assert "kind" in form.errors
    assert typed not in form.as_p()


def test_empty_secret_keeps_the_stored_value(credential):
    old_secret = credential.reveal()
    old_ciphertext = credential.value.ciphertext
    old_refresh = credential.refresh_token.ciphertext

    form = CredentialForm(
        credential_data(expires_at="2031-01-01 00:00"), instance=credential
    )
    assert form.is_valid(), form.errors
    form.save()

    reloaded = Credential.objects.get(pk=credential.pk)
    assert reloaded.expires_at.year == 2031
    assert reloaded.value.ciphertext == old_ciphertext
    assert reloaded.refresh_token.ciphertext == old_refresh
    assert reloaded.reveal() == old_secret


def test_new_secret_replaces_the_stored_one(credential, make_secret):
    new_secret = make_secret("rotated")
    new_refresh = make_secret("refresh")

    form = CredentialForm(
        credential_data(secret=new_secret, new_refresh_token=new_refresh),
        instance=credential,
    )
    assert form.is_valid(), form.errors
    form.save()

    reloaded = Credential.objects.get(pk=credential.pk)
    assert reloaded.reveal() == new_secret
    assert reloaded.reveal_refresh_token() == new_refresh
    assert reloaded.hint == new_secret[-4:]


def test_save_without_commit_leaves_the_secret_to_the_caller_save(
    credential, make_secret
):
    new_secret = make_secret("rotated")
    form = CredentialForm(credential_data(secret=new_secret), instance=credential)
    assert form.is_valid(), form.errors

    unsaved = form.save(commit=False)
    assert Credential.objects.get(pk=credential.pk).reveal() != new_secret
    unsaved.save()

    assert Credential.objects.get(pk=credential.pk).reveal() == new_secret


def test_new_credential_requires_a_secret_named_in_the_error(integration):
    form = CredentialForm(
        credential_data(key="webhook_secret"),
        instance=Credential(integration=integration),
    )

    assert not form.is_valid()
    assert form.errors["secret"] == [
        "Enter the secret for webhook_secret: a new credential needs one."
    ]
    assert not Credential.objects.exists()


def test_new_credential_is_saved_encrypted(integration, make_secret):
    secret = make_secret("new")
    form = CredentialForm(
        credential_data(secret=secret), instance=Credential(integration=integration)
    )
    assert "Required for a new credential." in form.as_p()

    assert form.is_valid(), form.errors
    saved = form.save()

    assert Credential.objects.get(pk=saved.pk).reveal() == secret
    assert (
        secret not in Credential.objects.values_list("value", flat=True)[0].ciphertext
    )


def test_undecryptable_value_renders_and_can_be_repaired(
    integration, keys, make_secret
):
    keys.FIELD_ENCRYPTION_KEYS = [LOST_KEY]
    lost = Credential(integration=integration, key="access_token")
    lost.set_secret(make_secret("lost"))
    lost.save()
    keys.FIELD_ENCRYPTION_KEYS = [KEY]
    stored = Credential.objects.get(pk=lost.pk)
    lost_ciphertext = stored.value.ciphertext

    html = CredentialForm(instance=stored).as_p()

    assert "cannot be decrypted with the configured FIELD_ENCRYPTION_KEYS" in html
    assert lost_ciphertext not in html
    assert f"••••{stored.hint}" in html

    repaired = make_secret("repaired")
    form = CredentialForm(credential_data(secret=repaired), instance=stored)
    assert form.is_valid(), form.errors
    form.save()
    assert Credential.objects.get(pk=lost.pk).reveal() == repaired


def test_undecryptable_value_is_kept_when_other_fields_change(
    integration, keys, make_secret
):
    keys.FIELD_ENCRYPTION_KEYS = [LOST_KEY]
    lost = Credential(integration=integration, key="access_token")
    lost.set_secret(make_secret("lost"))
    lost.save()
    keys.FIELD_ENCRYPTION_KEYS = [KEY]
    stored = Credential.objects.get(pk=lost.pk)
    ciphertext = stored.value.ciphertext

    form = CredentialForm(
        credential_data(expires_at="2031-01-01 00:00"), instance=stored
    )
    assert form.is_valid(), form.errors
    form.save()

    assert Credential.objects.get(pk=lost.pk).value.ciphertext == ciphertext


def credential_formset_class():
    """Return the inline formset class the admin builds for credentials."""
    return inlineformset_factory(
        Integration,
        Credential,
        form=CredentialForm,
        formset=CredentialInlineFormSet,
        extra=1,
        can_delete=True,
    )


def formset_data(
    integration: Integration, *rows: dict[str, str], initial: int = 0
) -> dict[str, str]:
    """Return the POST data of the credential inline with ``rows``."""
    prefix = credential_formset_class().get_default_prefix()
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
    }
    for number, row in enumerate(rows):
        data[f"{prefix}-{number}-integration"] = str(integration.pk)
        data.update({f"{prefix}-{number}-{name}": value for name, value in row.items()})
    return data


@pytest.fixture
def demo_credential(demo_integration, make_secret):
    credential = Credential(integration=demo_integration, key="access_token")
    credential.set_secret(make_secret("demo"))
    credential.save()
    return Credential.objects.get(pk=credential.pk)


def test_inline_formset_as_the_admin_uses_it(demo_credential, make_secret):
    integration = demo_credential.integration
    old_ciphertext = demo_credential.value.ciphertext
    new_secret = make_secret("webhook")
    data = formset_data(
        integration,
        {"id": str(demo_credential.pk), **credential_data()},
        credential_data(key="webhook_secret", kind="webhook_secret", secret=new_secret),
        initial=1,
    )
    formset_class = credential_formset_class()
    unbound_html = formset_class(instance=integration).as_p()
    assert demo_credential.reveal() not in unbound_html

    formset = formset_class(data, instance=integration)
    assert formset.is_valid(), formset.errors
    formset.save()

    assert (
        Credential.objects.get(pk=demo_credential.pk).value.ciphertext == old_ciphertext
    )
    webhook = Credential.objects.get(key="webhook_secret")
    assert webhook.reveal() == new_secret
    assert webhook.integration_id == integration.pk


def test_key_the_provider_does_not_take_is_an_error_naming_the_keys_it_takes(
    integration, make_secret
):
    form = CredentialForm(
        credential_data(key="token", secret=make_secret("typo")),
        instance=Credential(integration=integration),
    )

    assert not form.is_valid()
    assert form.errors["key"] == [
        "Unknown credential 'token' for provider 'canvas'; "
        "known credentials: access_token."
    ]
    assert not Credential.objects.exists()


def test_kind_the_provider_does_not_declare_is_an_error_on_the_kind(credential):
    form = CredentialForm(credential_data(kind="oauth_token"), instance=credential)

    assert not form.is_valid()
    assert form.errors["kind"] == [
        "Provider 'canvas' takes 'access_token' as kind 'api_key' "
        "(API key or token), not 'oauth_token'."
    ]
    assert Credential.objects.get(pk=credential.pk).kind == "api_key"


def test_key_field_lists_the_credentials_of_the_provider(demo_credential):
    html = CredentialForm(instance=demo_credential).as_p()

    assert "Credentials form-demo takes: access_token, webhook_secret." in html


def test_credentials_of_a_provider_no_longer_installed_are_not_checked(
    keys, make_secret
):
    integration = Integration.objects.create(name="old", provider="retired-lms")

    form = CredentialForm(
        credential_data(key="api_secret", secret=make_secret("old")),
        instance=Credential(integration=integration),
    )

    assert form.is_valid(), form.errors


def test_removing_a_required_credential_is_refused_and_keeps_it(demo_credential):
    ciphertext = demo_credential.value.ciphertext
    data = formset_data(
        demo_credential.integration,
        {"id": str(demo_credential.pk), **credential_data(), "DELETE": "on"},
        initial=1,
    )

    formset = credential_formset_class()(data, instance=demo_credential.integration)

    assert not formset.is_valid()
    assert formset.non_form_errors() == [
        "Provider 'form-demo' needs credential 'access_token': add it with its "
        "secret below."
    ]
    assert Credential.objects.get(pk=demo_credential.pk).value.ciphertext == ciphertext


def test_a_new_integration_without_its_required_credential_is_refused(
    keys, demo_provider, make_secret
):
    integration = Integration(name="demo-new", provider="form-demo")
    webhook = credential_data(
        key="webhook_secret", kind="webhook_secret", secret=make_secret("hook")
    )
    prefix = credential_formset_class().get_default_prefix()
    data = {
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "0",
        **{f"{prefix}-0-{name}": value for name, value in webhook.items()},
    }

    formset = credential_formset_class()(data, instance=integration)

    assert not formset.is_valid()
    assert [str(error) for error in formset.non_form_errors()] == [
        "Provider 'form-demo' needs credential 'access_token': add it with its "
        "secret below."
    ]


# --- IntegrationForm --------------------------------------------------------


def integration_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "demo-main",
        "provider": "form-demo",
        "base_url": "https://lms.example.edu",
        "enabled": "on",
        "schedule": "",
        "settings": '{"account_id": 7}',
        "connect_timeout": "",
        "read_timeout": "",
        "retry_budget": "",
        "rate_limit_requests": "",
        "rate_limit_window": "",
    }
    data.update(overrides)
    return data


def test_provider_choices_come_from_the_registry(demo_provider):
    form = IntegrationForm()

    choices = dict(form.fields["provider"].choices)

    assert choices["form-demo"] == "Form Demo LMS"
    assert set(choices) == {"", *(p.slug for p in registry.all_providers())}


def test_valid_integration_is_saved_with_setting_defaults(demo_provider):
    form = IntegrationForm(integration_data())

    assert form.is_valid(), form.errors
    integration = form.save()

    assert integration.provider == "form-demo"
    assert integration.settings == {"account_id": 7, "page_size": 50}


def test_unknown_provider_error_comes_from_the_model_on_the_provider_field(
    demo_provider,
):
    form = IntegrationForm(integration_data(provider="no-such-lms"))

    assert not form.is_valid()
    assert form.errors["provider"] == [
        "Unknown provider 'no-such-lms'; known providers: "
        + ", ".join(p.slug for p in registry.all_providers())
        + "."
    ]


def test_setting_errors_land_on_the_settings_field(demo_provider):
    form = IntegrationForm(integration_data(settings='{"page_size": 500, "colour": 1}'))

    assert not form.is_valid()
    assert set(form.errors) == {"settings"}
    messages = form.errors["settings"]
    assert (
        "colour: Unknown setting 'colour'; known settings: account_id, page_size."
        in (messages)
    )
    assert "account_id: This setting is required." in messages
    assert "page_size: Must be at most 100." in messages


def test_settings_must_be_a_json_object(demo_provider):
    not_object = IntegrationForm(integration_data(settings="[1, 2]"))
    not_json = IntegrationForm(integration_data(settings="{account_id: 7"))

    assert not not_object.is_valid()
    [message] = not_object.errors["settings"]
    assert message.endswith("Settings must be a mapping of names to values.")
    assert not not_json.is_valid()
    assert not_json.errors["settings"] == ["Enter a valid JSON."]


def test_empty_settings_box_means_no_settings(demo_provider):
    form = IntegrationForm(integration_data(settings=""))

    assert not form.is_valid()
    assert form.errors["settings"] == ["account_id: This setting is required."]


def test_base_url_errors_land_on_the_base_url_field(demo_provider):
    missing = IntegrationForm(integration_data(base_url=""))
    metadata = IntegrationForm(
        integration_data(base_url="http://169.254.169.254/latest")
    )

    assert not missing.is_valid()
    assert missing.errors["base_url"] == ["Form Demo LMS needs a base URL."]
    assert not metadata.is_valid()
    assert "cloud metadata address" in metadata.errors["base_url"][0]


def test_existing_integration_renders_its_settings_as_json(demo_provider):
    integration = Integration.objects.create(
        name="demo-main",
        provider="form-demo",
        base_url="https://lms.example.edu",
        settings={"account_id": 7},
    )

    html = IntegrationForm(instance=integration).as_p()

    assert "{&quot;account_id&quot;: 7}" in html
    assert '<option value="form-demo" selected>Form Demo LMS</option>' in html


def test_provider_no_longer_installed_still_shows_and_is_reported(demo_provider):
    integration = Integration.objects.create(name="old", provider="retired-lms")

    form = IntegrationForm(
        integration_data(name="old", provider="retired-lms"), instance=integration
    )

    assert (
        "retired-lms (not installed)" in dict(form.fields["provider"].choices).values()
    )
    assert not form.is_valid()
    assert form.errors["provider"][0].startswith("Unknown provider 'retired-lms'")


def test_a_field_that_did_not_parse_keeps_only_its_own_error(demo_provider):
    form = IntegrationForm(integration_data(provider=""))

    assert not form.is_valid()
    assert form.errors["provider"] == ["This field is required."]
