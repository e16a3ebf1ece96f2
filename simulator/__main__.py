"""`python3 -m simulator ARGS...` (inside the image) or `python -m modeldeploy.simulator ARGS...`."""

from .server import main

raise SystemExit(main())
