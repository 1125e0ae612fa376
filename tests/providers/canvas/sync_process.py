"""A separate process that syncs Canvas, so a test can kill it with SIGKILL.

Usage: ``python -m tests.providers.canvas.sync_process COMMAND [ARG]`` with
the database chosen by DATABASE_URL:

- ``migrate``: create the tables;
- ``setup BASE_URL``: create the ``canvas-school`` integration (account 1,
  two items a page, so every listing spans several pages);
- ``sync [BASE_URL]``: point the integration at BASE_URL if given (and read
  ``CANVAS_TEST_CONCURRENCY`` courses at once when that is set), then sync
  every stream in this process (the one to be killed);
- ``resume``: reap runs whose lease expired, execute what is queued, and
  print the stored rows and the runs as JSON.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    """Run the command named on the command line."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from integrations.models import Credential, Integration, SyncRun, SyncStatus
    from integrations.sync.engine import execute_run
    from integrations.sync.runs import reap_expired_runs, run_sync_now
    from portal.learning.models import Assignment, Course, Enrollment, Progress

    command = sys.argv[1]
    if command == "migrate":
        call_command("migrate", verbosity=0)
    elif command == "setup":
        integration = Integration.objects.create(
            name="canvas-school",
            provider="canvas",
            base_url=sys.argv[2],
            settings={"account_id": 1, "per_page": 2},
        )
        credential = Credential(integration=integration, key="access_token")
        credential.set_secret(os.environ["CANVAS_TEST_TOKEN"])
        credential.save()
    elif command == "sync":
        integration = Integration.objects.get(name="canvas-school")
        if len(sys.argv) > 2:
            integration.base_url = sys.argv[2]
        if os.environ.get("CANVAS_TEST_CONCURRENCY"):
            concurrency = int(os.environ["CANVAS_TEST_CONCURRENCY"])
            integration.settings = {**integration.settings, "concurrency": concurrency}
        integration.save()
        run_sync_now(integration)
    elif command == "resume":
        reap_expired_runs()
        for run in SyncRun.objects.filter(status=SyncStatus.QUEUED).order_by("id"):
            execute_run(run.pk, owner="resumer")
        rows = {
            model.__name__: sorted(
                model.objects.filter(deleted_at__isnull=True).values_list(
                    "external_id", flat=True
                )
            )
            for model in (Course, Assignment, Enrollment, Progress)
        }
        runs = list(
            SyncRun.objects.order_by("id").values("stream", "status", "error_code")
        )
        print(json.dumps({"rows": rows, "runs": runs}))


if __name__ == "__main__":
    main()
