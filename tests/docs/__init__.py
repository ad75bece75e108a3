"""The manual: generated pages are current."""
