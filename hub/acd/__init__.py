"""The call center's automatic call distribution: queues as data (``config``), the agent state
machine (``agents``), the routing engine driven by events (``engine``, ``strategies``), the queue
log (``queue_log``) and what is derived from it (``callbacks``, ``kpi``), staffing (``erlang``),
quality assurance (``ahp``, ``fuzzy``, ``qa``) and shift operations (``shifts``).

The engine is pure: the telephony service (or a simulation) feeds it events with times from an
injected clock and carries out the actions it returns; docs/callcenter.md is the contract.
"""
