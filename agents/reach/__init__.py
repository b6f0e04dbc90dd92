"""The agent's reach: MCP servers, per-tool approvals and users' secrets."""
