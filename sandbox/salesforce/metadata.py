"""sObject and field describes (REST API Developer Guide › sObject Describe), and field builders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce import soql


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldSpec:
    """One field as ``describe`` reports it, plus the default a create fills in."""

    name: str
    type: str
    label: str
    length: int = 0
    external_id: bool = False
    unique: bool = False
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: Any = None
    reference_to: tuple[str, ...] = ()
    formula: str | None = None  # a formula field: calculated on read, never written through the API
    precision: int = 0
    scale: int = 0

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def calculated(self) -> bool:
        return self.formula is not None

    def describe(self) -> dict[str, Any]:
        text = self.type in soql.STRING_TYPES
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "soapType": SOAP_TYPES.get(self.type, "xsd:string"),
            "length": self.length,
            "byteLength": self.length * 3 if text else 18 if self.type in ("id", "reference") else 0,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 9 if self.type == "int" else 0,
            "custom": self.custom,
            "calculated": self.calculated,
            "calculatedFormula": self.formula,
            "autoNumber": False,
            "caseSensitive": False,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.type == "id" or self.external_id,
            "nameField": self.name == "Name",
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.nillable,
            "defaultValue": None if self.name in SYSTEM_SET else self.default,
            "defaultedOnCreate": self.default is not None or self.name in SYSTEM_SET,
            "filterable": self.type != "textarea",
            "groupable": self.type not in ("textarea", "double", "currency", "percent", "datetime"),
            "sortable": self.type != "textarea",
            "restrictedPicklist": self.restricted,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": value == self.default,
                    "label": value,
                    "value": value,
                    "validFor": None,
                }
                for value in self.picklist
            ],
            "referenceTo": list(self.reference_to),
            "relationshipName": self.name[:-2] if self.type == "reference" and self.name.endswith("Id") else None,
            "polymorphicForeignKey": len(self.reference_to) > 1,
        }


@dataclass(frozen=True, kw_only=True)
class SObjectSpec:
    """An sObject's describe: its key prefix (first three characters of its Ids) and fields."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[FieldSpec, ...]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    by_name: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)
    by_lower: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        object.__setattr__(self, "by_lower", {f.name.lower(): f for f in self.fields})

    def summary(self, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label_plural,
            "keyPrefix": self.key_prefix,
            "custom": False,
            "createable": self.createable,
            "updateable": self.updateable,
            "deletable": self.deletable,
            "queryable": True,
            "retrieveable": True,
            "replicateable": True,
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        }


SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
# Fields the platform sets itself on create (describe reports them as defaultedOnCreate).
SYSTEM_SET = frozenset(
    {"Id", "OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"}
)


def text_field(name: str, label: str, length: int, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type="string", label=label, length=length, **kw)


def reference_field(name: str, label: str, *targets: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type="reference", label=label, length=18, reference_to=targets, **kw)


def number_field(
    name: str, label: str, type_: str = "double", *, precision: int = 18, scale: int = 2, **kw: Any
) -> FieldSpec:
    return FieldSpec(name=name, type=type_, label=label, precision=precision, scale=scale, **kw)


def picklist_field(name: str, label: str, values: tuple[str, ...], **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type="picklist", label=label, length=kw.pop("length", 255), picklist=values, **kw)


def system_field(name: str, label: str, type_: str, *, length: int = 0, **kw: Any) -> FieldSpec:
    length = 18 if type_ in ("id", "reference") else length
    return FieldSpec(name=name, type=type_, label=label, length=length, createable=False, updateable=False, **kw)


def audit_fields() -> tuple[FieldSpec, ...]:
    return (
        system_field("CreatedDate", "Created Date", "datetime", nillable=False),
        system_field("CreatedById", "Created By ID", "reference", nillable=False, reference_to=("User",)),
        system_field("LastModifiedDate", "Last Modified Date", "datetime", nillable=False),
        system_field("LastModifiedById", "Last Modified By ID", "reference", nillable=False, reference_to=("User",)),
        system_field("SystemModstamp", "System Modstamp", "datetime", nillable=False),
        system_field("IsDeleted", "Deleted", "boolean", nillable=False, default=False),
    )
