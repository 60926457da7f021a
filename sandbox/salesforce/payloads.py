"""Request bodies read and REST records written: field lists, external ids, typed records."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sandbox.salesforce import soql
from sandbox.salesforce.errors import ApiError, RecordError, no_such_column, not_found, too_many
from sandbox.salesforce.metadata import FieldSpec, SObjectSpec
from sandbox.salesforce.settings import MAX_COLLECTION_RECORDS
from sandbox.salesforce.values import coerce


def rest_records(
    spec: SObjectSpec, fields: Sequence[str], rows: Iterable[tuple[Any, ...]], base: str
) -> list[dict[str, Any]]:
    """REST records: ``attributes`` then the fields in the order asked; number fields as JSON doubles."""
    url = f"{base}/sobjects/{spec.name}/"
    doubles = [i + 1 for i, name in enumerate(fields) if spec.by_name[name].type in soql.NUMBER_TYPES - {"int"}]
    records = []
    for row in rows:
        values = list(row)
        for i in doubles:
            value = values[i]
            if isinstance(value, int) and not isinstance(value, bool):
                values[i] = float(value)
        record: dict[str, Any] = {"attributes": {"type": spec.name, "url": f"{url}{values[0]}"}}
        record.update(zip(fields, values[1:], strict=True))
        records.append(record)
    return records


def json_object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize the request body: a JSON object was expected")
    return payload


def parse_values(
    spec: SObjectSpec, raw: Mapping[str, Any], removed: Collection[tuple[str, str]] = ()
) -> dict[str, Any]:
    """The fields of one record body, by canonical name and coerced; ``attributes`` is skipped.

    An unknown field (or one in ``removed``) or an undeserializable value fails the whole
    request, as in Salesforce (the body is deserialized before any record is saved).
    """
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "attributes":
            continue
        spec_field = spec.by_lower.get(key.lower())
        if spec_field is not None and (spec.name, spec_field.name) in removed:
            spec_field = None
        if spec_field is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {spec.name}")
        values[spec_field.name] = coerce(spec_field, value)
    return values


def collection_body(payload: Any) -> tuple[bool, list[dict[str, Any]]]:
    body = json_object(payload)
    records = body.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ApiError(400, "JSON_PARSER_ERROR", "records must be a list of JSON objects")
    if len(records) > MAX_COLLECTION_RECORDS:
        raise too_many(MAX_COLLECTION_RECORDS)
    all_or_none = body.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise ApiError(400, "JSON_PARSER_ERROR", "allOrNone must be a boolean")
    return all_or_none, records


def typed_records(
    records: Iterable[dict[str, Any]], by_lower: Mapping[str, SObjectSpec]
) -> Iterable[tuple[SObjectSpec, dict[str, Any]]]:
    """Each record with the sObject named in its ``attributes.type`` (required in Collections)."""
    for raw in records:
        attributes = raw.get("attributes")
        name = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(name, str) or not name:
            raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
        spec = by_lower.get(name.lower())
        if spec is None:
            raise ApiError(
                400,
                "INVALID_TYPE",
                f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
                "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            )
        yield spec, raw


def field_list(spec: SObjectSpec, param: str | None) -> tuple[str, ...]:
    """Canonical names of a ``fields=a,b`` parameter; every field when absent."""
    if not param:
        return tuple(f.name for f in spec.fields)
    names: list[str] = []
    for raw in param.split(","):
        name = raw.strip()
        spec_field = spec.by_lower.get(name.lower())
        if spec_field is None:
            raise no_such_column(name, spec)
        if spec_field.name not in names:
            names.append(spec_field.name)
    return tuple(names)


def external_field(spec: SObjectSpec, name: str) -> FieldSpec:
    spec_field = spec.by_lower.get(name.lower())
    if spec_field is None:
        raise not_found(f"Provided external ID field does not exist or is not accessible: {name}")
    if not spec_field.external_id:
        raise ApiError(
            400, "INVALID_FIELD", f"Field {spec_field.name} is not an External ID field on {spec.name}", fields=[name]
        )
    return spec_field


def row_missing(error: RecordError) -> ApiError:
    if error.status_code == "ENTITY_IS_DELETED":
        return ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
    return not_found()
