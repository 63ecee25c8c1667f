"""The simulated clock's history: each move is one row, and the newest row is the offset."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models


class ClockChange(models.Model):
    """One move of the simulated clock. lmo.clock.now() is real time plus the newest
    row's offset; the rows stay as the record of who moved time, when and how far."""

    at = models.DateTimeField(help_text="Real time of the change.")
    actor = models.CharField(max_length=150, help_text="A username or 'system'.")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    offset_before = models.DurationField(default=timedelta)
    offset = models.DurationField(help_text="Simulated time minus real time, from now on.")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]
        get_latest_by = "id"
        verbose_name = "clock"
        verbose_name_plural = "clock"
        permissions = [("move_clock", "Can move the simulated clock")]

    def __str__(self) -> str:
        return f"{self.note or 'clock change'} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        # The record of time moves is append-only, like license history.
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Clock history is append-only.")
        super().save(*args, **kwargs)
