"""seekerlite."""
