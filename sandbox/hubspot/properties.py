"""Properties and property groups endpoints (developers.hubspot.com/docs/api/crm/properties)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.hubspot.backend import numeric_id
from sandbox.hubspot.base import HandlerBase
from sandbox.hubspot.errors import ApiError, validation
from sandbox.hubspot.object_types import JSON
from sandbox.hubspot.params import body_object, bool_param, json_body
from sandbox.hubspot.property_defs import Def
from sandbox.hubspot.schema import VALID_FIELD_TYPES, option, property_json


class PropertyHandlers(HandlerBase):
    """List, read and create properties and property groups."""

    async def list_properties(self, request: Request) -> Response:
        # GET /crm/v3/properties/{objectType}
        object_type = self.object_type(request.path_params["object_type"])
        archived = bool_param(request, "archived")
        with self.store.lock:
            props = self.schema.ensure(object_type)
            results = [p for p in props.values() if bool(p.get("archived")) == archived]
            results = [_property_out(p, self.owners()) for p in results]
        return JSONResponse({"results": results})

    async def get_property(self, request: Request) -> Response:
        # GET /crm/v3/properties/{objectType}/{propertyName}
        object_type = self.object_type(request.path_params["object_type"])
        name = request.path_params["name"]
        with self.store.lock:
            prop = self.schema.ensure(object_type).get(name)
            if prop is None:
                raise ApiError(404, f"Unable to find property {name} for object type {object_type}", "OBJECT_NOT_FOUND")
            out = _property_out(prop, self.owners())
        return JSONResponse(out)

    async def create_property(self, request: Request) -> Response:
        # POST /crm/v3/properties/{objectType} (returns 201; an existing name is a 409 CONFLICT)
        object_type = self.object_type(request.path_params["object_type"])
        body = body_object(await json_body(request))
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            raise validation(f"Invalid input JSON: missing required properties {missing}")
        type_, field_type = body["type"], body["fieldType"]
        if field_type not in VALID_FIELD_TYPES.get(type_, frozenset()):
            raise validation(f"Invalid property definition: fieldType {field_type!r} is not valid for type {type_!r}")
        with self.store.lock:
            props = self.schema.ensure(object_type)
            groups = self.schema.groups.setdefault(object_type, {})
            name = str(body["name"])
            if name in props:
                raise ApiError(409, f"Property named '{name}' already exists.", "CONFLICT")
            if body["groupName"] not in groups:
                raise validation(f"Property group {body['groupName']} does not exist.")
            options = [
                option(str(o.get("value")), str(o.get("label", o.get("value"))), int(o.get("displayOrder", i)))
                for i, o in enumerate(body.get("options") or [])
                if isinstance(o, dict)
            ]
            spec = Def(name, str(body["label"]), type_, field_type, str(body["groupName"]), custom=True)
            prop = property_json(spec, hubspot_defined=False, created_at=self.now(), options=options)
            prop["description"] = str(body.get("description") or "")
            prop["hasUniqueValue"] = bool(body.get("hasUniqueValue", False))
            prop["hidden"] = bool(body.get("hidden", False))
            prop["formField"] = bool(body.get("formField", False))
            if isinstance(body.get("displayOrder"), int):
                prop["displayOrder"] = body["displayOrder"]
            props[name] = prop
            out = _property_out(prop, self.owners())
        return JSONResponse(out, status_code=201)

    async def list_groups(self, request: Request) -> Response:
        # GET /crm/v3/properties/{objectType}/groups
        object_type = self.object_type(request.path_params["object_type"])
        with self.store.lock:
            self.schema.ensure(object_type)
            results = [dict(g) for g in self.schema.groups.get(object_type, {}).values()]
        return JSONResponse({"results": results})

    async def create_group(self, request: Request) -> Response:
        # POST /crm/v3/properties/{objectType}/groups (returns 201; an existing name is a 409 CONFLICT)
        object_type = self.object_type(request.path_params["object_type"])
        body = body_object(await json_body(request))
        if not body.get("name") or not body.get("label"):
            raise validation("Invalid input JSON: a property group needs a name and a label")
        with self.store.lock:
            self.schema.ensure(object_type)
            groups = self.schema.groups.setdefault(object_type, {})
            name = str(body["name"])
            if name in groups:
                raise ApiError(409, f"Property group named '{name}' already exists.", "CONFLICT")
            order = body.get("displayOrder")
            group = {
                "name": name,
                "label": str(body["label"]),
                "displayOrder": order if isinstance(order, int) else -1,
                "archived": False,
            }
            groups[name] = group
        return JSONResponse(dict(group), status_code=201)


def _property_out(prop: Mapping[str, Any], owners: Mapping[str, Any]) -> JSON:
    out = dict(prop)
    out["options"] = [dict(o) for o in prop.get("options", [])]
    if prop.get("name") == "hubspot_owner_id":
        active = sorted((o for o in owners.values() if not o.get("archived")), key=lambda o: numeric_id(str(o["id"])))
        out["options"] = [
            option(str(o["id"]), f"{o.get('firstName', '')} {o.get('lastName', '')}".strip(), i)
            for i, o in enumerate(active)
        ]
    return out
