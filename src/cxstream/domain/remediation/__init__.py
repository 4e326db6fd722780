"""From root cause to verified fix: root causes as data, driver Paretos, fault trees, FMEA, the remediation
backlog with change control, and the verdict on every fix."""
