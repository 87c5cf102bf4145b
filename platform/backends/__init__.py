"""Optional compute backends (compatibility shims for third-party graph libraries)."""
