"""Authentik forward auth: the dynamic resources against a stand-in that behaves as the API does."""
