"""The fake GitHub answers the repository calls as GitHub documents them."""

from __future__ import annotations

import base64

import requests


def get(github, path, token, **headers):
    headers["Authorization"] = f"Bearer {token}"
    return requests.get(f"{github.api_url}{path}", headers=headers, timeout=5)


def test_a_readme_without_the_raw_media_type_is_base64_json(github, octocat, token):
    answer = get(github, "/repos/octocat/hello-world/readme", token)

    body = answer.json()
    assert (body["type"], body["encoding"], body["name"]) == (
        "file",
        "base64",
        "README.md",
    )
    assert all(len(line) <= 60 for line in body["content"].splitlines())
    assert base64.b64decode(body["content"]).decode() == (
        "# Hello World\n\nMy first repository.\n"
    )
    assert body["size"] == len(base64.b64decode(body["content"]))


def test_a_missing_readme_and_a_hidden_private_one_are_404(github, octocat):
    narrow = github.issue_token(octocat, ["read:user"])

    missing = get(github, "/repos/octocat/no-readme/readme", narrow)
    hidden = get(github, "/repos/octocat/secret-notes/readme", narrow)

    assert missing.status_code == hidden.status_code == 404
    assert missing.json()["message"] == "Not Found"


def test_repositories_are_listed_by_affiliation(github, octocat, token):
    friend = github.add_user(7, "friend")
    github.add_repo(friend, "shared", collaborators=[octocat])
    github.add_repo(friend, "theirs")
    github.add_org(9, "school", members=[octocat])
    github.add_org_repo("school", "syllabus")

    def names(affiliation):
        answer = get(github, f"/user/repos?affiliation={affiliation}", token)
        return [repo["full_name"] for repo in answer.json()]

    assert names("collaborator") == ["friend/shared"]
    assert names("organization_member") == ["school/syllabus"]
    assert len(names("owner,collaborator,organization_member")) == 5


def test_an_unknown_visibility_is_a_422(github, octocat, token):
    answer = get(github, "/user/repos?visibility=secret", token)

    assert answer.status_code == 422
    assert answer.json()["message"] == "Validation Failed"


def test_a_spent_quota_answers_403_with_nothing_remaining(github, octocat, token):
    github.exhaust_quota(octocat, reset_in=600)

    answer = get(github, "/user", token)

    assert answer.status_code == 403
    assert answer.headers["x-ratelimit-remaining"] == "0"
    assert int(answer.headers["x-ratelimit-reset"]) >= github.oauth.clock.now() + 599
    assert answer.json()["message"].startswith("API rate limit exceeded")


def test_the_secondary_limit_names_itself(github, octocat, token):
    github.trip_secondary_limit(1, retry_after=30, status=429)

    limited = get(github, "/user", token)
    after = get(github, "/user", token)

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "30"
    assert "secondary rate limit" in limited.json()["message"]
    assert after.status_code == 200
