"""The optional GA4 browser tag of the portal's own pages (``{% ga4_gtag %}``).

Off by default: the tag renders nothing unless ``PORTAL_GA4_MEASUREMENT_ID``
is set. Set, it renders Google's gtag.js snippet, which makes every page
load a script from www.googletagmanager.com; the portal otherwise loads
nothing from a CDN. A measurement id that is not shaped like ``G-XXXXXXX``
renders nothing too, so a typo cannot inject markup.
"""

from __future__ import annotations

import json
import logging

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString

from integrations.providers.ga4.client import MEASUREMENT_ID

logger = logging.getLogger(__name__)
register = template.Library()

GTAG_URL = "https://www.googletagmanager.com/gtag/js?id={}"


@register.simple_tag
def ga4_gtag() -> SafeString:
    """Render the gtag.js snippet when a GA4 measurement id is configured."""
    measurement_id = str(getattr(settings, "PORTAL_GA4_MEASUREMENT_ID", "") or "")
    if not measurement_id:
        return SafeString("")
    if not MEASUREMENT_ID.fullmatch(measurement_id):
        logger.warning("ga4.gtag.invalid_measurement_id")
        return SafeString("")

    return format_html(
        '<script async src="{}"></script>\n'
        "<script>window.dataLayer = window.dataLayer || [];"
        "function gtag(){{dataLayer.push(arguments);}}"
        "gtag('js', new Date());gtag('config', {});</script>",
        GTAG_URL.format(measurement_id),
        SafeString(json.dumps(measurement_id)),
    )
