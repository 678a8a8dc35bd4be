"""HTTP conventions shared by every resource: errors, auth, rate limits, lists, the resource registry."""
