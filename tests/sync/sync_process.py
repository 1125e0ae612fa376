"""A separate process that syncs, so a test can kill it with SIGKILL.

Usage: ``python -m tests.sync.sync_process COMMAND [ARG]`` with the database
chosen by DATABASE_URL:

- ``setup BASE_URL``: create the ``school`` REST integration;
- ``sync``: sync every stream in this process (the one to be killed);
- ``resume``: reap runs whose lease expired, execute what is queued, and
  print the stored rows as JSON.
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
    from integrations.models import Credential, Integration, SyncRun, SyncStatus
    from integrations.sync.engine import execute_run
    from integrations.sync.runs import reap_expired_runs, run_sync_now
    from portal.learning.models import Assignment, Course, Enrollment, Progress
    from tests.providers.rest.helpers import TOKEN, school_endpoints

    command = sys.argv[1]
    if command == "setup":
        integration = Integration.objects.create(
            name="school",
            provider="rest",
            base_url=sys.argv[2],
            settings={
                "auth": "bearer",
                "pagination": "link",
                "endpoints": school_endpoints(),
            },
        )
        credential = Credential(integration=integration, key="token")
        credential.set_secret(TOKEN)
        credential.save()
    elif command == "sync":
        run_sync_now(Integration.objects.get(name="school"))
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
