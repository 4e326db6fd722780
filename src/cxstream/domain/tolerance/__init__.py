"""Customer tolerance and thresholds from data: how satisfaction falls with an operational value (delivery
delay, first response, resolution), where customers stop tolerating it, and warning, critical and SLA levels
proposed from a scope's history and that tolerance, as a reviewed change to the YAML (docs/thresholds.md)."""
