"""The inventory import: CSV files, a Drupal config export, or a zip of either."""

from application.inventory.model import (
    InventoryProblem,
    InventoryRejected,
    ParsedInventory,
    UploadedFile,
)
from application.inventory.parse import MAX_FILE_BYTES, parse_inventory

__all__ = [
    "MAX_FILE_BYTES",
    "InventoryProblem",
    "InventoryRejected",
    "ParsedInventory",
    "UploadedFile",
    "parse_inventory",
]
