"""The Courses list's action "Create Slack channels for the selected courses".

It runs the code path of the ``slack_channel`` command
(:func:`~integrations.providers.slack.channels.create_course_channel`) for
each selected course, after a confirmation page that shows the channel name
each course gets, asks which Slack bot integration to use when there are
several, and whether the channels are private. The calls run in the request,
so the admin reads each course's outcome at once: at most
:data:`MAX_COURSES` courses a time keeps the request short at Slack's Tier 2
limit for conversations.create (20 a minute) and the sink's local limit of
one request a second. docs/providers/slack.md describes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.timezone import localtime

from integrations import errors
from integrations.models import Integration
from integrations.providers.slack.channels import (
    InvalidChannelName,
    channel_name,
    create_course_channel,
)

if TYPE_CHECKING:
    from portal.learning.models import Course

#: Courses one action may create channels for.
MAX_COURSES = 10
#: Who may use a Slack bot integration's token from the admin.
PERMISSION = "integrations.change_integration"
TEMPLATE = "admin/slack/create_channels.html"


class ChannelForm(forms.Form):
    """The confirmation page's choices: the bot integration and privacy."""

    integration = forms.ModelChoiceField(
        queryset=Integration.objects.none(),
        empty_label=None,
        label="Slack bot integration",
        help_text="The channels are created with this integration's bot token.",
    )
    private = forms.BooleanField(
        required=False,
        label="Private channels",
        help_text="Needs the groups:write scope; public channels need channels:manage.",
    )

    def __init__(self, *args: Any, bots: QuerySet, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["integration"].queryset = bots


@dataclass(frozen=True)
class Planned:
    """A selected course and the channel name its title becomes."""

    course: Course
    name: str
    problem: str


def slack_bots() -> QuerySet:
    """Return the enabled Slack bot-token integrations, by name."""
    return Integration.objects.filter(provider="slack", enabled=True).order_by("name")


def plan(courses: list[Course]) -> list[Planned]:
    """Return each course with its channel name, or why it cannot have one."""
    planned = []
    for course in courses:
        try:
            planned.append(Planned(course, channel_name(course.title), ""))
        except InvalidChannelName as error:
            planned.append(Planned(course, "", str(error)))
    return planned


@admin.action(
    description="Create Slack channels for the selected courses",
    permissions=["view"],
)
def create_slack_channels(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> TemplateResponse | None:
    """Confirm, then create (or find) a Slack channel per selected course."""
    if not request.user.has_perm(PERMISSION):
        modeladmin.message_user(
            request,
            "Creating Slack channels uses a Slack integration's bot token: it "
            "needs the permission to change integrations.",
            messages.ERROR,
        )
        return None
    bots = slack_bots()
    if not bots.exists():
        modeladmin.message_user(
            request,
            "No enabled Slack bot integration: add one under Integrations with "
            "provider 'Slack (bot token)' and its bot_token, then try again.",
            messages.ERROR,
        )
        return None
    courses = list(queryset.order_by("title", "pk"))
    if len(courses) > MAX_COURSES:
        modeladmin.message_user(
            request,
            f"Select at most {MAX_COURSES} courses at a time ({len(courses)} "
            "selected): Slack allows about 20 new channels a minute.",
            messages.ERROR,
        )
        return None

    form = ChannelForm(request.POST if "post" in request.POST else None, bots=bots)
    if not form.is_valid():
        return _confirmation(modeladmin, request, courses, form)
    run(
        modeladmin,
        request,
        form.cleaned_data["integration"],
        plan(courses),
        private=form.cleaned_data["private"],
    )
    return None


def _confirmation(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    courses: list[Course],
    form: ChannelForm,
) -> TemplateResponse:
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Create Slack channels",
        "opts": modeladmin.model._meta,
        "planned": plan(courses),
        "form": form,
        "single_bot": form.fields["integration"].queryset.count() == 1,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, TEMPLATE, context)


def run(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    integration: Integration,
    planned: list[Planned],
    *,
    private: bool,
) -> None:
    """Create each planned channel and tell the admin what happened to each."""
    done: list[str] = []
    for position, entry in enumerate(planned):
        if entry.problem:
            _say(modeladmin, request, messages.WARNING, entry.course, entry.problem)
            continue
        try:
            channel = create_course_channel(
                integration, entry.course.title, is_private=private
            )
        except errors.IntegrationError as error:
            if not _stops_all(error):
                _say(modeladmin, request, messages.ERROR, entry.course, error.message)
                continue
            rest = [e.course.title for e in planned[position:] if not e.problem]
            modeladmin.message_user(
                request,
                f"{_stopped(error)}. Not created: {', '.join(rest)}.",
                messages.ERROR,
            )
            break
        if channel.created:
            done.append(f"#{channel.name} ({entry.course.title})")
        else:
            text = (
                f"the channel #{channel.name} already exists in Slack "
                f"({channel.id}); nothing was created"
            )
            _say(modeladmin, request, messages.INFO, entry.course, text)

    if done:
        modeladmin.message_user(
            request,
            f"Created with {integration.name}: {', '.join(done)}.",
            messages.SUCCESS,
        )


def _stops_all(error: errors.IntegrationError) -> bool:
    """Tell whether an error would repeat for every other course too."""
    if isinstance(error, errors.ConfigurationError):
        # A taken name the bot cannot see belongs to that course only.
        return error.provider_code != "name_taken"
    return isinstance(
        error,
        errors.AuthenticationFailed | errors.PermissionDenied | errors.TransientError,
    )


def _stopped(error: errors.IntegrationError) -> str:
    """Say why the remaining courses were not tried, and when to try again."""
    text = error.message.rstrip(".")
    retry_at = getattr(error, "retry_at", None)
    if isinstance(error, errors.RateLimited) and retry_at is not None:
        text += f"; Slack asks to wait until {localtime(retry_at):%H:%M:%S}"
    return text


def _say(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    level: int,
    course: Course,
    text: str,
) -> None:
    modeladmin.message_user(request, f"{course.title}: {text}", level)
