"""The program simulator: the real flows over simulated weeks, synthetic people, invariants after every run.

``clock`` (when each flow runs), ``people`` (synthetic behaviour and ground truth), ``faults`` (the simulator's
connectors and fault injection), ``query`` (read-only views of the store and output files), ``invariants``
(the checks), ``metrics`` (weekly figures, the lead's minutes), ``run`` (the loop), ``report`` (table, chart,
JSON). See docs/simulator.md.
"""
