"""The Stalwart server component for both generations, checked against the vendored schemas."""
