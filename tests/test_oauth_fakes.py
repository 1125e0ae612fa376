"""The fake OAuth 2 servers answer as Canvas, GitHub, GitLab and Google document."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests import leakcheck
from tests.fakes.canvas import INVALID_TOKEN, CanvasOAuthFake
from tests.fakes.github import GitHubFake
from tests.fakes.gitlab import DOORKEEPER_MESSAGES, GitLabFake
from tests.fakes.google import YOUTUBE_READONLY, GoogleFake
from tests.fakes.oauth import ConsentPageError, pkce_challenge

CALLBACK = "http://127.0.0.1:9/accounts/callback/"
TIMEOUT = 5


def query_of(url: str) -> dict[str, str]:
    """Return the query parameters of ``url``, one value each."""
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def authorize_link(oauth, client, **params: str) -> str:
    """Return an authorize URL for ``client`` with a code request's parameters."""
    query = {
        "client_id": client.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        **params,
    }
    return f"{oauth.authorize_url}?{urlencode(query)}"


def new_verifier() -> str:
    """Return a fresh PKCE code verifier (43+ unreserved characters)."""
    return secrets.token_urlsafe(48)


def exchange(oauth, client, code: str, **fields: str) -> requests.Response:
    """Post the authorization_code grant with client credentials in the form."""
    headers = {"Accept": fields.pop("accept", "application/json")}
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        **fields,
    }
    return requests.post(oauth.token_url, data=data, headers=headers, timeout=TIMEOUT)


def refresh(oauth, client, refresh_token: str) -> requests.Response:
    """Post the refresh_token grant, authenticating with HTTP Basic."""
    return requests.post(
        oauth.token_url,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(client.client_id, client.client_secret),
        headers={"Accept": "application/json"},
        timeout=TIMEOUT,
    )


def sign_in(oauth, client, verifier: str | None = None, **params: str) -> str:
    """Approve an authorization (with S256 PKCE if ``verifier``); return the code."""
    if verifier is not None:
        params.update(
            code_challenge=pkce_challenge(verifier), code_challenge_method="S256"
        )
    callback = oauth.approve(authorize_link(oauth, client, state="st-1", **params))
    answer = query_of(callback)
    assert callback.startswith(CALLBACK)
    assert answer["state"] == "st-1"
    return answer["code"]


# --- Canvas --------------------------------------------------------------------


@pytest.fixture
def canvas() -> Iterator[CanvasOAuthFake]:
    """Serve the fixture school with OAuth sign-in for learners."""
    with CanvasOAuthFake.school(token=leakcheck.secret("canvas-admin-token")) as fake:
        yield fake


@pytest.fixture
def canvas_client(canvas):
    """Register the portal as a Canvas developer key."""
    return canvas.oauth.add_client([CALLBACK])


def canvas_get(canvas, path: str, token: str) -> requests.Response:
    """GET a Canvas API path with a bearer token."""
    return requests.get(
        canvas.url_for(path),
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )


