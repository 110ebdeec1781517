"""Reads of customers reused across apps."""

from django.db.models import QuerySet, Value
from django.db.models.functions import Lower


def matching_email(queryset: QuerySet, email: str, *, field: str = "email") -> QuerySet:
    """Rows whose `field` (a path to a customer email) equals `email` ignoring case.

    Written as LOWER(email) = LOWER(%s), the expression of the unique index
    `customer_email_ci_unique`, so PostgreSQL finds the customer by index; `email__iexact`
    compiles to UPPER(…) = UPPER(…), which no index serves: a scan of every customer per capture.
    """
    return queryset.alias(_email_ci=Lower(field)).filter(_email_ci=Lower(Value(email)))
