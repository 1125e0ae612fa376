"""The ``integrations`` command: list, apply, sync, health, test, rotate-keys.

Every subcommand prints a readable table by default and JSON with
``--json``. Exit codes: 0 success, 1 a failure (invalid file, failed sync,
unhealthy integration, failed test or rotation), 2 a usage error (unknown
integration or stream, unreadable file). Secrets are never printed.
docs/commands.md shows each subcommand's output.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from integrations import cli_output, declarative
from integrations.declarative_routes import RouteChange
from integrations.errors import IntegrationError
from integrations.models import HealthStatus, Integration, SyncStatus, latest_runs
from integrations.registry import UnknownProvider

EXIT_FAILURE = 1
EXIT_USAGE = 2


class Command(BaseCommand):
    """Manage integrations from the command line, for people, scripts and cron."""

    help = (
        "Manage integrations: list them, apply a declarative file, sync, check health, "
        "test connections, re-encrypt credentials."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the subcommands and their options."""
        subcommands = parser.add_subparsers(
            dest="subcommand", metavar="SUBCOMMAND", title="subcommands", required=True
        )

        listing = subcommands.add_parser(
            "list", help="List integrations and their state."
        )
        _add_json_flag(listing)

        apply = subcommands.add_parser(
            "apply", help="Create or update integrations from a YAML or JSON file."
        )
        apply.add_argument(
            "file", metavar="FILE", help="YAML or JSON file; '-' reads stdin."
        )
        apply.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what would change; write nothing.",
        )
        _add_json_flag(apply)

        sync = subcommands.add_parser(
            "sync", help="Sync one integration now, in this process."
        )
        sync.add_argument("name", metavar="NAME", help="Integration name.")
        sync.add_argument(
            "--full", action="store_true", help="Start a new pass instead of resuming."
        )
        sync.add_argument(
            "--stream",
            action="append",
            dest="streams",
            metavar="STREAM",
            help="Sync only this stream (repeatable); default: all streams.",
        )
        _add_json_flag(sync)

        health = subcommands.add_parser(
            "health", help="Check health; exit 1 if any integration is unhealthy."
        )
        health.add_argument(
            "name",
            metavar="NAME",
            nargs="?",
            help="Integration name; default: all enabled.",
        )
        _add_json_flag(health)

        test = subcommands.add_parser(
            "test", help="Test connection and auth, and preview a sync without writing."
        )
        test.add_argument(
            "name",
            metavar="NAME",
            nargs="?",
            help="Integration name; default: all enabled.",
        )
        test.add_argument(
            "--pages",
            type=_positive_int,
            default=1,
            help="Pages per stream to preview.",
        )
        _add_json_flag(test)

        rotate = subcommands.add_parser(
            "rotate-keys",
            help="Re-encrypt every credential with the first encryption key.",
        )
        rotate.add_argument(
            "--batch-size",
            type=_positive_int,
            default=500,
            help="Rows per transaction.",
        )
        _add_json_flag(rotate)

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        """Run the chosen subcommand."""
        handlers = {
            "list": self.handle_list,
            "apply": self.handle_apply,
            "sync": self.handle_sync,
            "health": self.handle_health,
            "test": self.handle_test,
            "rotate-keys": self.handle_rotate_keys,
        }
        handlers[subcommand](options)

    # -- list -------------------------------------------------------------

    def handle_list(self, options: dict[str, Any]) -> None:
        """Print every integration with its health and last sync."""
        integrations = list(
            Integration.objects.order_by("name").prefetch_related("credentials")
        )
        last_runs = latest_runs(integrations)

        if options["json"]:
            data = [_integration_dict(i, last_runs.get(i.pk)) for i in integrations]
            self.stdout.write(cli_output.to_json({"integrations": data}))
            return
        if not integrations:
            self.stdout.write(
                "No integrations configured. Add them with 'integrations apply FILE' "
                "or in the admin."
            )
            return
        rows = []
        for integration in integrations:
            run = last_runs.get(integration.pk)
            last_sync = (
                f"{run.status} {cli_output.format_timestamp(run.created_at)}"
                if run
                else ""
            )
            rows.append(
                [
                    integration.name,
                    integration.provider,
                    integration.enabled,
                    integration.schedule,
                    integration.health_status,
                    last_sync,
                ]
            )
        headers = ["NAME", "PROVIDER", "ENABLED", "SCHEDULE", "HEALTH", "LAST SYNC"]
        self.stdout.write(cli_output.render_table(headers, rows))

    # -- apply ------------------------------------------------------------

    def handle_apply(self, options: dict[str, Any]) -> None:
        """Validate a declarative file and apply it (or show the plan)."""
        file_name = options["file"]
        dry_run = options["dry_run"]

        try:
            document = self._read_document(file_name)
            plan = declarative.apply_document(document, dry_run=dry_run)
        except declarative.DeclarativeFileError as error:
            if options["json"]:
                problems = [problem.as_dict() for problem in error.problems]
                self.stdout.write(
                    cli_output.to_json(
                        {"file": error.source, "ok": False, "errors": problems}
                    )
                )
            raise CommandError(str(error), returncode=EXIT_FAILURE) from error
        except DatabaseError as error:
            # A locked database, or a row another process changed meanwhile:
            # the transaction rolled back, so the file can simply be retried.
            raise CommandError(
                f"{file_name}: the changes could not be written "
                f"({error.__class__.__name__}: {error}); nothing was changed. "
                "Run the command again.",
                returncode=EXIT_FAILURE,
            ) from error

        if options["json"]:
            self.stdout.write(cli_output.to_json({"ok": True, **plan.as_dict()}))
            return
        self._write_plan(plan)

    def _read_document(self, file_name: str) -> declarative.SourceDocument:
        if file_name == "-":
            return declarative.parse_document(sys.stdin.read(), source="<stdin>")
        path = Path(file_name)
        if not path.is_file():
            raise CommandError(f"File not found: {file_name}", returncode=EXIT_USAGE)
        try:
            return declarative.load_document(path)
        except OSError as error:
            raise CommandError(
                f"Cannot read {file_name}: {error.strerror}", returncode=EXIT_USAGE
            ) from error

    def _write_plan(self, plan: declarative.ApplyPlan) -> None:
        if plan.applied:
            self.stdout.write(f"Applied {plan.source}:")
        else:
            self.stdout.write(f"Dry run of {plan.source}; nothing was written:")
        if not plan.changes:
            self.stdout.write("  The file lists no integrations.")
        for change in plan.changes:
            self.stdout.write(
                f"  {change.name}: {_describe_change(change, plan.applied)}"
            )
            for credential in change.credentials:
                self.stdout.write(
                    f"    {_describe_credential(credential, plan.applied)}"
                )

        for route in plan.routes:
            self.stdout.write(
                f"  route {route.name}: {_describe_route(route, plan.applied)}"
            )

        counts = plan.counts()
        summary = ", ".join(f"{counts[action]} {action}" for action in counts)
        if plan.routes:
            routes = plan.route_counts()
            summary += "; routes: " + ", ".join(
                f"{routes[action]} {action}" for action in routes
            )
        credentials = plan.credential_counts()
        written = [
            f"{credentials[action]} {action}"
            for action in (declarative.CREDENTIAL_SET, declarative.CREDENTIAL_CHANGED)
            if credentials[action]
        ]
        if written:
            summary += f"; credentials: {', '.join(written)}"
        if not plan.applied:
            summary = "Would be: " + summary
        self.stdout.write(summary + ".", self.style.SUCCESS)

    # -- sync -------------------------------------------------------------

    def handle_sync(self, options: dict[str, Any]) -> None:
        """Sync one integration in this process, showing progress per page."""
        from integrations.sync.runs import SyncInProgress, run_sync_now, stream_names

        integration = self._integration(options["name"])
        try:
            available = stream_names(integration)
        except (IntegrationError, UnknownProvider) as error:
            # The integration itself is broken (bad settings, provider gone).
            raise CommandError(
                f"Cannot sync {integration.name}: {error}", returncode=EXIT_FAILURE
            ) from error
        requested = options["streams"] or []
        unknown = [name for name in requested if name not in available]
        if unknown:
            raise CommandError(
                f"Integration '{integration.name}' has no stream {unknown[0]!r}; "
                f"streams: {', '.join(available) or 'none'}.",
                returncode=EXIT_USAGE,
            )
        names = [name for name in available if not requested or name in requested]

        progress = None
        if not options["json"]:
            kind = "full sync" if options["full"] else "sync"
            self.stdout.write(
                f"Starting {kind} of {integration.name}: {', '.join(names)}"
            )
            progress = cli_output.SyncProgress(
                self._write_raw, tty=self.stdout.isatty()
            )
        try:
            runs = run_sync_now(
                integration,
                streams=options["streams"],
                full=options["full"],
                progress=progress,
            )
        except SyncInProgress as error:
            raise CommandError(error.message, returncode=EXIT_FAILURE) from error
        except IntegrationError as error:
            raise CommandError(str(error), returncode=EXIT_FAILURE) from error
        finally:
            if progress is not None:
                progress.finish()

        unfinished = [run for run in runs if run.status != SyncStatus.SUCCEEDED]
        if options["json"]:
            data = {
                "integration": integration.name,
                "ok": not unfinished,
                "runs": [cli_output.run_as_dict(run) for run in runs],
            }
            self.stdout.write(cli_output.to_json(data))
        else:
            self._write_runs(runs)
        if unfinished:
            raise CommandError(
                _unfinished_message(integration, runs), returncode=EXIT_FAILURE
            )

    def _write_raw(self, text: str) -> None:
        self.stdout.write(text, ending="")
        self.stdout.flush()

    def _write_runs(self, runs: list) -> None:
        headers = [
            "STREAM",
            "STATUS",
            "PAGES",
            "FETCHED",
            "CREATED",
            "UPDATED",
            "UNCHANGED",
            "DELETED",
            "FAILED",
            "DURATION",
        ]
        rows = [
            [
                run.stream,
                run.status,
                run.pages,
                run.fetched,
                run.created,
                run.updated,
                run.unchanged,
                run.deleted,
                run.failed,
                run.duration,
            ]
            for run in runs
        ]
        self.stdout.write(cli_output.render_table(headers, rows))
        for run in runs:
            if run.error_summary:
                self.stdout.write(
                    f"{run.stream}: {run.error_summary}", self.style.ERROR
                )

    # -- health -----------------------------------------------------------

    def handle_health(self, options: dict[str, Any]) -> None:
        """Check health now; exit 1 if any integration is unhealthy."""
        from integrations.health import check_health

        integrations, skipped = self._selected(options["name"])
        results = [
            (integration, check_health(integration)) for integration in integrations
        ]
        unhealthy = [
            i.name for i, result in results if result.status == HealthStatus.UNHEALTHY
        ]

        if options["json"]:
            data = {
                "ok": not unhealthy,
                "results": [
                    {
                        "name": integration.name,
                        "provider": integration.provider,
                        "status": result.status,
                        "latency_ms": result.latency_ms,
                        "error": result.error,
                        "checked_at": result.checked_at,
                    }
                    for integration, result in results
                ],
                "skipped": skipped,
            }
            self.stdout.write(cli_output.to_json(data))
        else:
            if not results:
                self.stdout.write("No enabled integrations to check.")
            else:
                rows = [
                    [
                        integration.name,
                        result.status,
                        f"{result.latency_ms}ms"
                        if result.latency_ms is not None
                        else "",
                        result.error,
                    ]
                    for integration, result in results
                ]
                headers = ["NAME", "STATUS", "LATENCY", "ERROR"]
                self.stdout.write(cli_output.render_table(headers, rows))
            self._write_skipped(skipped)
        if unhealthy:
            raise CommandError(
                f"{len(unhealthy)} integration(s) unhealthy: {', '.join(unhealthy)}.",
                returncode=EXIT_FAILURE,
            )

    # -- test -------------------------------------------------------------

    def handle_test(self, options: dict[str, Any]) -> None:
        """Test connection and auth, and preview the first pages of each stream."""
        from integrations.health import test_connection

        integrations, skipped = self._selected(options["name"])
        reports = [test_connection(i, pages=options["pages"]) for i in integrations]
        failed = [report.integration for report in reports if not report.ok]

        if options["json"]:
            data = {
                "ok": not failed,
                "results": [report.as_dict() for report in reports],
                "skipped": skipped,
            }
            self.stdout.write(cli_output.to_json(data))
        else:
            if not reports:
                self.stdout.write("No enabled integrations to test.")
            for report in reports:
                self._write_test_report(report)
            self._write_skipped(skipped)
        if failed:
            raise CommandError(
                f"{len(failed)} integration(s) failed the test: {', '.join(failed)}.",
                returncode=EXIT_FAILURE,
            )

    def _write_test_report(self, report: Any) -> None:
        health = report.health
        latency = f" in {health.latency_ms}ms" if health.latency_ms is not None else ""
        verdict = "OK" if report.ok else "FAILED"
        style = self.style.SUCCESS if report.ok else self.style.ERROR
        self.stdout.write(
            f"{report.integration}: {verdict} ({health.status}{latency})", style
        )
        if health.error:
            self.stdout.write(f"  {health.error}")
        if not report.streams:
            return
        headers = [
            "STREAM",
            "FETCHED",
            "WOULD CREATE",
            "WOULD UPDATE",
            "UNCHANGED",
            "WOULD DELETE",
            "ERROR",
        ]
        rows = [
            [
                preview.stream,
                preview.fetched,
                preview.would_create,
                preview.would_update,
                preview.unchanged,
                preview.would_delete,
                preview.error,
            ]
            for preview in report.streams
        ]
        table = cli_output.render_table(headers, rows)
        self.stdout.write("\n".join("  " + line for line in table.splitlines()))

    # -- rotate-keys ------------------------------------------------------

    def handle_rotate_keys(self, options: dict[str, Any]) -> None:
        """Re-encrypt every stored secret with the first FIELD_ENCRYPTION_KEYS key."""
        from integrations.keyrotation import rotate_keys

        progress = None
        if not options["json"]:

            def progress(label: str, done: int) -> None:
                self.stdout.write(f"{label}: {done} row(s) checked")

        report = rotate_keys(batch_size=options["batch_size"], progress=progress)

        if options["json"]:
            self.stdout.write(
                cli_output.to_json({"ok": not report.failed, **report.as_dict()})
            )
        else:
            self.stdout.write(
                f"Re-encrypted {report.rotated} secret(s) with the first key; "
                f"{report.already_current} already used it."
            )
            for item in report.failed:
                self.stdout.write(f"  {item}", self.style.ERROR)
        if report.failed:
            raise CommandError(
                f"{len(report.failed)} secret(s) could not be decrypted with any key in "
                "FIELD_ENCRYPTION_KEYS; restore the old key or enter those secrets again.",
                returncode=EXIT_FAILURE,
            )

    # -- helpers ----------------------------------------------------------

    def _integration(self, name: str) -> Integration:
        integration = Integration.objects.filter(name=name).first()
        if integration is None:
            known = ", ".join(
                Integration.objects.order_by("name").values_list("name", flat=True)
            )
            raise CommandError(
                f"Unknown integration {name!r}; known integrations: {known or 'none'}.",
                returncode=EXIT_USAGE,
            )
        return integration

    def _selected(self, name: str | None) -> tuple[list[Integration], list[str]]:
        """Return the named integration, or all enabled ones and the skipped names."""
        if name:
            return [self._integration(name)], []
        integrations = list(Integration.objects.order_by("name"))
        enabled = [integration for integration in integrations if integration.enabled]
        skipped = [
            integration.name for integration in integrations if not integration.enabled
        ]
        return enabled, skipped

    def _write_skipped(self, skipped: list[str]) -> None:
        if skipped:
            self.stdout.write(f"Skipped (disabled): {', '.join(skipped)}")


