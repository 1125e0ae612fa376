# LMS write-backs become deliveries of the event pipeline (0006 moves them,
# 0007 drops their old table); a delivery's coalescing key comes first.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0004_delivery_ordering_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="coalesce_key",
            field=models.CharField(
                blank=True,
                db_index=True,
                help_text="Deliveries of one key go out as one message, the newest: "
                "an LMS write-back ('progress:<id>') pushes the row's latest values "
                "once.",
                max_length=100,
            ),
        ),
    ]
