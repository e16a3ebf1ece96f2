"""Graph nodes: each reads typed state and returns a partial update."""