def _add_json_flag(parser: CommandParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="Print JSON instead of a table."
    )


def _positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _unfinished_message(integration: Integration, runs: list) -> str:
    failed = [run.stream for run in runs if run.status not in _DONE_OR_WAITING]
    waiting = [run.stream for run in runs if run.status == SyncStatus.QUEUED]
    parts = []
    if failed:
        parts.append(
            f"failed for {len(failed)} of {len(runs)} stream(s): {', '.join(failed)}"
        )
    if waiting:
        # A rate-limited run is queued with next_attempt_at; the sweeper
        # hands it to a worker when the service allows it.
        parts.append(
            f"was rate limited for {', '.join(waiting)}, which a worker resumes later"
        )
    return f"Sync of {integration.name} " + "; ".join(parts) + "."


_DONE_OR_WAITING = (SyncStatus.SUCCEEDED, SyncStatus.QUEUED)


def _describe_change(change: declarative.IntegrationChange, applied: bool) -> str:
    if change.action == declarative.UNCHANGED:
        return "unchanged"
    if change.action == declarative.CREATED:
        verb = "created" if applied else "would be created"
        return f"{verb} (provider {change.instance.provider})"
    verb = "updated" if applied else "would be updated"
    return f"{verb}: {', '.join(change.changed_fields)}"


