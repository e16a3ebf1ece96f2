"""The tools, one module per toolkit; each module defines `TOOLKIT` (see `modeldeploy.mcp_server.registry`)."""
