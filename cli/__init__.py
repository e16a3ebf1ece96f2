"""The `modeldeploy` command line."""
