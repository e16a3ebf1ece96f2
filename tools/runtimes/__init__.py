"""Where servers run: Docker containers (primary) and local processes, behind one small contract."""
