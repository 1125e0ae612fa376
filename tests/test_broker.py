"""The embedded broker: messages appear whole to a consumer in another process."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from kombu import Connection

MESSAGES = 200


def connection_for(folder: Path) -> Connection:
    return Connection(
        "filesystem://localhost/",
        transport="portal.broker:Transport",
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        },
    )


def produce(folder: str, count: int) -> None:
    # Large payloads widen the window in which kombu's own transport shows a
    # consumer a created-but-unwritten file; with it this test fails.
    with connection_for(Path(folder)) as connection:
        queue = connection.SimpleQueue("stress")
        for number in range(count):
            queue.put({"number": number, "padding": "x" * 400_000})
        queue.close()


def test_consumer_never_sees_a_half_written_message(tmp_path):
    producer = multiprocessing.get_context("spawn").Process(
        target=produce, args=(str(tmp_path), MESSAGES)
    )
    producer.start()

    received: list[int] = []
    with connection_for(tmp_path) as connection:
        queue = connection.SimpleQueue("stress")
        while len(received) < MESSAGES:
            message = queue.get(block=True, timeout=60)
            received.append(message.payload["number"])
            message.ack()
        queue.close()
    producer.join(30)

    assert sorted(received) == list(range(MESSAGES))
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".tmp")]


def test_undecodable_message_is_skipped_not_fatal(tmp_path):
    with connection_for(tmp_path) as connection:
        queue = connection.SimpleQueue("torn")
        (tmp_path / "1_torn.torn.msg").write_bytes(b"")
        queue.put({"ok": True})

        message = queue.get(block=True, timeout=10)

        assert message.payload == {"ok": True}
        queue.close()
