"""The change-detection hash is stable: rows stored by an earlier version stay valid."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from integrations.sync.upsert import record_hash

RECORD = {
    "external_id": "42",
    "title": "Ünïcode ☃",
    "due_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    "points": Decimal("10.500"),
    "nan": Decimal("NaN"),
    "tags": ("a", "b"),
    "nested": {"z": [1, 2.5, None, True], "a": {"when": datetime(2020, 1, 1)}},
}
#: The digest the portal has stored for RECORD since the first release; a
#: change here would make the next sync rewrite every row.
STORED_DIGEST = "a4df3c6083a3b2dadcfa5f52824892db444c9e67e8958751922ed22dbdbba934"


def test_digest_matches_the_one_earlier_versions_stored():
    assert record_hash(RECORD) == STORED_DIGEST


def test_key_order_and_decimal_scale_do_not_change_the_digest():
    reordered = dict(reversed(list(RECORD.items())))
    reordered["points"] = Decimal("10.5")

    assert record_hash(reordered) == STORED_DIGEST


def test_a_changed_value_changes_the_digest():
    assert record_hash({**RECORD, "title": "Other"}) != STORED_DIGEST


def test_a_value_outside_a_normalized_record_is_refused_by_name():
    with pytest.raises(TypeError, match="set is not part of a normalized record"):
        record_hash({"external_id": "1", "tags": {"a"}})
