"""Writing poems: one sampling-settings type, the key-value-cached decoding loop, poem and line selection."""