def test_canvas_code_flow_with_pkce_acts_as_the_learner(canvas, canvas_client):
    course_ids = canvas.course_ids()
    learner = canvas.add_learner(
        4242, "Ada Lovelace", email="ada@example.edu", course_ids=course_ids[:2]
    )
    verifier = new_verifier()

    code = sign_in(
        canvas.oauth, canvas_client, verifier, scope="url:GET|/api/v1/courses"
    )
    answer = exchange(canvas.oauth, canvas_client, code, code_verifier=verifier)

    assert answer.status_code == 200
    body = answer.json()
    assert body["user"] == {"id": 4242, "name": "Ada Lovelace"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_token"] and body["access_token"].startswith("1~")
    assert canvas.oauth.authorizations[-1].scope == ["url:GET|/api/v1/courses"]
    token = body["access_token"]
    assert canvas.oauth.user_for(token) is learner
    me = canvas_get(canvas, "/api/v1/users/self", token).json()
    assert (me["id"], me["name"], me["short_name"]) == (
        4242,
        "Ada Lovelace",
        "Ada Lovelace",
    )
    assert me["sortable_name"] == "Lovelace, Ada"
    profile = canvas_get(canvas, "/api/v1/users/self/profile", token).json()
    assert profile["primary_email"] == "ada@example.edu"
    assert profile["login_id"] == "ada@example.edu"
    assert {"avatar_url", "short_name", "sortable_name"} <= profile.keys()
    mine = canvas_get(canvas, "/api/v1/courses?per_page=100", token).json()
    assert sorted(course["id"] for course in mine) == sorted(course_ids[:2])
    # The admin token keeps its old identity and sees every course.
    admin = canvas_get(canvas, "/api/v1/courses?per_page=100", canvas.token).json()
    assert {course["id"] for course in admin} > {course["id"] for course in mine}
    assert canvas_get(canvas, "/api/v1/users/self", canvas.token).json()["id"] == 1
    assert canvas.oauth.counters.exchanges == 1


def test_canvas_refuses_a_reused_code_and_a_wrong_verifier(canvas, canvas_client):
    canvas.add_learner(4242, "Ada Lovelace")
    verifier = new_verifier()
    code = sign_in(canvas.oauth, canvas_client, verifier)
    first = exchange(canvas.oauth, canvas_client, code, code_verifier=verifier)

    again = exchange(canvas.oauth, canvas_client, code, code_verifier=verifier)
    other = sign_in(canvas.oauth, canvas_client, new_verifier())
    wrong = exchange(canvas.oauth, canvas_client, other, code_verifier=verifier)

    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "authorization_code not found",
    }
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # RFC 6749 4.1.2: the replayed code takes back what it gave.
    assert canvas.oauth.user_for(first.json()["access_token"]) is None
    assert canvas.oauth.counters.exchanges == 1
    assert canvas.oauth.counters.failed_exchanges == 2


def test_canvas_wrong_redirect_uri_gets_an_error_not_a_redirect(canvas, canvas_client):
    link = authorize_link(
        canvas.oauth, canvas_client, redirect_uri="http://evil.test/cb", state="s"
    )

    page = requests.get(link, allow_redirects=False, timeout=TIMEOUT)

    assert page.status_code == 400
    assert "Location" not in page.headers
    assert (
        page.json()["error_description"]
        == "redirect_uri does not match client settings"
    )
    with pytest.raises(ConsentPageError):
        canvas.oauth.approve(link)


def test_canvas_token_request_with_another_redirect_uri_is_refused(
    canvas, canvas_client
):
    canvas.add_learner(4242, "Ada Lovelace")
    code = sign_in(canvas.oauth, canvas_client)

    answer = exchange(canvas.oauth, canvas_client, code, redirect_uri=CALLBACK + "x")

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


def test_canvas_refresh_reuses_the_refresh_token(canvas, canvas_client):
    canvas.add_learner(4242, "Ada Lovelace", course_ids=canvas.course_ids()[:1])
    code = sign_in(canvas.oauth, canvas_client)
    first = exchange(canvas.oauth, canvas_client, code).json()

    renewed = refresh(canvas.oauth, canvas_client, first["refresh_token"])
    again = refresh(canvas.oauth, canvas_client, first["refresh_token"])

    assert renewed.status_code == again.status_code == 200
    body = renewed.json()
    assert "refresh_token" not in body
    assert body["user"]["id"] == 4242 and body["expires_in"] == 3600
    assert canvas_get(canvas, "/api/v1/users/self", again.json()["access_token"]).ok
    # Canvas regenerates the token: the one before a refresh stops working.
    assert (
        canvas_get(canvas, "/api/v1/users/self", first["access_token"]).status_code
        == 401
    )
    assert canvas.oauth.counters.refreshes == 2
    assert canvas.oauth.counters.refreshes_by_token[first["refresh_token"]] == 2


def test_canvas_refused_refresh_answers_invalid_request(canvas, canvas_client):
    canvas.add_learner(4242, "Ada Lovelace")
    first = exchange(canvas.oauth, canvas_client, sign_in(canvas.oauth, canvas_client))
    canvas.oauth.refuse_refresh()

    refused = refresh(canvas.oauth, canvas_client, first.json()["refresh_token"])
    later = refresh(canvas.oauth, canvas_client, first.json()["refresh_token"])

    assert refused.status_code == 400
    assert refused.json() == {
        "error": "invalid_request",
        "error_description": "refresh_token not found",
    }
    assert later.status_code == 200
    assert canvas.oauth.counters.failed_refreshes == 1


