"""The shape of each key by area: one module per part of the system the keys configure."""
