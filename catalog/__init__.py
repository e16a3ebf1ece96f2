"""The framework catalog: shipped YAML data about inference servers, loaded and validated."""

from modeldeploy.catalog.loader import Catalog, FrameworkSpec, ImageSpec, LaunchArg, load_catalog

__all__ = ["Catalog", "FrameworkSpec", "ImageSpec", "LaunchArg", "load_catalog"]
