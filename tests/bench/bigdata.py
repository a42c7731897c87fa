"""The benchmarks' ledger generator, kept under its old name: it lives in the app now as
tracker.demo.generator (also behind `flask demo seed --problems N`); see its docstring."""

from tracker.demo.generator import (
    CHUNK,
    COMPLAINTS,
    analyze,
    describe,
    ensure_inspectors,
    fill,
    load_texts,
    sample_credentials,
    tracking_code,
)

__all__ = [
    "CHUNK",
    "COMPLAINTS",
    "analyze",
    "describe",
    "ensure_inspectors",
    "fill",
    "load_texts",
    "sample_credentials",
    "tracking_code",
]
