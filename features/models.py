"""Feature parameters per package, and each license's typed value for each of them."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from .choices import DEVELOPER_NAME_PATTERN, MAX_PARAMETERS_PER_PACKAGE, DataType, Direction
from .values import FeatureValue, coerce_feature_value

IMMUTABLE_PARAMETER_FIELDS = ("developer_name", "data_type", "direction", "package_id")


def _typed_columns_check(prefix: str, name: str) -> models.CheckConstraint:
    """Exactly the column matching the data type may hold a value: no free text, ever."""
    b, i, d = f"{prefix}boolean", f"{prefix}integer", f"{prefix}date"
    return models.CheckConstraint(
        condition=(
            Q(data_type=DataType.BOOLEAN, **{f"{i}__isnull": True, f"{d}__isnull": True})
            | Q(data_type=DataType.INTEGER, **{f"{b}__isnull": True, f"{d}__isnull": True})
            | Q(data_type=DataType.DATE, **{f"{b}__isnull": True, f"{i}__isnull": True})
        ),
        name=name,
    )


class TypedValueMixin:
    """Reads and writes the one typed column that matches `data_type`."""

    data_type: str

    def _read_typed(self, prefix: str) -> FeatureValue:
        return getattr(self, f"{prefix}{self.data_type}")

    def _write_typed(self, prefix: str, raw: object) -> None:
        value = coerce_feature_value(self.data_type, raw)
        for data_type in DataType.values:
            setattr(self, f"{prefix}{data_type}", value if data_type == self.data_type else None)


def typed_value(prefix: str) -> property:
    """A value stored in one of the `<prefix><data type>` columns: reading gives the column of
    the row's data type, writing coerces the value and clears the other columns."""

    def read(self: TypedValueMixin) -> FeatureValue:
        return self._read_typed(prefix)

    def write(self: TypedValueMixin, raw: object) -> None:
        self._write_typed(prefix, raw)

    return property(read, write)


class FeatureParameter(TypedValueMixin, models.Model):
    """A typed switch (LMO to subscriber) or reading (subscriber to LMO) of one package."""

    package = models.ForeignKey(
        "packages.Package", on_delete=models.PROTECT, related_name="feature_parameters"
    )
    developer_name = models.CharField(
        max_length=40,
        validators=[
            RegexValidator(
                DEVELOPER_NAME_PATTERN,
                "Letters, digits and underscores only, starting with a letter.",
            )
        ],
    )
    label = models.CharField(max_length=255)
    data_type = models.CharField(max_length=10, choices=DataType.choices)
    direction = models.CharField(max_length=20, choices=Direction.choices)
    default_boolean = models.BooleanField(null=True, blank=True)
    default_integer = models.IntegerField(null=True, blank=True)
    default_date = models.DateField(null=True, blank=True)
    introduced_in_version = models.ForeignKey(
        "packages.PackageVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="introduced_parameters",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["package", "developer_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["package", "developer_name"], name="feature_parameter_name_unique"
            ),
            models.CheckConstraint(
                condition=Q(data_type__in=DataType.values), name="feature_parameter_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(direction__in=Direction.values),
                name="feature_parameter_direction_valid",
            ),
            _typed_columns_check("default_", "feature_parameter_default_typed"),
        ]

    def __str__(self) -> str:
        return f"{self.developer_name} ({self.get_data_type_display()})"

    default_value = typed_value("default_")

    @property
    def is_lmo_to_subscriber(self) -> bool:
        return self.direction == Direction.LMO_TO_SUBSCRIBER

    def clean(self) -> None:
        super().clean()
        if self.pk is None and self.package_id is not None:
            count = FeatureParameter.objects.filter(package_id=self.package_id).count()
            if count >= MAX_PARAMETERS_PER_PACKAGE:
                raise ValidationError(
                    f"A package has at most {MAX_PARAMETERS_PER_PACKAGE} feature parameters."
                )
        if self.pk is not None:
            stored = (
                FeatureParameter.objects.filter(pk=self.pk)
                .values(*IMMUTABLE_PARAMETER_FIELDS)
                .first()
            )
            if stored:
                changed = {
                    field.removesuffix("_id"): "Cannot change once the parameter exists."
                    for field in IMMUTABLE_PARAMETER_FIELDS
                    if stored[field] != getattr(self, field)
                }
                if changed:
                    raise ValidationError(changed)
        if (
            self.introduced_in_version_id
            and self.introduced_in_version.package_id != self.package_id
        ):
            raise ValidationError(
                {"introduced_in_version": "The version belongs to another package."}
            )


