from django.db import models


class BaselineRow(models.Model):
    """One row per request to the insert baseline: the floor for any view that writes."""

    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=40, blank=True)

    def __str__(self) -> str:
        return f"baseline row {self.pk}"