def test_canvas_expired_learner_token_gets_canvas_401(canvas, canvas_client):
    canvas.add_learner(4242, "Ada Lovelace")
    body = exchange(
        canvas.oauth, canvas_client, sign_in(canvas.oauth, canvas_client)
    ).json()
    assert canvas_get(canvas, "/api/v1/users/self", body["access_token"]).ok

    canvas.oauth.clock.advance(3600)
    expired = canvas_get(canvas, "/api/v1/users/self", body["access_token"])

    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    assert expired.json() == INVALID_TOKEN
    assert canvas_get(canvas, "/api/v1/users/self", canvas.token).ok
    assert refresh(canvas.oauth, canvas_client, body["refresh_token"]).ok


def test_canvas_delete_token_revokes_it(canvas, canvas_client):
    canvas.add_learner(4242, "Ada Lovelace")
    body = exchange(
        canvas.oauth, canvas_client, sign_in(canvas.oauth, canvas_client)
    ).json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}

    deleted = requests.delete(canvas.oauth.token_url, headers=headers, timeout=TIMEOUT)
    admin = requests.delete(
        canvas.oauth.token_url,
        headers={"Authorization": f"Bearer {canvas.token}"},
        timeout=TIMEOUT,
    )

    assert (deleted.status_code, deleted.json()) == (200, {})
    assert (
        canvas_get(canvas, "/api/v1/users/self", body["access_token"]).status_code
        == 401
    )
    assert (
        refresh(canvas.oauth, canvas_client, body["refresh_token"]).status_code == 400
    )
    assert admin.status_code == 400
    assert canvas.oauth.counters.revocations == 1


def test_canvas_denied_consent_redirects_with_access_denied(canvas, canvas_client):
    canvas.add_learner(4242, "Ada Lovelace")

    callback = canvas.oauth.deny(
        authorize_link(canvas.oauth, canvas_client, state="st-9")
    )

    assert callback.startswith(CALLBACK)
    assert query_of(callback) == {"error": "access_denied", "state": "st-9"}


def test_canvas_plain_pkce_and_other_response_types_are_refused(canvas, canvas_client):
    canvas.add_learner(4242, "Ada Lovelace")
    plain = authorize_link(
        canvas.oauth, canvas_client, code_challenge=new_verifier(), state="p"
    )
    token = authorize_link(
        canvas.oauth, canvas_client, response_type="token", state="t"
    )

    assert query_of(canvas.oauth.approve(plain))["error"] == "invalid_request"
    assert query_of(canvas.oauth.approve(token)) == {
        "error": "unsupported_response_type",
        "error_description": "Only response_type=code is supported.",
        "state": "t",
    }


def test_codes_expire_after_ten_minutes(canvas, canvas_client):
    canvas.add_learner(4242, "Ada Lovelace")
    code = sign_in(canvas.oauth, canvas_client)

    canvas.oauth.clock.advance(601)
    answer = exchange(canvas.oauth, canvas_client, code)

    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_token_endpoint_failure_switches(canvas, canvas_client):
    canvas.add_learner(4242, "Ada Lovelace")
    code = sign_in(canvas.oauth, canvas_client)
    canvas.oauth.fail_token_endpoint()
    canvas.oauth.drop_token_requests()

    failed = exchange(canvas.oauth, canvas_client, code)
    with pytest.raises(requests.ConnectionError):
        exchange(canvas.oauth, canvas_client, code)
    recovered = exchange(canvas.oauth, canvas_client, code)

    assert failed.status_code == 500
    assert recovered.status_code == 200
    assert canvas.oauth.counters.token_requests == 3
    assert canvas.oauth.counters.exchanges == 1


def test_minted_values_are_registered_test_secrets(canvas, canvas_client):
    canvas.add_learner(4242, "Ada Lovelace")
    code = sign_in(canvas.oauth, canvas_client)
    body = exchange(canvas.oauth, canvas_client, code).json()

    minted = [
        canvas_client.client_secret,
        code,
        body["access_token"],
        body["refresh_token"],
    ]

    assert all(value in leakcheck.KNOWN_TEST_SECRETS for value in minted)


# --- GitHub --------------------------------------------------------------------


@pytest.fixture
def github() -> Iterator[GitHubFake]:
    """Serve a fake GitHub with one user, Octo."""
    with GitHubFake() as fake:
        fake.add_user(583231, "octocat", name="The Octocat", email="octo@example.com")
        yield fake


@pytest.fixture
def github_client(github):
    """Register the portal as an OAuth app."""
    return github.oauth.add_client([CALLBACK])


