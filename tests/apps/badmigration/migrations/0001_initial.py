from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("probetest migration failed")


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.RunPython(fail, migrations.RunPython.noop)]
