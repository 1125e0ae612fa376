"""The fake YouTube Data API answers as YouTube documents (tests/fakes/youtube.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.fakes.youtube import KEY_INVALID_MESSAGE, YouTubeFake

TIMEOUT = 5


@pytest.fixture
def youtube() -> Iterator[YouTubeFake]:
    with YouTubeFake() as fake:
        yield fake


def get(youtube: YouTubeFake, method: str, **params: str) -> requests.Response:
    """Send a list call to the fake, with ``headers`` taken out of ``params``."""
    headers = params.pop("headers", None)
    return requests.get(
        f"{youtube.api_url}/{method}", params=params, headers=headers, timeout=TIMEOUT
    )


def playlist_with_videos(youtube: YouTubeFake, count: int) -> str:
    """Add a channel, a public playlist and ``count`` videos in it; return its id."""
    channel = youtube.add_channel("Lectures")
    playlist = youtube.add_playlist(channel, "Course")
    for number in range(count):
        video = youtube.add_video(channel, f"Lecture {number}")
        youtube.add_to_playlist(playlist["id"], video["id"])
    return playlist["id"]


def test_pagination_walks_next_page_token_over_120_items(youtube):
    key = youtube.add_api_key()
    playlist_id = playlist_with_videos(youtube, 120)
    params = {"part": "snippet", "playlistId": playlist_id, "maxResults": "50"}

    pages = []
    token = None
    while True:
        extra = {"pageToken": token} if token else {}
        body = get(youtube, "playlistItems", key=key, **params, **extra).json()
        pages.append(body)
        token = body.get("nextPageToken")
        if token is None:
            break

    assert [len(page["items"]) for page in pages] == [50, 50, 20]
    positions = [
        item["snippet"]["position"] for page in pages for item in page["items"]
    ]
    assert positions == list(range(120))
    assert pages[0]["kind"] == "youtube#playlistItemListResponse"
    assert pages[0]["pageInfo"] == {"totalResults": 120, "resultsPerPage": 50}
    assert "prevPageToken" not in pages[0]
    assert "prevPageToken" in pages[1]
    assert youtube.quota_used == 3


def test_max_results_defaults_to_five_and_refuses_over_fifty(youtube):
    key = youtube.add_api_key()
    playlist_id = playlist_with_videos(youtube, 7)

    default = get(youtube, "playlistItems", key=key, part="id", playlistId=playlist_id)
    too_many = get(
        youtube,
        "playlistItems",
        key=key,
        part="id",
        playlistId=playlist_id,
        maxResults="51",
    )

    assert len(default.json()["items"]) == 5
    assert too_many.status_code == 400
    assert too_many.json()["error"]["errors"][0]["reason"] == "invalidParameter"


def test_if_none_match_with_current_etag_gets_304_without_body(youtube):
    key = youtube.add_api_key()
    channel = youtube.add_channel()
    video = youtube.add_video(channel, "Intro", duration="PT1H2M3S", view_count=42)

    def fetch(**headers: str) -> requests.Response:
        parts = "snippet,contentDetails,statistics"
        return get(
            youtube, "videos", key=key, part=parts, id=video["id"], headers=headers
        )

    first = fetch()
    etag = first.json()["etag"]
    again = fetch(**{"If-None-Match": etag})
    youtube.update_video(video["id"], title="Intro, revised")
    changed = fetch(**{"If-None-Match": etag})

    item = first.json()["items"][0]
    assert item["contentDetails"]["duration"] == "PT1H2M3S"
    assert item["statistics"]["viewCount"] == "42"
    assert item["snippet"]["thumbnails"]["high"]["url"].endswith("/hqdefault.jpg")
    assert again.status_code == 304
    assert again.content == b""
    assert changed.status_code == 200
    assert changed.json()["etag"] != etag


def test_invalid_api_key_gets_400_in_google_error_shape(youtube):
    youtube.add_api_key()

    response = get(youtube, "videos", key="AIza-not-a-key", part="id", id="abc")

    error = response.json()["error"]
    assert response.status_code == 400
    assert error["code"] == 400
    assert error["message"] == KEY_INVALID_MESSAGE
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["errors"][0]["reason"] == "badRequest"
    assert youtube.quota_used == 0


def test_legacy_key_error_gives_key_invalid_reason():
    with YouTubeFake(legacy_key_error=True) as youtube:
        response = get(youtube, "videos", key="AIza-not-a-key", part="id", id="abc")

    assert response.status_code == 400
    assert response.json()["error"]["errors"][0] == {
        "message": "Bad Request",
        "domain": "usageLimits",
        "reason": "keyInvalid",
    }


def test_spent_quota_gets_403_quota_exceeded(youtube):
    key = youtube.add_api_key()
    youtube.set_quota(2)

    answers = [get(youtube, "videos", key=key, part="id", id="abc") for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 403]
    error = answers[2].json()["error"]
    assert error["errors"][0]["domain"] == "youtube.quota"
    assert error["errors"][0]["reason"] == "quotaExceeded"
    assert youtube.quota_used == 2


def test_mine_needs_a_bearer_token(youtube):
    key = youtube.add_api_key()
    channel = youtube.add_channel("Mine")
    token = youtube.add_token(channel)
    youtube.add_playlist(channel, "Public")
    youtube.add_playlist(channel, "Private", privacy_status="private")

    with_key = get(youtube, "playlists", key=key, part="snippet", mine="true")
    with_token = get(
        youtube,
        "playlists",
        part="snippet",
        mine="true",
        headers={"Authorization": f"Bearer {token}"},
    )
    bad_token = get(
        youtube,
        "playlists",
        part="snippet",
        mine="true",
        headers={"Authorization": "Bearer ya29.not-a-token"},
    )
    by_channel = get(youtube, "playlists", key=key, part="snippet", channelId=channel)

    assert with_key.status_code == 401
    assert with_key.json()["error"]["errors"][0]["reason"] == "required"
    titles = [item["snippet"]["title"] for item in with_token.json()["items"]]
    assert titles == ["Public", "Private"]
    assert bad_token.status_code == 401
    assert bad_token.json()["error"]["status"] == "UNAUTHENTICATED"
    assert [item["snippet"]["title"] for item in by_channel.json()["items"]] == [
        "Public"
    ]


def test_unknown_playlist_gets_404_playlist_not_found(youtube):
    key = youtube.add_api_key()

    response = get(
        youtube, "playlistItems", key=key, part="snippet", playlistId="PLnope"
    )

    assert response.status_code == 404
    assert response.json()["error"]["errors"][0]["reason"] == "playlistNotFound"


def test_bad_page_token_gets_400_invalid_page_token(youtube):
    key = youtube.add_api_key()
    playlist_id = playlist_with_videos(youtube, 1)

    response = get(
        youtube,
        "playlistItems",
        key=key,
        part="id",
        playlistId=playlist_id,
        pageToken="!!",
    )

    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["reason"] == "invalidPageToken"


def test_requests_are_logged_with_their_parameters(youtube):
    key = youtube.add_api_key()

    get(youtube, "videos", key=key, part="id", id="a,b")

    logged = youtube.requests_to("/youtube/v3/videos")
    assert [request.arg("id") for request in logged] == ["a,b"]


def test_the_list_etag_is_also_the_etag_header(youtube):
    key = youtube.add_api_key()
    playlist_id = playlist_with_videos(youtube, 2)

    first = get(youtube, "playlistItems", part="id", playlistId=playlist_id, key=key)
    again = get(
        youtube,
        "playlistItems",
        part="id",
        playlistId=playlist_id,
        key=key,
        headers={"If-None-Match": first.headers["ETag"]},
    )

    assert first.headers["ETag"] == f'"{first.json()["etag"]}"'
    assert again.status_code == 304
    assert again.headers["ETag"] == first.headers["ETag"]


def test_tokens_of_another_authority_are_accepted_through_a_resolver(youtube):
    channel = youtube.add_channel("Mine")
    youtube.add_playlist(channel, "Private notes", privacy_status="private")
    live = {"token-from-google": channel}
    youtube.accept_tokens_from(live.get)

    def mine(token: str) -> requests.Response:
        return get(
            youtube,
            "playlists",
            part="snippet",
            mine="true",
            headers={"Authorization": f"Bearer {token}"},
        )

    accepted = mine("token-from-google")
    del live["token-from-google"]  # expired or revoked at its issuer
    refused = mine("token-from-google")

    assert accepted.status_code == 200
    assert [item["snippet"]["title"] for item in accepted.json()["items"]] == [
        "Private notes"
    ]
    assert refused.status_code == 401
    assert refused.json()["error"]["errors"][0]["reason"] == "authError"
