from django.db import models


class Item(models.Model):
    """A row in SQLite, so /items shows the database works after `migrate`."""

    name = models.CharField(max_length=100)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name