def github_get(github, path: str, token: str, api: str = "") -> requests.Response:
    """GET an API path with ``Authorization: token`` as allauth sends it."""
    return requests.get(
        f"{github.url}{api}{path}",
        headers={"Authorization": f"token {token}"},
        timeout=TIMEOUT,
    )


def github_token(github, client, scope: str = "read:user user:email") -> str:
    """Sign the signed-in user in with PKCE; return the access token."""
    verifier = new_verifier()
    code = sign_in(github.oauth, client, verifier, scope=scope)
    answer = exchange(github.oauth, client, code, code_verifier=verifier)
    return answer.json()["access_token"]


def test_github_code_flow_with_pkce_answers_form_then_json(github, github_client):
    verifier = new_verifier()
    code = sign_in(github.oauth, github_client, verifier, scope="read:user user:email")
    form = exchange(
        github.oauth, github_client, code, code_verifier=verifier, accept="*/*"
    )
    token = parse_qs(form.text)["access_token"][0]
    json_token = github_token(github, github_client)

    assert form.status_code == 200
    assert form.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert parse_qs(form.text) == {
        "access_token": [token],
        "scope": ["read:user,user:email"],
        "token_type": ["bearer"],
    }
    assert token.startswith("gho_") and json_token.startswith("gho_")
    for api in ("", "/api/v3"):
        user = github_get(github, "/user", json_token, api)
        assert user.json()["login"] == "octocat" and user.json()["id"] == 583231
    emails = github_get(github, "/user/emails", token).json()
    assert emails == [
        {
            "email": "octo@example.com",
            "primary": True,
            "verified": True,
            "visibility": "public",
        }
    ]
    # OAuth app tokens do not expire.
    github.oauth.clock.advance(10 * 365 * 86400)
    assert github_get(github, "/user", token).ok


def test_github_token_errors_come_with_http_200(github, github_client):
    verifier = new_verifier()
    code = sign_in(github.oauth, github_client, verifier)
    exchange(github.oauth, github_client, code, code_verifier=verifier)

    reused = exchange(github.oauth, github_client, code, code_verifier=verifier)
    as_form = exchange(
        github.oauth, github_client, code, code_verifier=verifier, accept="*/*"
    )
    bad_client = exchange(
        github.oauth, github_client, code, client_secret="wrong-secret-value"
    )

    assert reused.status_code == as_form.status_code == bad_client.status_code == 200
    assert reused.json()["error"] == "bad_verification_code"
    assert (
        reused.json()["error_description"] == "The code passed is incorrect or expired."
    )
    assert parse_qs(as_form.text)["error"] == ["bad_verification_code"]
    assert bad_client.json()["error"] == "incorrect_client_credentials"
    assert "access_token" not in reused.json()


def test_github_unverified_primary_email_gets_no_token(github, github_client):
    unverified = github.add_user(
        2, "newbie", email="new@example.com", email_verified=False
    )
    code = query_of(
        github.oauth.approve(
            authorize_link(github.oauth, github_client), user=unverified
        )
    )["code"]

    answer = exchange(github.oauth, github_client, code)

    assert answer.json()["error"] == "unverified_user_email"


def test_github_wrong_redirect_uri_goes_to_the_registered_callback(
    github, github_client
):
    link = authorize_link(
        github.oauth, github_client, redirect_uri="http://evil.test/cb", state="s-1"
    )

    page = requests.get(link, allow_redirects=False, timeout=TIMEOUT)

    assert page.status_code == 302
    location = page.headers["Location"]
    assert location.startswith(CALLBACK) and "evil.test" not in location
    assert query_of(location)["error"] == "redirect_uri_mismatch"
    assert query_of(location)["state"] == "s-1"


def test_github_refuses_plain_pkce(github, github_client):
    link = authorize_link(
        github.oauth, github_client, code_challenge=new_verifier(), state="p"
    )

    assert query_of(github.oauth.approve(link))["error"] == "invalid_request"


