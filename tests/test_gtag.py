"""The optional GA4 browser tag: off by default, Google's script when set."""

from __future__ import annotations

import pytest
from django.template import Context, Template

pytestmark = pytest.mark.django_db


def render() -> str:
    return Template("{% load analytics %}{% ga4_gtag %}").render(Context())


def test_nothing_is_rendered_by_default(client, settings):
    settings.PORTAL_GA4_MEASUREMENT_ID = ""

    assert render() == ""
    assert "googletagmanager" not in client.get("/").content.decode()


def test_the_gtag_snippet_is_rendered_when_a_measurement_id_is_set(client, settings):
    settings.PORTAL_GA4_MEASUREMENT_ID = "G-AB12CD34"

    html = render()
    page = client.get("/").content.decode()

    assert 'src="https://www.googletagmanager.com/gtag/js?id=G-AB12CD34"' in html
    assert "gtag('config', \"G-AB12CD34\")" in html
    assert "googletagmanager.com/gtag/js?id=G-AB12CD34" in page


def test_a_malformed_measurement_id_renders_nothing(settings):
    settings.PORTAL_GA4_MEASUREMENT_ID = 'G-1"><script>alert(1)</script>'

    assert render() == ""
