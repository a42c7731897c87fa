"""The benchmarks' ledger generator, kept under its old name: it lives in the app now as
tracker.demo.generator (also behind `flask demo seed --problems N`); see its docstring and __all__."""

from tracker.demo.generator import *  # noqa: F403
