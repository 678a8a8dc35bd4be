"""Flows: work that spans several domains, one module each (e.g. ``merge.py``, ``move.py``, ``imports.py``).

A flow (merging two leads, moving a lead to another workspace, importing a file) reads and writes
records of several domains in one unit of work. It calls each domain's service, never their
models directly, and holds the order of steps and what must be locked first; the business rules
stay in the services. Domains never import flows. A flow's ``Action`` is declared in the
``actions.py`` of the domain whose path it lives under (``POST /lead/merge/`` in ``leads/actions.py``).
Like actions, flows never commit: the caller's unit of work does.
"""
