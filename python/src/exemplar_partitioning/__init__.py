"""Exemplar Partitioning dictionaries from Python.

    import exemplar_partitioning as ep
    d = ep.load("out/smollm2-L15-p2")          # center, threshold, exemplar/mean directions, counts, contexts …
    a = d.assign(x)                            # a.region, a.distance, a.within_threshold — as `ep assign`
    weights = d.to_saelens_state_dict()        # the tensors of `ep export --format saelens`
    d = ep.build("acts.npy", output="dict", percentile=2)   # runs the `ep` executable (EP_BINARY or PATH)
"""
from .cli import EPError, EPNotFoundError, activations, build, find_ep, report, run
from .dictionary import (Assignment, Contexts, Dictionary, DictionaryFormatError, References, load)

__version__ = "0.1.0"

__all__ = [
    "Assignment", "Contexts", "Dictionary", "DictionaryFormatError", "EPError", "EPNotFoundError", "References",
    "activations", "build", "find_ep", "load", "report", "run",
]
