"""Air-gap bundles: models and presets carried in one file (`service.py`) and the file's format (`format.py`)."""

from .format import BundleManifest, InvalidBundle
from .service import ImportReport, export_bundle, import_bundle, inspect_bundle, plan_bundle

__all__ = ["BundleManifest", "ImportReport", "InvalidBundle", "export_bundle", "import_bundle", "inspect_bundle",
           "plan_bundle"]
