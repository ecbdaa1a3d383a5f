"""Built-in models, their datasets, and the registry for your own."""
