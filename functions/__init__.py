"""HTTP entry points, one module per function: parse, authenticate, call the core, shape the
response. Each module's `router` is mounted by `boothai serve`; its `handler` runs it on Lambda."""
