"""Admin of achievements (criterion checked per field) and of earned ones."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from portal.achievements.awarding import award_existing
from portal.achievements.criteria import describe
from portal.achievements.models import Achievement, EarnedAchievement


@admin.register(Achievement)
class AchievementAdmin(admin.ModelAdmin):
    """Define achievements and award them for data already stored."""

    list_display = ["name", "slug", "criterion_summary", "enabled", "earned_count"]
    list_filter = ["enabled", "criterion"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    raw_id_fields = ["course", "quiz"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "enabled"]}),
        (
            "Criterion",
            {
                "fields": ["criterion", "course", "quiz", "min_courses", "min_percent"],
                "description": "Fill in only what the chosen criterion uses; "
                "each field's help says which criteria use it.",
            },
        ),
    ]
    actions = ["award_retroactively"]

    @admin.display(description="criterion")
    def criterion_summary(self, achievement: Achievement) -> str:
        """Return the criterion as a sentence."""
        return describe(achievement)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Achievement]:
        """Count each achievement's learners in the list's one query."""
        return super().get_queryset(request).annotate(earned_total=Count("earned"))

    @admin.display(description="earned by", ordering="earned_total")
    def earned_count(self, achievement: Achievement) -> int:
        """Return how many learners earned it."""
        return achievement.earned_total

    @admin.action(
        description="Award to learners whose stored data already meets it",
        permissions=["change"],
    )
    def award_retroactively(
        self, request: HttpRequest, queryset: QuerySet[Achievement]
    ) -> None:
        """Award each selected, enabled achievement for data already stored."""
        for achievement in queryset.order_by("slug"):
            if not achievement.enabled:
                self.message_user(
                    request,
                    f"{achievement}: disabled; enable it to award it.",
                    messages.WARNING,
                )
                continue
            count = award_existing(achievement)
            noun = "learner" if count == 1 else "learners"
            self.message_user(
                request,
                f"{achievement}: awarded to {count} more {noun}.",
                messages.SUCCESS,
            )


@admin.register(EarnedAchievement)
class EarnedAchievementAdmin(admin.ModelAdmin):
    """Achievements learners earned, as the portal awarded them.

    Read-only; deleting one revokes it, and the learner earns it again on
    meeting the criterion again or at the next retroactive award.
    """

    list_display = ["achievement", "learner", "earned_at", "course", "source"]
    list_filter = ["achievement", "source"]
    search_fields = ["learner__username", "learner__email", "achievement__slug"]
    list_select_related = ["achievement", "learner", "course"]
    date_hierarchy = "earned_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Refuse adding by hand: awards come from what learners did."""
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        """Refuse changes: an award records what happened."""
        return False
