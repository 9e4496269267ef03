"""The HTTP routes, one module per resource, each exporting its ``router``.

A route depends on the components it uses (``serving.deps``), answers a response model
(``serving.schemas``), and leaves errors to the app's one ``CitybrainError`` handler,
declaring the statuses it can answer with ``error_responses``.
"""
