"""OCPI 2.2.1 pricing: a pure core (no Kafka, Faust, ClickHouse or clock).

Price a session on close::

    profile = SessionProfile(start, end, points, states)      # what happened
    periods = build_periods(profile, tariff, "Europe/Amsterdam")  # cut at every boundary
    result = price(periods, tariff)                             # exact, then rounded once
    # or, judging each period once: price_session(profile, tariff, "Europe/Amsterdam")
    cdr = to_cdr(result, header=header, last_updated=stopped_at)

Compile a tariff once per version with :class:`TariffCache` and pass the
:class:`CompiledTariff` to both calls on hot paths. Reprice another party's
CDR with :func:`price_cdr`; cancel a sent one with :func:`credit_cdr`.

Module map: ``profile`` (input), ``timeline`` (integer signals),
``localtime`` (DST-safe local boundaries), ``restrictions`` (the rules and
how ambiguities are settled), ``compiled`` (component lookup, validity,
cache), ``periods`` (cutting), ``calculator`` (step_size, FLAT, VAT,
min/max), ``money`` (exact units and the rounding policy), ``result``,
``cdrs`` (CDR out, credit, reprice), ``units`` (kWh/h/kW volumes).
"""

from streams.core.pricing.calculator import price, price_session
from streams.core.pricing.cdrs import credit_cdr, price_cdr, profile_from_cdr, reprice, to_cdr
from streams.core.pricing.compiled import (
    ActiveComponent,
    CompiledTariff,
    PeriodKind,
    Selection,
    TariffCache,
    compile_tariff,
    select_tariff,
    tariff_active_at,
)
from streams.core.pricing.errors import PricingError
from streams.core.pricing.money import DEFAULT_POLICY, Money, RoundingPolicy
from streams.core.pricing.periods import ChargingPeriod, build_periods, zone
from streams.core.pricing.profile import (
    Activity,
    MeterPoint,
    ReservationWindow,
    SessionProfile,
    StateSwitch,
    activity_of,
)
from streams.core.pricing.result import Costs, PricedPeriod, PriceResult, ReportedCosts

__all__ = [
    "DEFAULT_POLICY",
    "ActiveComponent",
    "Activity",
    "ChargingPeriod",
    "CompiledTariff",
    "Costs",
    "MeterPoint",
    "Money",
    "PeriodKind",
    "PriceResult",
    "PricedPeriod",
    "PricingError",
    "ReportedCosts",
    "ReservationWindow",
    "RoundingPolicy",
    "Selection",
    "SessionProfile",
    "StateSwitch",
    "TariffCache",
    "activity_of",
    "build_periods",
    "compile_tariff",
    "credit_cdr",
    "price",
    "price_cdr",
    "price_session",
    "profile_from_cdr",
    "reprice",
    "select_tariff",
    "tariff_active_at",
    "to_cdr",
    "zone",
]
