"""The browser pages of the API, with their JavaScript and CSS served by the app itself.

FastAPI's Swagger UI and strawberry's GraphiQL load their assets from public CDNs, so on a
cluster without internet `/docs` stays blank and GraphiQL on "Loading...". Two maintained PyPI
packages bundle the assets: `fastapi-offline` (Swagger UI, mounted at DOCS_ASSETS) and
`graphene-django-graphiql-static` (GraphiQL, React and the explorer plugin as plain static files;
only its files are used, not Django). GraphiQL's page is `static/graphiql.html`.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from strawberry.fastapi import GraphQLRouter

DOCS_ASSETS = "/static-offline-docs"  # fastapi-offline's mount point
IDE_ASSETS = "/graphql-ide"
ASSET_PREFIXES = (f"{DOCS_ASSETS}/", f"{IDE_ASSETS}/")
GRAPHIQL_PACKAGE = "graphene_django_graphiql_static"


def create_app(**kwargs: Any) -> FastAPI:
    """A FastAPI app whose /docs (Swagger UI) uses bundled assets; no ReDoc."""
    return FastAPIOffline(redoc_url=None, static_url=DOCS_ASSETS, **kwargs)


def graphiql_assets() -> Path:
    """The folder of bundled GraphiQL files (found without importing the Django app)."""
    spec = importlib.util.find_spec(GRAPHIQL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{GRAPHIQL_PACKAGE} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static" / GRAPHIQL_PACKAGE


@functools.cache
def graphiql_page() -> str:
    template = (Path(__file__).parent / "static" / "graphiql.html").read_text(encoding="utf-8")
    return template.replace("__ASSETS__", IDE_ASSETS)


def mount_graphiql_assets(app: FastAPI) -> None:
    app.mount(IDE_ASSETS, StaticFiles(directory=graphiql_assets()), name="graphql-ide")


class OfflineGraphQLRouter(GraphQLRouter):
    """strawberry's router, rendering our GraphiQL page instead of the CDN one."""

    @property
    def graphql_ide_html(self) -> str:
        return graphiql_page()
