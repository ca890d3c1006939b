"""Writing poems: one sampling-settings type, the key-value-cached decoding loop, the form decoder (form/), poem and line selection."""
