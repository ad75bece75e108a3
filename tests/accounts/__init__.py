"""Service accounts: generated passwords, the reconciler Job, consumers' Secrets and restarts."""
