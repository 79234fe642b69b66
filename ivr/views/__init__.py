"""The IVR's webhooks, one module per part of the call."""
