"""HTTP routes of agent protocols: MCP, A2A, FIPA ACL and KQML, LangChain, detection."""
