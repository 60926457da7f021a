"""HubSpot CRM v3/v4 stand-in: serves ``world.hubspot`` with the paths, shapes, limits and errors of api.hubapi.com.

It is driven by the real ``hubspot-api-client`` in tests, demos and benchmarks, so every response
has the shape the generated models require, and the behaviours that bite real integrations are
reproduced on purpose (developers.hubspot.com/docs/api/crm/search, .../crm/understanding-the-crm):

- every object type upsync reads has a property schema: types,
  enumeration options, ``contract_end_date`` as a date, ``health_rollup`` as a *calculated*
  number (read-only, changes without moving ``hs_lastmodifieddate``), contacts' ``lastmodifieddate``
  and engagements' ``hs_createdate``;
- associations use HubSpot's HUBSPOT_DEFINED type ids (:data:`ASSOCIATION_TYPES`), read from
  either side; a primary or parent/child association also reports its unlabeled twin, as
  HubSpot does; v4 batch reads take at most 1,000 inputs and page long association lists;
- search pages hold at most 200 rows, hide archived objects, report an exact ``total`` and answer
  400 once ``after + limit`` passes 10,000 (``app.state.search_cap``), while ``paging.next``
  keeps pointing there;
- archiving sets ``archived``/``archivedAt`` but leaves ``hs_lastmodifieddate`` alone, so deletes
  are invisible to a modified-since search;
- batch writes are capped at 100 inputs (a batch read asking for ``propertiesWithHistory`` at
  50); a batch create with one bad input fails whole (400 ``VALIDATION_ERROR``) unless every
  input carries an ``objectWriteTraceId``, in which case the good inputs are created and the bad
  ones come back in a 207 multi-status;
- bearer tokens are checked against ``world.auth["hubspot"]`` (:class:`sandbox.world.AuthState`):
  an unknown token is 401 ``INVALID_AUTHENTICATION``, a token that used to work (after
  ``AuthState.expire()`` or past its ``expires_in``) is 401 ``EXPIRED_AUTHENTICATION``;
  ``POST /oauth/v1/token`` trades the refresh token for a new access token;
- rate-limit headers are on every response; enforcement (429 with HubSpot's body) is off until a
  test sets ``app.state.limits = HubSpotLimits(...)``, which also decides whether 429s carry a
  ``Retry-After`` (HubSpot sends it on some 429s and not on others);
- an update that changes no value changes nothing: no history entry, no new modstamp.

Settings live on ``app.state``: ``limits`` (``HubSpotLimits | None``, default ``None`` = not
enforced), ``rate`` (the counters: ``app.state.rate.reset()``, ``.consume_daily(n)``),
``search_cap`` (10,000), ``search_lag_seconds`` (0: how long a new object stays out of search
results, as HubSpot's search index trails writes), ``token_expires_in`` (``None``: tokens issued by
the token endpoint live until ``AuthState.expire()``; ``N``: they expire N seconds of ``world.now()`` after issue),
``association_page_size`` (500 targets per object in a v4 read), ``embedded_association_limit``
(100 per type in a v3 object's ``associations``) and ``search_index_min`` (50,000: tables this
big are searched through a modified-date index, smaller ones by a full pass).

Test helpers change the world the way HubSpot itself would: :func:`archive`/:func:`restore`,
:func:`mass_update` (one identical modstamp on thousands of objects), :func:`recalculate` (a
calculated property changes, the modstamp does not), :func:`associate`, :func:`edit_as_user`
(a person's edit, history ``CRM_UI``), :func:`refuse_items` (one input of a batch write refused)
and :func:`remove_property`/:func:`remove_group` (a portal without upsync's properties). Tests may
also change ``world.hubspot`` directly. What the stand-in keeps besides the store notices that:
the sorted ids of the list endpoint and the reverse association index follow added and removed
objects and association keys; search passes over every object of tables under
``search_index_min`` (comparing canonical ISO timestamps as strings), so it sees any edit. Only
two direct edits need :func:`invalidate`: moving an object's modified date *into* a search window
in place on a big table, and appending to an association list already indexed (use
:func:`associate` instead).

Every store access holds ``world.hubspot.lock``.
"""

from sandbox.hubspot.app import create_hubspot_app
from sandbox.hubspot.association_types import ASSOCIATION_TYPES, AssociationType
from sandbox.hubspot.edits import (
    archive,
    associate,
    edit_as_user,
    invalidate,
    mass_update,
    recalculate,
    refuse_items,
    remove_group,
    remove_property,
    restore,
)
from sandbox.hubspot.rate_limits import HubSpotLimits, RateCounters
from sandbox.hubspot.sizes import API_SOURCE_ID, HISTORY_BATCH_MAX

__all__ = [
    "API_SOURCE_ID",
    "ASSOCIATION_TYPES",
    "HISTORY_BATCH_MAX",
    "AssociationType",
    "HubSpotLimits",
    "RateCounters",
    "archive",
    "associate",
    "create_hubspot_app",
    "edit_as_user",
    "invalidate",
    "mass_update",
    "recalculate",
    "refuse_items",
    "remove_group",
    "remove_property",
    "restore",
]
