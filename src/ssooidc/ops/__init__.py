"""Operating an instance: backups of the store, the environment reference."""