def test_github_user_repos_follow_link_pages(github, github_client):
    octo = github.oauth.users["583231"]
    github.add_repos(octo, 65)
    github.add_repo(octo, "secret-plans", private=True)
    token = github_token(github, github_client, scope="read:user")

    first = github_get(github, "/user/repos", token)
    last = requests.get(
        first.links["last"]["url"],
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    big = github_get(github, "/user/repos?per_page=500", token)

    assert len(first.json()) == 30
    assert first.json()[0]["full_name"] == "octocat/repo-001"
    assert query_of(first.links["next"]["url"]) == {"per_page": "30", "page": "2"}
    assert query_of(first.links["last"]["url"])["page"] == "3"
    assert "prev" not in first.links
    assert [repo["name"] for repo in last.json()][-1] == "repo-065"
    assert len(last.json()) == 5
    assert {"prev", "first"} <= last.links.keys() and "next" not in last.links
    assert len(big.json()) == 65 and "Link" not in big.headers
    assert int(first.headers["x-ratelimit-limit"]) == 5000
    used = int(big.headers["x-ratelimit-used"])
    assert int(big.headers["x-ratelimit-remaining"]) == 5000 - used
    assert used == int(first.headers["x-ratelimit-used"]) + 2


def test_github_emails_need_the_user_email_scope(github, github_client):
    token = github_token(github, github_client, scope="read:user")

    assert github_get(github, "/user/emails", token).status_code == 404


def test_github_revocation_endpoints(github, github_client):
    token = github_token(github, github_client)
    other = github_token(github, github_client)
    credentials = (github_client.client_id, github_client.client_secret)
    url = f"{github.url}/applications/{github_client.client_id}"

    def delete(what: str, body: object, auth=credentials) -> requests.Response:
        return requests.delete(
            f"{url}/{what}", data=json.dumps(body), auth=auth, timeout=TIMEOUT
        )

    assert (
        delete("token", {"access_token": token}, ("x", "wrong-secret")).status_code
        == 404
    )
    assert delete("token", {}).status_code == 422
    assert delete("token", {"access_token": token}).status_code == 204
    refused = github_get(github, "/user", token)
    assert refused.status_code == 401
    assert refused.json()["message"] == "Bad credentials"
    assert github_get(github, "/user", other).ok
    assert delete("token", {"access_token": token}).status_code == 404
    fresh = github_token(github, github_client)
    assert delete("grant", {"access_token": fresh}).status_code == 204
    assert github_get(github, "/user", other).status_code == 401
    assert github.oauth.counters.revocations == 2


def test_github_expire_tokens_makes_the_api_refuse(github, github_client):
    token = github_token(github, github_client)

    assert github.oauth.expire_tokens() == 1
    assert github_get(github, "/user", token).status_code == 401


# --- Google --------------------------------------------------------------------


@pytest.fixture
def google() -> Iterator[GoogleFake]:
    """Serve a fake Google with one account."""
    with GoogleFake() as fake:
        fake.add_user("1070001", "grace@example.com", name="Grace Hopper")
        yield fake


@pytest.fixture
def google_client(google):
    """Register the portal as a Google web client."""
    return google.oauth.add_client(
        [CALLBACK], client_id="portal.apps.googleusercontent.com"
    )


def google_sign_in(google, client, **params: str) -> dict:
    """Run the code flow with PKCE; return the token response."""
    verifier = new_verifier()
    code = sign_in(
        google.oauth, client, verifier, scope="openid email profile", **params
    )
    answer = exchange(google.oauth, client, code, code_verifier=verifier)
    assert answer.status_code == 200
    return answer.json()


def verify_id_token(google, id_token: str) -> dict:
    """Check the RS256 signature with the served certificate; return the claims."""
    header_b64, claims_b64, signature_b64 = id_token.split(".")
    header = json.loads(_unb64(header_b64))
    certs = requests.get(google.certs_url, timeout=TIMEOUT).json()
    certificate = x509.load_pem_x509_certificate(certs[header["kid"]].encode())
    certificate.public_key().verify(
        _unb64(signature_b64),
        f"{header_b64}.{claims_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    assert header["alg"] == "RS256"
    return json.loads(_unb64(claims_b64))


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_google_code_flow_with_pkce_and_a_signed_id_token(google, google_client):
    verifier = new_verifier()
    scope = f"openid email profile {YOUTUBE_READONLY}"
    code = sign_in(
        google.oauth,
        google_client,
        verifier,
        scope=scope,
        access_type="offline",
        prompt="consent",
        nonce="n-0S6",
    )
    body = exchange(google.oauth, google_client, code, code_verifier=verifier).json()

    assert body["expires_in"] == 3599 and body["token_type"] == "Bearer"
    assert body["refresh_token"].startswith("1//")
    assert YOUTUBE_READONLY in body["scope"].split()
    assert "https://www.googleapis.com/auth/userinfo.email" in body["scope"].split()
    claims = verify_id_token(google, body["id_token"])
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["aud"] == claims["azp"] == google_client.client_id
    assert claims["sub"] == "1070001" and claims["nonce"] == "n-0S6"
    assert claims["email"] == "grace@example.com" and claims["email_verified"] is True
    assert claims["exp"] - claims["iat"] == 3600
    info = requests.get(
        google.identity_url,
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=TIMEOUT,
    ).json()
    assert info["id"] == "1070001" and info["verified_email"] is True
    assert info["given_name"] == "Grace"


def test_google_gives_a_refresh_token_on_first_offline_consent_only(
    google, google_client
):
    online = google_sign_in(google, google_client)
    first = google_sign_in(google, google_client, access_type="offline")
    second = google_sign_in(google, google_client, access_type="offline")
    forced = google_sign_in(
        google, google_client, access_type="offline", prompt="consent"
    )

    assert "refresh_token" not in online
    assert "refresh_token" in first
    assert "refresh_token" not in second
    assert forced["refresh_token"] != first["refresh_token"]


def test_google_refresh_and_its_refusal(google, google_client):
    body = google_sign_in(google, google_client, access_type="offline")

    renewed = refresh(google.oauth, google_client, body["refresh_token"])
    google.oauth.refuse_refresh()
    refused = refresh(google.oauth, google_client, body["refresh_token"])

    assert renewed.status_code == 200
    assert "refresh_token" not in renewed.json()
    assert renewed.json()["access_token"] != body["access_token"]
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }


def test_google_reused_code_and_wrong_redirect_uri(google, google_client):
    verifier = new_verifier()
    code = sign_in(google.oauth, google_client, verifier, scope="openid")
    exchange(google.oauth, google_client, code, code_verifier=verifier)
    link = authorize_link(google.oauth, google_client, redirect_uri="http://evil.test/")
    unknown = authorize_link(google.oauth, google_client, client_id="nobody")

    reused = exchange(google.oauth, google_client, code, code_verifier=verifier)
    page = requests.get(link, allow_redirects=False, timeout=TIMEOUT)
    no_client = requests.get(unknown, allow_redirects=False, timeout=TIMEOUT)

    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert page.status_code == 400 and "Location" not in page.headers
    assert "redirect_uri_mismatch" in page.text
    assert no_client.status_code == 401 and "Location" not in no_client.headers


def test_google_expired_and_revoked_tokens_get_401(google, google_client):
    body = google_sign_in(google, google_client, access_type="offline")
    other = google_sign_in(google, google_client)

    def userinfo(token: str) -> requests.Response:
        return requests.get(
            google.identity_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )

    revoked = requests.post(
        google.revoke_url, data={"token": body["access_token"]}, timeout=TIMEOUT
    )
    again = requests.post(
        google.revoke_url, data={"token": body["access_token"]}, timeout=TIMEOUT
    )
    google.oauth.clock.advance(3599)

    assert revoked.status_code == 200
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"
    assert userinfo(body["access_token"]).status_code == 401
    # Revoking the access token took its refresh token along.
    assert (
        refresh(google.oauth, google_client, body["refresh_token"]).status_code == 400
    )
    expired = userinfo(other["access_token"])
    assert expired.status_code == 401
    assert expired.json()["error"]["status"] == "UNAUTHENTICATED"
    assert google.oauth.counters.revocations == 1


def test_google_allauth_settings_point_at_served_endpoints(google):
    settings = google.allauth_settings

    assert settings["ID_TOKEN_ISSUER"] == "https://accounts.google.com"
    assert all(
        settings[name].startswith(google.url)
        for name in ("AUTHORIZE_URL", "ACCESS_TOKEN_URL", "IDENTITY_URL", "CERTS_URL")
    )
    certs = requests.get(settings["CERTS_URL"], timeout=TIMEOUT).json()
    (pem,) = certs.values()
    assert pem.startswith("-----BEGIN CERTIFICATE-----")


# --- GitLab --------------------------------------------------------------------


@pytest.fixture
def gitlab() -> Iterator[GitLabFake]:
    """Serve a self-hosted GitLab under /gitlab with one user, Ada."""
    with GitLabFake(prefix="/gitlab") as fake:
        fake.add_user(4242, "ada", name="Ada Lovelace", email="ada@example.edu")
        yield fake


@pytest.fixture
def gitlab_client(gitlab):
    """Register the portal as a GitLab application with read_user and read_api."""
    return gitlab.oauth.add_client([CALLBACK])


def gitlab_sign_in(gitlab, client, **params: str) -> dict:
    """Run the code flow with S256 PKCE; return the token response."""
    verifier = new_verifier()
    params.setdefault("scope", "read_user read_api")
    code = sign_in(gitlab.oauth, client, verifier, **params)
    answer = exchange(gitlab.oauth, client, code, code_verifier=verifier)
    assert answer.status_code == 200, answer.text
    return answer.json()


def gitlab_user(gitlab, token: str) -> requests.Response:
    """GET /api/v4/user with the token as a Bearer header."""
    return requests.get(
        gitlab.user_url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )


def test_gitlab_code_flow_with_pkce_under_a_relative_url(gitlab, gitlab_client):
    body = gitlab_sign_in(gitlab, gitlab_client)

    assert gitlab.oauth.token_url == f"{gitlab.url}/gitlab/oauth/token"
    assert list(body) == [
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "created_at",
    ]
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200
    assert body["scope"] == "read_user read_api"
    assert isinstance(body["created_at"], int)
    assert len(body["access_token"]) == 64
    assert int(body["access_token"], 16) >= 0
    assert gitlab_client.client_secret.startswith("gloas-")
    user = gitlab_user(gitlab, body["access_token"]).json()
    assert (user["id"], user["username"], user["name"]) == (4242, "ada", "Ada Lovelace")
    assert user["email"] == "ada@example.edu" and user["state"] == "active"
    assert user["web_url"] == f"{gitlab.url}/gitlab/ada"
    # The token also goes as a query parameter (allauth sends it so).
    by_query = requests.get(
        gitlab.user_url, params={"access_token": body["access_token"]}, timeout=TIMEOUT
    )
    assert by_query.json()["id"] == 4242
    # Everything lives under the relative URL root, nothing at the host's root.
    root = requests.get(
        f"{gitlab.url}/api/v4/user",
        params={"access_token": body["access_token"]},
        timeout=TIMEOUT,
    )
    assert root.status_code == 404


def test_gitlab_at_the_root_takes_plain_pkce():
    with GitLabFake() as gitlab:
        gitlab.add_user(1, "root", email="root@example.edu")
        client = gitlab.oauth.add_client([CALLBACK])
        verifier = new_verifier()
        code = sign_in(
            gitlab.oauth,
            client,
            scope="read_user",
            code_challenge=verifier,
            code_challenge_method="plain",
        )
        answer = exchange(gitlab.oauth, client, code, code_verifier=verifier)

        assert gitlab.base_url == gitlab.url
        assert answer.status_code == 200
        assert gitlab_user(gitlab, answer.json()["access_token"]).json()["id"] == 1


def test_gitlab_token_errors_are_doorkeepers(gitlab, gitlab_client):
    verifier = new_verifier()
    code = sign_in(gitlab.oauth, gitlab_client, verifier, scope="read_user")

    wrong_verifier = exchange(
        gitlab.oauth, gitlab_client, code, code_verifier=new_verifier()
    )
    other_code = sign_in(gitlab.oauth, gitlab_client, verifier, scope="read_user")
    wrong_secret = exchange(
        gitlab.oauth,
        gitlab_client,
        other_code,
        code_verifier=verifier,
        client_secret="gloas-wrong",
    )
    reused = exchange(gitlab.oauth, gitlab_client, code, code_verifier=verifier)

    invalid_grant = {
        "error": "invalid_grant",
        "error_description": DOORKEEPER_MESSAGES["invalid_grant"],
    }
    assert wrong_verifier.status_code == 400
    assert wrong_verifier.json() == invalid_grant
    assert reused.status_code == 400 and reused.json() == invalid_grant
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    assert 'error="invalid_client"' in wrong_secret.headers["WWW-Authenticate"]


def test_gitlab_refresh_retires_the_old_pair(gitlab, gitlab_client):
    body = gitlab_sign_in(gitlab, gitlab_client)
    # "Refresh tokens may be used even after the access_token itself expires."
    gitlab.oauth.clock.advance(7200)
    expired = gitlab_user(gitlab, body["access_token"])

    renewed = refresh(gitlab.oauth, gitlab_client, body["refresh_token"])
    again = refresh(gitlab.oauth, gitlab_client, body["refresh_token"])

    assert expired.status_code == 401
    assert expired.json()["error"] == "invalid_token"
    assert "Token is expired" in expired.json()["error_description"]
    assert renewed.status_code == 200
    fresh = renewed.json()
    assert fresh["refresh_token"] != body["refresh_token"]
    assert fresh["expires_in"] == 7200
    assert gitlab_user(gitlab, fresh["access_token"]).status_code == 200
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    old = gitlab_user(gitlab, body["access_token"]).json()
    assert old["error_description"] == (
        "Token was revoked. You have to re-authorize from the user."
    )


def test_gitlab_api_refuses_unknown_tokens_and_missing_scopes(gitlab):
    client = gitlab.oauth.add_client([CALLBACK], scopes=["read_repository"])
    body = gitlab_sign_in(gitlab, client, scope="read_repository")

    unknown = gitlab_user(gitlab, "0" * 64)
    no_scope = gitlab_user(gitlab, body["access_token"])

    assert unknown.status_code == 401
    assert unknown.json() == {"message": "401 Unauthorized"}
    assert no_scope.status_code == 403
    assert no_scope.json()["error"] == "insufficient_scope"


def test_gitlab_revocation_needs_the_applications_credentials(gitlab, gitlab_client):
    body = gitlab_sign_in(gitlab, gitlab_client)
    other = gitlab.oauth.add_client([CALLBACK])

    def revoke(client, token: str, secret: str | None = None) -> requests.Response:
        fields = {
            "client_id": client.client_id,
            "client_secret": secret or client.client_secret,
            "token": token,
        }
        return requests.post(gitlab.oauth.revoke_url, data=fields, timeout=TIMEOUT)

    wrong_secret = revoke(gitlab_client, body["access_token"], "gloas-wrong")
    not_theirs = revoke(other, body["access_token"])
    gitlab.fail_revocation()
    outage = revoke(gitlab_client, body["access_token"])
    revoked = revoke(gitlab_client, body["access_token"])
    unknown = revoke(gitlab_client, "f" * 64)

    assert wrong_secret.status_code == 401
    assert not_theirs.status_code == 403
    assert not_theirs.json()["error"] == "unauthorized_client"
    assert outage.status_code == 500
    assert (revoked.status_code, revoked.json()) == (200, {})
    assert (unknown.status_code, unknown.json()) == (200, {})
    assert gitlab_user(gitlab, body["access_token"]).status_code == 401
    # The refresh token of the pair went with it.
    assert (
        refresh(gitlab.oauth, gitlab_client, body["refresh_token"]).status_code == 400
    )
    assert gitlab.oauth.counters.revocations == 1


def test_gitlab_authorize_refusals(gitlab, gitlab_client):
    def answer(**params: str) -> dict[str, str]:
        link = authorize_link(gitlab.oauth, gitlab_client, state="st-9", **params)
        page = requests.get(link, allow_redirects=False, timeout=TIMEOUT)
        assert page.status_code == 302 and page.headers["Location"].startswith(CALLBACK)
        return query_of(page.headers["Location"])

    unregistered_scope = answer(scope="api")
    bad_method = answer(
        scope="read_user", code_challenge="x" * 43, code_challenge_method="S512"
    )
    denied = query_of(
        gitlab.oauth.deny(authorize_link(gitlab.oauth, gitlab_client, state="s"))
    )

    assert unregistered_scope["error"] == "invalid_scope"
    assert unregistered_scope["state"] == "st-9"
    assert bad_method["error"] == "invalid_request"
    assert bad_method["error_description"] == (
        "The code challenge method must be plain or S256."
    )
    assert denied["error"] == "access_denied" and denied["state"] == "s"
    with pytest.raises(ConsentPageError) as unknown:
        gitlab.oauth.approve(
            authorize_link(gitlab.oauth, gitlab_client, client_id="nobody")
        )
    assert unknown.value.status == 401
    with pytest.raises(ConsentPageError) as mismatch:
        gitlab.oauth.approve(
            authorize_link(
                gitlab.oauth, gitlab_client, redirect_uri="http://evil.test/"
            )
        )
    assert (
        mismatch.value.status == 400 and "invalid_redirect_uri" in mismatch.value.body
    )
