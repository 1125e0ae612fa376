# The old write-back queue's table, emptied into deliveries by 0006.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0006_write_backs_as_deliveries"),
    ]

    operations = [
        migrations.DeleteModel(name="WriteBack"),
    ]
