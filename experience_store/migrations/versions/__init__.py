"""experience_store/migrations/versions."""
