"""The example in docs/providers/rest.md works against the demo fake as written."""

from __future__ import annotations

from integrations.models import Credential, Integration
from integrations.providers.rest.provider import RestProvider
from tests.fakes.json_api import JsonApiFake, demo_collections
from tests.provider_docs import documented_example
from tests.providers.rest.helpers import DEMO_TOKEN, read_pages


def test_doc_example_keeps_secrets_out_of_the_file():
    example = documented_example("rest")

    assert example["provider"] == "rest"
    assert example["credentials"] == {"token": "${REST_API_TOKEN}"}


def test_doc_example_settings_are_valid():
    RestProvider().validate_settings(documented_example("rest")["settings"])


def test_doc_example_syncs_the_demo_data_without_failures(db):
    example = documented_example("rest")
    demo = demo_collections()
    with JsonApiFake(collections=demo, token=DEMO_TOKEN, page_size=2) as fake:
        integration = Integration.objects.create(
            name=example["name"],
            provider=example["provider"],
            base_url=fake.base_url,
            settings=example["settings"],
        )
        credential = Credential(integration=integration, key="token")
        credential.set_secret(DEMO_TOKEN)
        credential.save()

        counts = {}
        for stream in RestProvider().streams(integration):
            pages = read_pages(integration, stream.name)
            assert [f for page in pages for f in page.failures] == []
            counts[stream.name] = sum(len(page.records) for page in pages)

        assert counts == {name: len(items) for name, items in demo.items()}
        request = fake.requests_to("/api/courses")[0]
        assert request.header("X-Client") == "orcatech-portal"
        assert request.arg("per_page") == "50"
