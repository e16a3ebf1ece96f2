"""Publish endpoints to a gateway so that existing clients reach new models."""
