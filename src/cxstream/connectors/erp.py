"""ERP documents shaped like SAP S/4HANA OData (API_SALES_ORDER_SRV, API_OUTBOUND_DELIVERY_SRV).

* ``SalesOrder`` -> ORDER_CREATED (promise: ``RequestedDeliveryDate``)
* ``OutboundDelivery`` with ``ProofOfDeliveryDate`` -> ORDER_DELIVERED (promise ``DeliveryDate``, actual POD);
  else with ``ActualGoodsMovementDate`` -> ORDER_GOODS_ISSUED (promise ``PlannedGoodsIssueDate``);
  a delivery that has neither carries nothing yet: zero events.

Region and site come from the organisation codes through the ``sales_organizations`` and
``shipping_points`` tables in ``topologies/connectors.yaml``; unknown codes are kept lower-cased.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cxstream.connectors.base import Connector, ConnectorOptions, MappingError, RawContext
from cxstream.connectors.fields import need_object, opt_date_end, opt_date_start, opt_str, opt_time, req_str
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation


class ErpOptions(ConnectorOptions):
    sales_organizations: dict[str, str] = Field(default_factory=dict, description="SalesOrganization -> region")
    shipping_points: dict[str, str] = Field(default_factory=dict, description="ShippingPoint -> site")
    team: str = "logistics"


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
        doc = need_object(payload)
        if isinstance(doc.get("d"), dict):  # OData v2 envelope
            doc = doc["d"]
        kind = opt_str(doc, "DocumentType") or opt_str(doc, "__metadata.type")
        if kind is None:
            raise MappingError("DocumentType is required (SalesOrder or OutboundDelivery)", "required.DocumentType")
        if kind.endswith("SalesOrder") or kind.endswith("A_SalesOrderType"):
            return [self._order(doc, context, raw)]
        if kind.endswith("OutboundDelivery") or kind.endswith("A_OutbDeliveryHeaderType"):
            return self._delivery(doc, context, raw)
        return []

    def _where(self, doc: dict[str, Any]) -> dict[str, str | None]:
        options = self.options
        assert isinstance(options, ErpOptions)
        org = opt_str(doc, "SalesOrganization")
        point = opt_str(doc, "ShippingPoint")
        return {
            "region": options.sales_organizations.get(org, org.lower()) if org else None,
            "site": options.shipping_points.get(point, point.lower()) if point else None,
            "team": options.team,
        }

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
