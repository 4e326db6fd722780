"""Workforce aligned with CX: queues, handle time, Erlang C/A staffing, forecasts and scorecards."""
