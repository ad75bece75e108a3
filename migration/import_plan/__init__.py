"""make import-plan: an OpenTofu state read, its resources recognised, the pulumi import file
written."""
