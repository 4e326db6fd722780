"""Scaling across locations: variance across sites (funnel plots, control charts), playbooks with local
adaptation, partner feedback, shared resources and governance."""
