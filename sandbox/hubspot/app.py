"""The HubSpot stand-in app: routes, exception handlers, settings and the gate."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.routing import Route

from sandbox.hubspot.associations import AssociationHandlers
from sandbox.hubspot.batch import BatchHandlers
from sandbox.hubspot.errors import ApiError, api_error_handler, http_error_handler
from sandbox.hubspot.gate import Gate
from sandbox.hubspot.oauth import OAuthHandlers
from sandbox.hubspot.objects import ObjectHandlers
from sandbox.hubspot.owners import OwnerHandlers
from sandbox.hubspot.properties import PropertyHandlers
from sandbox.hubspot.rate_limits import RateCounters
from sandbox.hubspot.search import SearchHandlers
from sandbox.hubspot.sizes import ASSOCIATION_PAGE_SIZE, EMBEDDED_ASSOCIATION_LIMIT, SEARCH_CAP, SEARCH_INDEX_MIN
from sandbox.world import World


class _Api(
    ObjectHandlers, BatchHandlers, SearchHandlers, PropertyHandlers, AssociationHandlers, OAuthHandlers, OwnerHandlers
):
    """The route handlers over one world; every store access holds ``world.hubspot.lock``."""


def create_hubspot_app(world: World) -> Starlette:
    """The HubSpot stand-in over ``world``; see the package docstring for ``app.state`` settings."""
    state = State()
    api = _Api(world, state)
    objects = "/crm/v3/objects/{object_type}"
    routes = [
        Route("/oauth/v1/token", api.oauth_token, methods=["POST"]),
        Route(objects, api.list_objects, methods=["GET"]),
        Route(objects, api.create_one, methods=["POST"]),
        Route(f"{objects}/search", api.search, methods=["POST"]),
        Route(f"{objects}/batch/create", api.batch_create, methods=["POST"]),
        Route(f"{objects}/batch/update", api.batch_update, methods=["POST"]),
        Route(f"{objects}/batch/read", api.batch_read, methods=["POST"]),
        Route(f"{objects}/batch/archive", api.batch_archive, methods=["POST"]),
        Route(objects + "/{object_id}", api.get_object, methods=["GET"]),
        Route(objects + "/{object_id}", api.update_one, methods=["PATCH"]),
        Route(objects + "/{object_id}", api.archive_one, methods=["DELETE"]),
        Route("/crm/v3/properties/{object_type}", api.list_properties, methods=["GET"]),
        Route("/crm/v3/properties/{object_type}", api.create_property, methods=["POST"]),
        Route("/crm/v3/properties/{object_type}/groups", api.list_groups, methods=["GET"]),
        Route("/crm/v3/properties/{object_type}/groups", api.create_group, methods=["POST"]),
        Route("/crm/v3/properties/{object_type}/{name}", api.get_property, methods=["GET"]),
        Route("/crm/v4/associations/{from_type}/{to_type}/batch/read", api.associations_batch_read, methods=["POST"]),
        Route("/crm/v4/objects/{object_type}/{object_id}/associations/{to_type}", api.associations_of, methods=["GET"]),
        Route("/crm/v3/owners", api.list_owners, methods=["GET"]),
        Route("/crm/v3/owners/", api.list_owners, methods=["GET"]),
        Route("/crm/v3/owners/{owner_id}", api.get_owner, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: api_error_handler, HTTPException: http_error_handler},
    )
    app.state = state
    state.limits = None
    state.search_cap = SEARCH_CAP
    state.search_lag_seconds = 0.0
    state.rate = RateCounters()
    state.token_expires_in = None
    state.association_page_size = ASSOCIATION_PAGE_SIZE
    state.embedded_association_limit = EMBEDDED_ASSOCIATION_LIMIT
    state.search_index_min = SEARCH_INDEX_MIN
    app.add_middleware(Gate, world=world, state=state, tokens=api.backend.tokens)
    return app