class FeatureParameterValue(TypedValueMixin, models.Model):
    """One license's value of one parameter; created with the default with the license."""

    # Indexed by the (license, parameter) and (parameter, value_boolean) indexes below: three
    # rows per install, so every index left out is three insertions saved per install.
    license = models.ForeignKey(
        "licenses.License",
        on_delete=models.CASCADE,
        related_name="feature_values",
        db_index=False,
    )
    parameter = models.ForeignKey(
        FeatureParameter, on_delete=models.CASCADE, related_name="values", db_index=False
    )
    # Copied from the parameter (which can never change it) so the database can check types.
    data_type = models.CharField(max_length=10, choices=DataType.choices, editable=False)
    value_boolean = models.BooleanField(null=True, blank=True, editable=False)
    value_integer = models.IntegerField(null=True, blank=True, editable=False)
    value_date = models.DateField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    # The end of the FeatureOverride that set this value, if one is running: kept here so
    # the license check reads it in its one query.
    override_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["parameter__developer_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["license", "parameter"], name="feature_value_one_per_license_parameter"
            ),
            _typed_columns_check("value_", "feature_value_typed"),
        ]
        indexes = [
            models.Index(
                fields=["parameter", "value_boolean"], name="feature_value_param_bool_idx"
            ),
            # Mostly empty (values set by subscribers or defaults have no user): only the
            # rows with one are indexed, which is all that deleting a user looks up.
            models.Index(
                fields=["updated_by"],
                condition=models.Q(updated_by__isnull=False),
                name="feature_value_updated_by_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.parameter.developer_name}={self.value}"

    value = typed_value("value_")


class FeatureOverride(TypedValueMixin, models.Model):
    """An LMO-to-subscriber value set on one license until a time (a two-week pilot of a
    premium feature). When it lapses the sweep puts back the value it replaced, or the
    package default if the value it replaced was the default and the default has changed."""

    license = models.ForeignKey(
        "licenses.License", on_delete=models.CASCADE, related_name="feature_overrides"
    )
    parameter = models.ForeignKey(
        FeatureParameter, on_delete=models.CASCADE, related_name="overrides", db_index=False
    )
    data_type = models.CharField(max_length=10, choices=DataType.choices, editable=False)
    value_boolean = models.BooleanField(null=True, blank=True, editable=False)
    value_integer = models.IntegerField(null=True, blank=True, editable=False)
    value_date = models.DateField(null=True, blank=True, editable=False)
    previous_boolean = models.BooleanField(null=True, blank=True, editable=False)
    previous_integer = models.IntegerField(null=True, blank=True, editable=False)
    previous_date = models.DateField(null=True, blank=True, editable=False)
    previous_was_default = models.BooleanField(default=False, editable=False)
    until = models.DateTimeField()
    created_at = models.DateTimeField(editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    reason = models.TextField(blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    end_reason = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["license", "parameter"],
                condition=Q(ended_at__isnull=True),
                name="feature_override_one_running",
            ),
            _typed_columns_check("value_", "feature_override_value_typed"),
            _typed_columns_check("previous_", "feature_override_previous_typed"),
        ]
        indexes = [
            # The sweep's question: which running overrides have lapsed?
            models.Index(
                fields=["until"],
                condition=Q(ended_at__isnull=True),
                name="feature_override_due_idx",
            ),
            models.Index(fields=["parameter"], name="feature_override_parameter_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.parameter.developer_name}={self.value} until {self.until:%Y-%m-%d %H:%M}"

    value = typed_value("value_")

    previous_value = typed_value("previous_")

    @property
    def is_running(self) -> bool:
        return self.ended_at is None
