"""Treatment centers, support groups and resources: import, ZIP geocoding, search."""
