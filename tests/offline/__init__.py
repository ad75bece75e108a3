"""The offline render: its files, leaks, timeouts and the deploy identity's RBAC."""
