"""The simulated city: a deterministic, rainy, typhoon-prone river city modelled on Fuzhou.

``simulate`` returns the five canonical tables (areas, series, observations, events,
weather_forecasts); ``write_city`` writes them to a data folder through the canonical store;
``simulate_command`` is the ``citybrain simulate`` command. ``citysim`` imports only
``features`` (the canonical schemas and the store). Import from here, not from the modules.
"""

from citysim.city import simulate, write_city
from citysim.cli import simulate as simulate_command

__all__ = ["simulate", "simulate_command", "write_city"]
