"""The Celery application shared by the web process, workers and beat."""

import os
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def create_broker_folders(conf: Any) -> list[Path]:
    """Create the filesystem broker's folders; return them.

    Kombu's filesystem transport neither creates its message folders nor
    resolves its control folder against anything but the working directory,
    so every process (web, worker, beat) makes sure they exist before its
    first message.
    """
    if not str(conf.broker_url or "").startswith("filesystem"):
        return []
    options = conf.broker_transport_options or {}
    keys = ("data_folder_in", "data_folder_out", "control_folder")
    folders = [Path(options[key]) for key in keys if options.get(key)]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders


@app.on_after_configure.connect
def _create_broker_folders(sender: Celery, **kwargs: Any) -> None:
    create_broker_folders(sender.conf)


@setup_logging.connect
def _use_django_logging(**kwargs: Any) -> None:
    # Without a receiver here, workers and beat replace the root logger's
    # handlers with Celery's own and drop the secret-redacting filter of
    # settings.LOGGING. LOG_LEVEL, not --loglevel, sets the level.
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
