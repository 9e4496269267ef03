"""The operations centre's screen: ``GET /`` the page, ``/static/...`` its own files, and
``/vendor/...`` the browser libraries it loads, read from ``node_modules`` (``npm ci``).

Nothing here needs a key, and nothing here holds data: the page reads the public API with the
key its user enters, as any integrator's screen would. Only named files are served (no path
from the request reaches the file system), every asset comes from this app (a city's network
may have no internet), and none of these routes is in the OpenAPI document: they are the
page, not the API.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from features import CitybrainError, NotFoundError
from serving.deps import SettingsDep

router = APIRouter(include_in_schema=False)

PAGE_DIR = Path(__file__).resolve().parents[1] / "dashboard"
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"  # CITYBRAIN_NODE_MODULES

# the page's own files are the HTML, scripts, styles and icon of its folder, nothing else
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}

# what the page loads from node_modules, by the name it asks for (package-lock.json pins the
# versions). fetch-event-source's ES modules import './fetch' and './parse' without an
# extension, so those names are served as they are asked for.
_FES = "@microsoft/fetch-event-source/lib/esm"
VENDOR = {
    "echarts.min.js": "echarts/dist/echarts.min.js",
    "fetch-event-source/index.js": f"{_FES}/index.js",
    "fetch-event-source/fetch": f"{_FES}/fetch.js",
    "fetch-event-source/parse": f"{_FES}/parse.js",
}

# the page and its files change with the code: a browser revalidates them on every load
_NO_CACHE = {"Cache-Control": "no-cache"}


class AssetsMissingError(CitybrainError):
    """The page's browser libraries are not installed next to the code."""

    http_status = 503


def _file(path: Path) -> FileResponse:
    media_type = _TYPES.get(path.suffix, "text/javascript")  # the libraries' extensionless names
    return FileResponse(path, media_type=media_type, headers=_NO_CACHE)


@router.get("/")
def page() -> FileResponse:
    """The screen: map, panels per domain, live warnings and the scenario panel."""
    return _file(PAGE_DIR / "index.html")


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """One of the page's own scripts, styles or strings."""
    path = PAGE_DIR / name  # one path segment: the route's {name} holds no slash
    if name.startswith(".") or path.suffix not in _TYPES or not path.is_file():
        raise NotFoundError(f"the dashboard has no file {name[:60]!r}")
    return _file(path)


@router.get("/vendor/{name:path}")
def vendor(name: str, settings: SettingsDep) -> FileResponse:
    """A browser library from ``node_modules``; 503 saying what to run when it is absent."""
    if name not in VENDOR:
        raise NotFoundError(f"the dashboard loads no library {name[:60]!r}")
    root = settings.node_modules or NODE_MODULES
    path = root / VENDOR[name]
    if not path.is_file():
        raise AssetsMissingError(
            f"the dashboard's browser libraries are not installed ({VENDOR[name]} is missing "
            f"under {root}): run `npm ci` in the project's folder (scripts/install does it), "
            "or point CITYBRAIN_NODE_MODULES at where it ran"
        )
    return _file(path)
