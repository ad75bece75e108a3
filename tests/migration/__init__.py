"""make import-plan and make upgrade-export."""
