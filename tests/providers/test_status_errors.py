"""Every mapper built on StatusErrors says what each status means and fixes."""

from __future__ import annotations

import pytest

from integrations.providers.github.client import GitHubErrors
from integrations.providers.gitlab.client import GitLabErrors
from integrations.providers.vimeo.client import VimeoErrors


@pytest.mark.parametrize("mapper", [GitHubErrors, GitLabErrors, VimeoErrors])
def test_each_service_names_itself_and_every_fix(mapper):
    texts = (mapper.forbidden, mapper.not_found, mapper.credential_fix)

    assert all(text.startswith(mapper.service) for text in texts)
    assert mapper(learner=True).auth_fix() == (
        f"{mapper.service} rejected the learner's token: it was revoked or has "
        f"expired; the learner must connect {mapper.service} again on their "
        "Connected accounts page"
    )
    assert mapper().auth_fix() == mapper.credential_fix
    assert "access_token credential" in mapper.credential_fix


@pytest.mark.parametrize("mapper", [GitHubErrors, GitLabErrors, VimeoErrors])
def test_mappers_compare_equal_so_clients_are_reused(mapper):
    assert mapper(learner=True) == mapper(learner=True)
    assert mapper() != mapper(learner=True)
    assert GitHubErrors() != GitLabErrors()
