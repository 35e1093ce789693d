"""The pricer's one error."""

from __future__ import annotations

from chargewatch.errors import InputError

__all__ = ["PricingError"]


class PricingError(InputError):
    """A session, tariff or CDR cannot be priced as given.

    Raised for inputs that are well-formed but unusable together: a tariff that
    is not valid at the session start, meter readings that go backwards, a
    profile with no state at its start, a CDR whose periods cannot be read.
    Never fatal for the pipeline: the session goes to the dead-letter topic
    with this message. Operator action: read the message, fix the tariff (or
    the producer), then reprice the session.
    """

    reason = "pricing_error"
