"""The MCP server for AI agents at /mcp/: tools derived from the resource registry, plus a few task-specific ones.

``http.py`` (auth, scope, the SDK's streamable HTTP transport) -> ``server.py`` (tools/list, tools/call)
-> ``tools.py`` (generic tools) and ``actions.py`` (search, lead_score, log_activity, complete_task).
"""

from geniziz.mcp.http import McpEndpoint, mount

__all__ = ["McpEndpoint", "mount"]
