"""Test harness: stand-ins, topic readers, isolated pipeline runs, alerts receivers.

Imported by tests only (``from support.pipeline import PipelineRun``); product code never
imports it (tests/unit/test_layers.py checks both).
"""