def _describe_route(route: RouteChange, applied: bool) -> str:
    if route.action == declarative.UNCHANGED:
        return "unchanged"
    if route.action == declarative.CREATED:
        verb = "created" if applied else "would be created"
        return f"{verb} (to {route.sink.name})"
    verb = "updated" if applied else "would be updated"
    return f"{verb}: {', '.join(route.changed_fields)}"


def _describe_credential(
    credential: declarative.CredentialChange, applied: bool
) -> str:
    if applied or credential.action == declarative.CREDENTIAL_UNCHANGED:
        return credential.describe()
    verb = {
        declarative.CREDENTIAL_SET: "would be set",
        declarative.CREDENTIAL_CHANGED: "would change",
    }
    return f"credential {credential.key} {verb[credential.action]}"


def _integration_dict(integration: Integration, last_run: Any) -> dict[str, Any]:
    """Return an integration's configuration and state, without secrets."""
    rate_limit = None
    if integration.rate_limit_requests is not None:
        rate_limit = {
            "requests": integration.rate_limit_requests,
            "window": integration.rate_limit_window,
        }
    return {
        "name": integration.name,
        "provider": integration.provider,
        "base_url": integration.base_url,
        "enabled": integration.enabled,
        "schedule": integration.schedule,
        "settings": integration.settings,
        "timeouts": {
            "connect": integration.connect_timeout,
            "read": integration.read_timeout,
            "retry_budget": integration.retry_budget,
        },
        "rate_limit": rate_limit,
        "credentials": [
            {
                "key": credential.key,
                "kind": credential.kind,
                "set": bool(credential.value),
            }
            for credential in integration.credentials.all()
        ],
        "health": {
            "status": integration.health_status,
            "error": integration.health_error,
            "checked_at": integration.health_checked_at,
        },
        "last_sync": cli_output.run_as_dict(last_run) if last_run else None,
    }
