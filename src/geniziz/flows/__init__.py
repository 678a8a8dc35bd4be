"""Flows: work that spans several domains, one module each (e.g. ``merge.py``, ``move.py``, ``imports.py``).

A flow (merging two leads, moving a lead to another workspace, importing a file) reads and writes
records of several domains in one unit of work. It calls each domain's service, never their
models directly, and holds the order of steps and what must be locked first; the business rules
stay in the services. Domains never import flows. The flows' actions (``POST /lead/merge/``,
``POST /lead/{id}/move/``, an import's errors) are declared in ``flows/actions.py``, their jobs in
``flows/jobs.py``, their resources (import, export, bulk_action) in ``flows/resources.py``; what belongs
to a lead is read from the schema by ``flows/graph.py``.
Like actions, flows never commit: the caller's unit of work does.
"""
