"""Durable background work: jobs recorded in the database in the transaction of the change that causes
them, claimed under a lease by workers (`geniziz worker`, or inside `geniziz serve` on SQLite)."""

from geniziz.worker.registry import enqueue, job_handler, periodic

__all__ = ["enqueue", "job_handler", "periodic"]
