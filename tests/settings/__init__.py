"""Settings: every refusal, the generation record, the readers."""
