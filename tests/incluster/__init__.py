"""The in-cluster scripts against the stand-in Stalwart servers."""
