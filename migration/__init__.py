"""Moving the running system in: the OpenTofu import plan and the v0.15 export for the upgrade."""
