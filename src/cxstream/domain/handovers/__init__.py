"""Shift handovers: each team's declared shifts, the handover published at a shift's end (breaches, cases, ladder
steps, silences, the metrics that moved most, what to pick up), its acknowledgement by the incoming shift and the
escalation of one left unacknowledged (docs/thresholds.md, "Shift handovers")."""
