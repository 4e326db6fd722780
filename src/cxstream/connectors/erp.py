"""ERP documents shaped like SAP S/4HANA OData (API_SALES_ORDER_SRV, API_OUTBOUND_DELIVERY_SRV).

* ``SalesOrder`` -> ORDER_CREATED (promise: ``RequestedDeliveryDate``)
* ``OutboundDelivery`` with ``ProofOfDeliveryDate`` -> ORDER_DELIVERED (promise ``DeliveryDate``, actual POD);
  else with ``ActualGoodsMovementDate`` -> ORDER_GOODS_ISSUED (promise ``PlannedGoodsIssueDate``);
  a delivery that has neither carries nothing yet: zero events.

Every shape the OData services return is read: one entity (``{"d": {...}}`` in OData v2, or bare), a
collection (``{"d": {"results": [...]}}`` in v2, ``{"value": [...]}`` in v4) and a JSON array; the document
type comes from ``DocumentType`` or the entity's own ``__metadata.type`` (``...A_SalesOrderType``,
``...A_OutbDeliveryHeaderType``).

Region and site come from the organisation codes through the declared reference data, the
``sales_organizations`` and ``shipping_points`` tables in ``topologies/connectors.yaml``. A code the tables
do not name gives no region (or site): an organisation code is not a region. The code itself is kept in the
event's attributes (``sales_organization``, ``shipping_point``) and counted in
``cxstream_unmapped_codes_total{source,field}``, so a missing table entry shows.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cxstream.connectors.base import Connector, ConnectorOptions, MappingError, RawContext
from cxstream.connectors.fields import (
    each_item,
    each_record,
    found,
    opt_date_end,
    opt_date_start,
    opt_str,
    opt_time,
    req_str,
)
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation
from cxstream.observability.metrics import UNMAPPED_CODES


class ErpOptions(ConnectorOptions):
    sales_organizations: dict[str, str] = Field(default_factory=dict, description="SalesOrganization -> region")
    shipping_points: dict[str, str] = Field(default_factory=dict, description="ShippingPoint -> site")
    team: str = "logistics"


_SHAPES = (
    "a SalesOrder or OutboundDelivery entity named by DocumentType or __metadata.type, bare or in d, or a "
    "collection of them (d.results, value, or an array)"
)


class SapConnector(Connector):
    name = "erp"
    description = "SAP-shaped sales orders and outbound deliveries (order created, goods issued, delivered)"
    options_model = ErpOptions

    def record_key(self, payload: Any) -> str | None:
        if isinstance(payload, dict):
            for field in ("DeliveryDocument", "SalesOrder"):
                if isinstance(payload.get(field), str):
                    return str(payload[field])
        return None

    def map(self, payload: Any, context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        return each_record(payload, f"an SAP record is {_SHAPES}", lambda r: self._map_object(r, context, raw))

    def _map_object(self, payload: dict[str, Any], context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        doc = payload
        if isinstance(doc.get("d"), dict):  # OData v2 envelope
            doc = doc["d"]
        for collection in ("results", "value"):  # an OData v2 / v4 collection
            if isinstance(doc.get(collection), list):
                where = "d.results" if collection == "results" else "value"
                return each_item(doc[collection], where, lambda item: self.map(item, context, raw))
        kind = opt_str(doc, "DocumentType") or opt_str(doc, "__metadata.type")
        if kind is None:
            raise MappingError(f"an SAP record is {_SHAPES}; {found(doc)}", "required.DocumentType")
        if kind.endswith("SalesOrder") or kind.endswith("A_SalesOrderType"):
            return [self._order(doc, context, raw)]
        if kind.endswith("OutboundDelivery") or kind.endswith("A_OutbDeliveryHeaderType"):
            return self._delivery(doc, context, raw)
        return []

    def _where(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Region, site and team from the reference data; codes it does not name go to the attributes."""
        options = self.options
        assert isinstance(options, ErpOptions)
        org = opt_str(doc, "SalesOrganization")
        point = opt_str(doc, "ShippingPoint")
        region = options.sales_organizations.get(org) if org else None
        site = options.shipping_points.get(point) if point else None
        attributes = {}
        for field, code, mapped in (("sales_organization", org, region), ("shipping_point", point, site)):
            if code is not None:
                attributes[field] = code
                if mapped is None:
                    UNMAPPED_CODES.labels(source=self.name, field=field).inc()
        return {"region": region, "site": site, "team": options.team, "attributes": attributes}

    def _order(self, doc: dict[str, Any], context: RawContext, raw: bytes) -> CanonicalEvent:
        order = req_str(doc, "SalesOrder")
        created = opt_time(doc, "CreationDateTime") or opt_date_start(doc, "CreationDate")
        if created is None:
            raise MappingError("CreationDate or CreationDateTime is required", "required.CreationDate")
        return CanonicalEvent(
            event_id=f"erp:order:{order}:created",
            event_type=EventType.ORDER_CREATED,
            event_time=created,
            ingest_time=context.ingest_time,
            source=self.name,
            source_record_id=order,
            customer_id=opt_str(doc, "SoldToParty"),
            channel=opt_str(doc, "DistributionChannelName", lower=True),
            journey_stage="purchase",
            touchpoint="order_fulfilment",
            operation=Operation(
                order_id=order,
                status=opt_str(doc, "OverallSDProcessStatus"),
                created_at=created,
                promised_at=opt_date_end(doc, "RequestedDeliveryDate"),
            ),
            raw_payload=raw,
            **self._where(doc),
        )

    def _delivery(self, doc: dict[str, Any], context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        delivery = req_str(doc, "DeliveryDocument")
        delivered = opt_time(doc, "ProofOfDeliveryDate")
        issued = opt_date_start(doc, "ActualGoodsMovementDate")
        if delivered is not None:
            kind, when, promised, suffix = EventType.ORDER_DELIVERED, delivered, "DeliveryDate", "delivered"
            stage, touchpoint = "delivery", "delivery"
        elif issued is not None:
            kind, when, promised, suffix = EventType.ORDER_GOODS_ISSUED, issued, "PlannedGoodsIssueDate", "goods_issued"
            stage, touchpoint = "fulfilment", "order_fulfilment"
        else:
            return []
        return [
            CanonicalEvent(
                event_id=f"erp:delivery:{delivery}:{suffix}",
                event_type=kind,
                event_time=when,
                ingest_time=context.ingest_time,
                source=self.name,
                source_record_id=delivery,
                customer_id=opt_str(doc, "SoldToParty") or opt_str(doc, "ShipToParty"),
                journey_stage=stage,
                touchpoint=touchpoint,
                operation=Operation(
                    order_id=opt_str(doc, "ReferenceSDDocument"),
                    delivery_id=delivery,
                    status=opt_str(doc, "OverallGoodsMovementStatus"),
                    created_at=opt_time(doc, "CreationDateTime") or opt_date_start(doc, "CreationDate"),
                    promised_at=opt_date_end(doc, promised),
                    actual_at=when,
                ),
                raw_payload=raw,
                **self._where(doc),
            )
        ]
