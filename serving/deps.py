"""Typed dependency aliases: each route names the components it uses, not the whole service.

The lifespan builds the components once (:class:`Runtime`) and :func:`provide` puts them on
``app.state``; the getters here read them back. A route asking for ``LedgerDep`` says in its
signature that it touches the ledger and nothing else, and a new route copies the pattern
(``SessionDep = Annotated[Session, Depends(get_db)]`` in the FastAPI template).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.datastructures import State

from alerts import Dispatcher, Ledger, WarningEngine
from features import Store
from serving.clock import ServiceClock
from serving.ingest import Ingest
from serving.runtime import Runtime
from serving.scorers import Scorers
from serving.scoring import TaskScorer
from serving.settings import Settings
from serving.stream import WarningFeed
from serving.views import RiskViews


def provide(state: State, runtime: Runtime) -> None:
    """Put the running components where the getters below find them (the lifespan's job)."""
    state.settings = runtime.settings
    state.store = runtime.store
    state.ledger = runtime.ledger
    state.engine = runtime.engine
    state.scorers = runtime.scorers
    state.ingest = runtime.ingest
    state.guard = runtime.guard
    state.views = runtime.views
    state.dispatcher = runtime.dispatcher
    state.feed = runtime.feed
    state.links = runtime.links


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger


def get_engine(request: Request) -> WarningEngine:
    return request.app.state.engine


def get_scorers(request: Request) -> Scorers:
    return request.app.state.scorers


def get_ingest(request: Request) -> Ingest:
    return request.app.state.ingest


def get_views(request: Request) -> RiskViews:
    return request.app.state.views


def get_dispatcher(request: Request) -> Dispatcher:
    return request.app.state.dispatcher


def get_feed(request: Request) -> WarningFeed:
    return request.app.state.feed


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
EngineDep = Annotated[WarningEngine, Depends(get_engine)]
ScorersDep = Annotated[Scorers, Depends(get_scorers)]


def get_clock(scorers: ScorersDep) -> ServiceClock:
    """The service's clock (the data's time): people's changes are stamped by it, like the
    engine's, so a resolution and the quiet period after it are read on one clock."""
    return scorers.clock


ClockDep = Annotated[ServiceClock, Depends(get_clock)]
IngestDep = Annotated[Ingest, Depends(get_ingest)]
ViewsDep = Annotated[RiskViews, Depends(get_views)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
FeedDep = Annotated[WarningFeed, Depends(get_feed)]


DEFAULT_DOMAIN = "waterlogging"
DomainQuery = Annotated[str, Query(description="waterlogging, hotline or traffic")]


def get_scorer(domain: str, scorers: ScorersDep) -> TaskScorer:
    """The scorer of the ``{domain}`` in the path; 404 (``NotFoundError``) naming the served
    domains when nothing serves it.

    FastAPI lists a route's own parameters before its dependencies' ones, so a route that
    wants ``domain`` first in its OpenAPI parameters (as clients generated from it expect)
    declares ``domain: str`` itself too; both receive the same value.
    """
    return scorers.get(domain)


def get_queried_scorer(scorers: ScorersDep, domain: DomainQuery = DEFAULT_DOMAIN) -> TaskScorer:
    """The scorer of the ``?domain=`` query (waterlogging when absent); 404 as above."""
    return scorers.get(domain)


ScorerDep = Annotated[TaskScorer, Depends(get_scorer)]
QueriedScorerDep = Annotated[TaskScorer, Depends(get_queried_scorer)]
