"""The simulated city: a deterministic, rainy, typhoon-prone river city modelled on Fuzhou.

``simulate`` returns the five canonical tables (areas, series, observations, events,
weather_forecasts); ``write_city`` writes them to a data folder through the canonical store.
"""

from citysim.city import simulate, write_city

__all__ = ["simulate", "write_city"]
