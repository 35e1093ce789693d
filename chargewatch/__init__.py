"""chargewatch: EV charging sessions from charger telemetry, in stream."""

__version__ = "0.1.0"
