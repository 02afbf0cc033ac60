"""boothai core: domain, pipeline, ports and adapters, providers. No web framework here."""
