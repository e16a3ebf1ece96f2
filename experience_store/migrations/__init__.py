"""experience_store/migrations."""
