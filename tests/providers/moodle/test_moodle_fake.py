"""The fake Moodle answers as Moodle is documented to (and as captured)."""

from __future__ import annotations

import pytest
import requests

from tests.fakes.moodle import MoodleFake, parse_php_params
from tests.providers.moodle.helpers import TOKEN, build_school, load_fixture


def ws(fake: MoodleFake, function: str | None, token: str | None = TOKEN, **form):
    """POST a web service call the way the portal does; return the parsed body."""
    query = {"moodlewsrestformat": "json"}
    if function is not None:
        query["wsfunction"] = function
    body = dict(form)
    if token is not None:
        body["wstoken"] = token
    response = requests.post(
        f"{fake.url}/webservice/rest/server.php", params=query, data=body, timeout=5
    )
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def fake():
    with build_school(MoodleFake(token=TOKEN)) as server:
        yield server


def keys_of(items: list[dict]) -> set[str]:
    return set().union(*(item.keys() for item in items))


def test_php_brackets_are_parsed_into_lists_and_structures():
    pairs = [
        ("options[ids][0]", "2"),
        ("options[ids][1]", "5"),
        ("grades[0][studentid]", "7"),
        ("grades[0][grade]", "1.5"),
        ("groupids[]", "3"),
        ("groupids[]", "4"),
        ("courseid", "9"),
    ]

    assert parse_php_params(pairs) == {
        "options": {"ids": ["2", "5"]},
        "grades": [{"studentid": "7", "grade": "1.5"}],
        "groupids": ["3", "4"],
        "courseid": "9",
    }


def test_course_list_includes_the_front_page_like_moodle(fake):
    courses = ws(fake, "core_course_get_courses")

    site = courses[0]
    assert (site["id"], site["format"], site["categoryid"]) == (1, "site", 0)
    assert keys_of(courses) == keys_of(load_fixture("courses.json"))
    chosen = ws(fake, "core_course_get_courses", **{"options[ids][0]": "22"})
    assert [course["id"] for course in chosen] == [22]


def test_payloads_have_the_captured_shapes(fake):
    site = ws(fake, "core_webservice_get_site_info")
    users = ws(fake, "core_enrol_get_enrolled_users", courseid="21")
    grades = ws(fake, "gradereport_user_get_grade_items", courseid="21")
    activities = ws(
        fake,
        "core_completion_get_activities_completion_status",
        courseid="21",
        userid="501",
    )
    completion = ws(
        fake,
        "core_completion_get_course_completion_status",
        courseid="21",
        userid="501",
    )

    assert site.keys() == load_fixture("site_info.json").keys()
    assert keys_of(users) == keys_of(load_fixture("enrolled_users.json"))
    captured_items = load_fixture("grade_items.json")["usergrades"][0]["gradeitems"]
    fake_items = grades["usergrades"][0]["gradeitems"]
    assert keys_of(fake_items) <= keys_of(captured_items)
    assert keys_of(activities["statuses"]) == keys_of(
        load_fixture("activities_completion_status.json")["statuses"]
    )
    assert completion.keys() == load_fixture("course_completion_status.json").keys()


def test_userfields_limit_the_user_details(fake):
    users = ws(
        fake,
        "core_enrol_get_enrolled_users",
        courseid="21",
        **{"options[0][name]": "userfields", "options[0][value]": "email"},
    )

    assert keys_of(users) == {"id", "email"}


def test_errors_are_http_200_bodies_with_exception_errorcode_message(fake):
    assert ws(fake, "core_webservice_get_site_info", token="wrong-token-000000") == (
        load_fixture("error_invalidtoken.json")
    )
    fake.functions.discard("core_course_get_courses")
    assert ws(fake, "core_course_get_courses") == load_fixture(
        "error_accessexception.json"
    )
    unknown = ws(fake, "core_no_such_function")
    assert unknown["errorcode"] == "invalidrecord"
    assert ws(fake, "core_enrol_get_enrolled_users", courseid="404")["errorcode"] == (
        "invalidrecord"
    )
    assert "debuginfo" not in unknown


def test_debug_mode_adds_debuginfo(fake):
    fake.debug = True

    body = ws(fake, "core_enrol_get_enrolled_users", courseid="abc")

    assert body["errorcode"] == "invalidparameter"
    assert "expected an integer" in body["debuginfo"]


def test_without_json_format_moodle_answers_xml(fake):
    response = requests.post(
        f"{fake.url}/webservice/rest/server.php",
        params={"wsfunction": "core_webservice_get_site_info"},
        data={"wstoken": TOKEN},
        timeout=5,
    )

    assert response.headers["Content-Type"].startswith("application/xml")


def test_token_in_the_query_string_is_accepted_as_moodle_merges_get_and_post(fake):
    query = {
        "wstoken": TOKEN,
        "wsfunction": "core_webservice_get_site_info",
        "moodlewsrestformat": "json",
    }
    response = requests.get(
        f"{fake.url}/webservice/rest/server.php", params=query, timeout=5
    )

    assert response.json()["sitename"] == "Fake Moodle"


def test_calls_are_counted_per_function(fake):
    ws(fake, "core_webservice_get_site_info")
    ws(fake, "core_course_get_courses")
    ws(fake, "core_course_get_courses")

    assert fake.calls() == 3
    assert fake.calls("core_course_get_courses") == 2
    assert fake.params_of("core_course_get_courses") == [{}, {}]


def test_course_completion_follows_the_criteria(fake):
    status = ws(
        fake,
        "core_completion_get_course_completion_status",
        courseid="21",
        userid="502",
    )["completionstatus"]

    assert status["completed"] is False
    assert [row["complete"] for row in status["completions"]] == [True, False]
    no_criteria = ws(
        fake,
        "core_completion_get_course_completion_status",
        courseid="22",
        userid="501",
    )
    assert no_criteria["errorcode"] == "nocriteriaset"
    teacher = ws(
        fake,
        "core_completion_get_course_completion_status",
        courseid="21",
        userid="610",
    )
    assert teacher["errorcode"] == "usernotenroled"
