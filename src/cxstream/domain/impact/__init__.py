"""Lasting impact: experiments with control groups, seasonality- and control-adjusted effects of changes."""
